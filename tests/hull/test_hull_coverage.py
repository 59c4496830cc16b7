"""Hull coverage on every score: known composition, known binaries, known composition or absent."""

from __future__ import annotations

from genflow.hull import ReferenceHull, load_hull
from genflow.hull.coverage import ABSENT_COMPOSITION, KNOWN_COMPOSITION, thin_binaries


def test_every_score_says_what_the_reference_covers():
    hull = ReferenceHull(
        ["Li", "Fe", "O", "Li2O", "Fe2O3"], [-1.9, -8.3, -4.9, -4.8, -6.7], name="toy"
    )
    fe2o3, lifeo2, lio = hull.score(["Fe4O6", "LiFeO2", "LiO"], [-7.0, -6.0, -5.0])
    assert fe2o3.composition_known and fe2o3.novelty == KNOWN_COMPOSITION
    assert fe2o3.binaries_known == {"Fe-O": True}
    assert not lifeo2.composition_known and lifeo2.novelty == ABSENT_COMPOSITION
    assert lifeo2.binaries_known == {"Fe-Li": False, "Fe-O": True, "Li-O": True}
    assert lio.novelty == ABSENT_COMPOSITION and lio.binaries_known == {"Li-O": True}
    assert fe2o3.as_row()["novelty"] == KNOWN_COMPOSITION


def test_bundled_snapshot_has_no_mg_o_binary():
    """GNoME's snapshot has no Mg-O compound at all: MgO's composition is absent, in an empty
    binary. The full mp2021 holds MP's hull energy at MgO as a derived hull point (an MP
    material, mp-549706, exists at that composition), so there it is a known composition."""
    mgo, sio2 = load_hull("mp2021-snapshot").score(["MgO", "SiO2"], [-6.0, -8.0])
    assert mgo.binaries_known == {"Mg-O": False} and mgo.novelty == ABSENT_COMPOSITION
    assert sio2.binaries_known == {"O-Si": True} and sio2.novelty == KNOWN_COMPOSITION
    [mgo] = load_hull("mp2021").score(["MgO"], [-6.0])
    assert mgo.binaries_known == {"Mg-O": True} and mgo.novelty == KNOWN_COMPOSITION


def test_thin_coverage_names_the_binary_data_left_out():
    """``coverage: thin`` on bundled systems: the bundled hull has no Yb–N and no Ge–Mg
    compound (GNoME's snapshot lacks those families, MP-20 has no row there), while Yb–Se has
    MP-20 rows; Li–Mn (two metals) has no compound in MP either, and says nothing."""
    hull = load_hull("mp2021")
    ybn, mg2ge, ybse, limno2, ybno3 = hull.score(
        ["YbN", "Mg2Ge", "YbSe", "LiMnO2", "Yb(NO3)3"], [-5.0, -2.5, -5.0, -6.0, -5.0]
    )
    assert (ybn.coverage, ybn.coverage_missing) == ("thin", ["no binary N–Yb compound in mp2021"])
    assert mg2ge.coverage_missing == ["no binary Ge–Mg compound in mp2021"]
    assert (ybse.coverage, ybse.coverage_missing) == ("ok", [])  # with coverage: Yb–Se rows
    assert limno2.coverage == "ok" and limno2.binaries_known["Li-Mn"] is False
    assert ybno3.coverage == "thin" and ybno3.coverage_missing == ybn.coverage_missing
    assert hull.score(["YbN"], [float("nan")])[0].coverage is None  # failed rows: no claim


def test_thin_binaries_counts_former_non_former_pairs_only():
    systems = {("O", "Yb"), ("Ge",), ("Mg",)}
    assert thin_binaries(["Yb", "O"], systems, "toy") == []
    assert thin_binaries(["Mg", "Ge", "O"], systems, "toy") == [
        "no binary Ge–Mg compound in toy",
        "no binary Mg–O compound in toy",
    ]  # Ge–O: two formers, left out
    assert thin_binaries(["Fe", "Ag"], systems) == []  # two metals
