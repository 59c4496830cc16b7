"""GNoME loader, user reference files and ``load_hull`` name resolution.

``data/gnome_stable_materials_summary.csv`` is a four-row file in the column format of GNoME's
``stable_materials_summary.csv`` (DATASET.md), written for these tests: each material sits a
known offset from the bundled MP hull (Li3MnO4 -50, Ba3Ti2O7 +10, Mg2Ge -30, Na4SCl2
-20 meV/atom, the "Decomposition Energy Per Atom" column), its "Corrected Energy" is
MP2020-corrected in GNoME's pseudopotential scheme (MP energy + GNoME's Li/Mg/Ge/Na offsets)
and "UnCorrected Energy" lacks the MP2020 corrections.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from genflow.hull import ReferenceHull, load_gnome, load_hull, load_reference_file

from .conftest import DATA

GNOME_FILE = DATA / "gnome_stable_materials_summary.csv"


@pytest.fixture(scope="module")
def gnome() -> ReferenceHull:
    return load_gnome(GNOME_FILE)


def test_gnome_rows_land_at_their_offsets(gnome: ReferenceHull, mp2021: ReferenceHull) -> None:
    summary = pd.read_csv(GNOME_FILE, index_col=0)
    assert len(gnome) == len(mp2021) + len(summary)
    assert gnome.name == "gnome"
    for _, row in summary.iterrows():
        i = gnome.ids.index(row["MaterialId"])
        [vs_mp] = mp2021.score([row["Composition"]], [gnome.energies[i]])
        # POTCAR offsets removed and MP2020 kept: back on MP's scale exactly.
        assert vs_mp.e_d == pytest.approx(row["Decomposition Energy Per Atom"], abs=1e-5)


def test_gnome_changes_stability(gnome: ReferenceHull, mp2021: ReferenceHull) -> None:
    [on_mp] = mp2021.score(["Li3MnO4"], [0.0])
    energy = -on_mp.e_d - 0.02  # 20 meV/atom below MP's hull, 30 above GNoME's Li3MnO4
    [mp_score] = mp2021.score(["Li3MnO4"], [energy])
    [gnome_score] = gnome.score(["Li3MnO4"], [energy])
    assert mp_score.is_stable and mp_score.e_d == pytest.approx(-0.02, abs=1e-6)
    assert not gnome_score.is_stable and gnome_score.e_d == pytest.approx(0.03, abs=1e-5)
    assert gnome_score.decomposition == {"Li3MnO4": pytest.approx(1.0)}


def test_gnome_raw_scheme_is_detected_and_corrected(tmp_path, gnome: ReferenceHull) -> None:
    """A file whose Corrected Energy equals UnCorrected Energy (like GNoME's MP snapshot)."""
    summary = pd.read_csv(GNOME_FILE, index_col=0)
    summary["Corrected Energy"] = summary["UnCorrected Energy"]
    raw_file = tmp_path / "stable_materials_summary.csv"
    summary.to_csv(raw_file)
    raw = load_gnome(raw_file, include_mp=False)
    assert "raw" in raw.scheme
    for mid in summary["MaterialId"]:
        assert raw.energies[raw.ids.index(mid)] == pytest.approx(
            gnome.energies[gnome.ids.index(mid)], abs=1e-6
        )
    as_given = load_gnome(raw_file, include_mp=False, scheme="mp2020")
    li = as_given.ids.index("a1b2c3d4e5")
    assert as_given.energies[li] > raw.energies[raw.ids.index("a1b2c3d4e5")] + 0.5  # O + U


def test_gnome_external_file_and_settings(tmp_path, monkeypatch) -> None:
    external = pd.read_csv(GNOME_FILE, index_col=0).iloc[[1]].copy()
    external["MaterialId"] = "mp-external-1"
    external["Corrected Energy"] -= 0.5 * external["NSites"]
    ext_file = tmp_path / "external_materials_summary.csv"
    external.to_csv(ext_file)
    monkeypatch.setenv("GENFLOW_GNOME_SUMMARY_PATH", str(GNOME_FILE))
    monkeypatch.setenv("GENFLOW_GNOME_EXTERNAL_SUMMARY_PATH", str(ext_file))
    hull = load_hull("gnome")
    [score] = hull.score(["Ba3Ti2O7"], [hull.energies[hull.ids.index("mp-external-1")]])
    assert score.e_d == pytest.approx(0.0, abs=1e-9)  # the external row is now the hull


def test_gnome_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GENFLOW_GNOME_SUMMARY_PATH", raising=False)
    monkeypatch.setenv("GENFLOW_CONFIG_FILE", str(tmp_path / "none.yaml"))
    with pytest.raises(FileNotFoundError, match="GENFLOW_GNOME_SUMMARY_PATH"):
        load_hull("gnome")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"Composition": ["Li2O"], "NSites": [3]}).to_csv(bad)
    with pytest.raises(ValueError, match="Corrected Energy"):
        load_gnome(bad)


def test_user_reference_file_taken_as_given(tmp_path) -> None:
    rows = [
        {"composition": "Li", "energy_per_atom": -1.9, "material_id": "li"},
        {"composition": "O2", "energy_per_atom": -4.9, "material_id": "o"},
        {"composition": "Li2O", "energy_per_atom": -4.8, "material_id": "li2o"},
        {"composition": "Li2Q", "energy_per_atom": -4.0, "material_id": "bad"},
    ]
    csv = tmp_path / "ref.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    hull = load_hull(str(csv))
    assert hull.name == "ref.csv" and len(hull) == 3
    assert hull.skipped and "Q" in hull.skipped[0][1]  # bad row skipped, reason kept
    [s] = hull.score(["Li2O"], [-4.9])
    assert s.e_d == pytest.approx(-0.1)
    # JSON with total energies gives the same hull.
    js = tmp_path / "ref.json"
    totals = [("Li", -1.9), ("O2", -9.8), ("Li2O", -14.4)]  # same energies, per cell
    js.write_text(json.dumps([{"composition": c, "energy": e} for c, e in totals]))
    by_total = load_reference_file(js)
    assert by_total.score(["Li2O"], [-4.9])[0].e_d == pytest.approx(-0.1)


def test_csv_formula_nan_is_sodium_nitride(tmp_path) -> None:
    csv = tmp_path / "ref.csv"
    csv.write_text("composition,energy_per_atom\nNa,-1.3\nN2,-8.3\nNaN,-5.2\nNaCl,nan\n")
    hull = load_reference_file(csv)
    assert len(hull) == 3 and hull.formula(2) == "NaN"  # not read as a missing value
    assert "non-finite" in hull.skipped[0][1]  # a "nan" energy is still missing


def test_unknown_hull_name() -> None:
    with pytest.raises(FileNotFoundError, match="unknown hull 'mp2020'"):
        load_hull("mp2020")
