"""Hull coverage on every score: known composition, known binaries, known composition or absent."""

from __future__ import annotations

from genflow.hull import ReferenceHull, load_hull
from genflow.hull.coverage import ABSENT_COMPOSITION, KNOWN_COMPOSITION


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
