"""One energy scale: PBE_54 POTCAR energies are moved onto MP's scale before scoring."""

from __future__ import annotations

import pytest
from pymatgen.entries.computed_entries import ComputedEntry
from verdict_data import gated, rocksalt

from genflow.hull import ReferenceHull, load_hull
from genflow.hull.scheme import GNOME_PP_CORRECTIONS, pp_offsets, to_potcar_scale
from genflow.workflows.energies import mp_compatible_energy
from genflow.workflows.score import record_and_score, relax_doc

MG_PBE54 = "PAW_PBE Mg_pv 13Apr2007"  # hull.scheme.NEWER_PAW_POTCARS["Mg"].new_titel
MG_MP = "PAW_PBE Mg_pv 06Sep2000"
O_MP = "PAW_PBE O 08Apr2002"
E_MP = -6.0  # uncorrected eV/atom of the MP-scale run


def _entry(mg_titel: str, energy_per_atom: float) -> ComputedEntry:
    params = {
        "run_type": "GGA",
        "is_hubbard": False,
        "hubbards": {},
        "potcar_spec": [{"titel": mg_titel, "hash": None}, {"titel": O_MP, "hash": None}],
    }
    return ComputedEntry("Mg4O4", energy_per_atom * 8, parameters=params)


def test_offsets_follow_eq_pp():
    assert pp_offsets("MgO") == {"Mg": pytest.approx(GNOME_PP_CORRECTIONS["Mg"] / 2)}
    assert pp_offsets("NaCl", elements=["Mg"]) == {}
    assert to_potcar_scale(-5.0, "MgO", "mp") == -5.0
    assert to_potcar_scale(-5.0, "MgO", "gnome") == pytest.approx(-5.0 + 0.0924014 / 2)
    with pytest.raises(ValueError, match="POTCAR scale"):
        to_potcar_scale(-5.0, "MgO", "pbe64")


def test_pbe54_mg_scores_the_same_as_mp_scale():
    """The same physics on PBE_54 Mg_pv (GNoME scale, +δ_Mg/2 eV/atom) and on MP's Mg_pv."""
    shift = GNOME_PP_CORRECTIONS["Mg"] / 2
    on_mp = mp_compatible_energy(_entry(MG_MP, E_MP), "vasp")
    on_54 = mp_compatible_energy(_entry(MG_PBE54, E_MP + shift), "vasp")
    assert on_mp.potcar_scale == "mp" and on_mp.pp_offsets == {}
    assert on_54.potcar_scale == "gnome"
    assert on_54.pp_offsets == {"Mg": pytest.approx(shift)}
    assert on_54.mp_compatible and on_54.energy_per_atom == pytest.approx(on_mp.energy_per_atom)

    doc = relax_doc("vasp", _entry(MG_PBE54, E_MP + shift), "t1", ["t1"])
    assert doc.potcar_scale == "gnome" and doc.pp_offsets == {"Mg": pytest.approx(shift)}
    hull = load_hull("mp2021")
    s_mp, s_54 = hull.score(["MgO", "MgO"], [on_mp.energy_per_atom, doc.energy_per_atom])
    assert s_54.e_d == pytest.approx(s_mp.e_d, abs=1e-12)


def test_scored_through_the_score_job_on_both_hull_scales(stores, tmp_path, monkeypatch):
    """record_and_score: the stored relax says its scale; a GNoME-scale hull gives the same E_d."""
    import genflow.hull.loaders as loaders

    mp = load_hull("mp2021")
    rows = mp.rows_in(["Mg", "O"])
    gnome_scale = ReferenceHull(
        [mp.formula(r) for r in rows],
        [to_potcar_scale(mp.energies[r], mp.formula(r), "gnome") for r in rows],
        name="mgo-gnome-scale",
        potcar_scale="gnome",
    )
    real = loaders.load_hull
    monkeypatch.setattr(
        loaders, "load_hull", lambda n: gnome_scale if n == "mgo-gnome-scale" else real(n)
    )
    import genflow.hull as hull_pkg

    monkeypatch.setattr(hull_pkg, "load_hull", loaders.load_hull, raising=False)
    shift = GNOME_PP_CORRECTIONS["Mg"] / 2
    cand = gated(stores, rocksalt("Mg", "O", 4.21), "pbe54")
    record_and_score(
        stores,
        {cand.candidate_id: {"output": _entry(MG_PBE54, E_MP + shift), "task_uuid": "t"}},
        hulls=["mp2021", "mgo-gnome-scale"],
        engine="vasp",
    )
    doc = stores.candidates.find_one({"candidate_id": cand.candidate_id})
    assert doc["relax"]["potcar_scale"] == "gnome"
    assert doc["relax"]["pp_offsets"]["Mg"] == pytest.approx(shift)
    on_mp = mp_compatible_energy(_entry(MG_MP, E_MP), "vasp").energy_per_atom
    expected = mp.score(["MgO"], [on_mp])[0].e_d
    assert doc["scores"]["mp2021"]["e_d"] == pytest.approx(expected, abs=1e-9)
    assert doc["scores"]["mgo-gnome-scale"]["e_d"] == pytest.approx(expected, abs=1e-9)
