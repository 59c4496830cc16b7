"""``genflow hull score`` / ``compare`` through Typer's CliRunner, bad rows included."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from pymatgen.core import Lattice, Structure
from pymatgen.entries.computed_entries import ComputedStructureEntry
from typer.testing import CliRunner

from genflow.cli import app as root_app
from genflow.cli.hull import app

runner = CliRunner()

ROWS = [
    ("LiFePO4", -6.3),  # below its own hull point? scored either way
    ("Fe2O3", -6.0),
    ("Xx2O", -5.0),  # unknown element
    ("Li2O", float("nan")),  # NaN energy
    ("Li(Fe", -5.0),  # malformed composition
    ("NaCl", -3.6),
    ("Og2", -1.0),  # a real element the hull does not cover
]


@pytest.fixture
def candidates(tmp_path):
    path = tmp_path / "cands.csv"
    pd.DataFrame(ROWS, columns=["composition", "energy_per_atom"]).to_csv(path, index=False)
    return path


def test_score_csv_with_bad_rows(candidates, tmp_path, mp2021) -> None:
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(candidates), "--hull", "mp2021", "--out", str(out)])
    assert result.exit_code == 2, result.output  # some rows failed, the rest were scored
    table = pd.read_csv(out)
    assert len(table) == len(ROWS)
    assert table["composition"].tolist() == [r[0] for r in ROWS]  # input order kept
    for col in ("e_d", "e_form", "is_stable", "is_metastable", "decomposition", "error"):
        assert col in table
    errors = table["error"].fillna("").tolist()
    assert errors[0] == errors[1] == errors[5] == ""
    assert "unknown element Xx" in errors[2]
    assert "non-finite energy" in errors[3]
    assert "malformed composition" in errors[4]
    assert "Og absent from hull 'mp2021'" in errors[6]
    expected = mp2021.score(["Fe2O3"], [-6.0])[0]
    assert table.loc[1, "e_d"] == pytest.approx(expected.e_d)
    assert json.loads(table.loc[1, "decomposition"]) == pytest.approx(expected.decomposition)


def test_score_json_summary(candidates, mp2021) -> None:
    result = runner.invoke(app, ["score", str(candidates), "--json"])
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    summary = payload["summary"]
    assert summary["hull"] == "mp2021"
    assert summary["n_rows"] == 7 and summary["n_scored"] == 3 and summary["n_failed"] == 4
    e_d = [s.e_d for s in mp2021.score(["LiFePO4", "Fe2O3", "NaCl"], [-6.3, -6.0, -3.6])]
    assert summary["n_stable"] == sum(e < 0 for e in e_d)
    assert summary["n_metastable"] == sum(e < 0.025 for e in e_d)
    assert summary["median_e_d"] == pytest.approx(sorted(e_d)[1])
    assert payload["rows"][3]["e_d"] is None and payload["rows"][3]["error"]


def test_score_all_good_exits_zero_and_root_app_mounts_hull(tmp_path, mp2021) -> None:
    path = tmp_path / "good.json"
    path.write_text(json.dumps([{"composition": "NaCl", "energy": -7.2}]))  # total energy
    result = runner.invoke(root_app, ["hull", "score", str(path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rows"][0]["e_form"] == pytest.approx(
        mp2021.formation_energy(["NaCl"], [-3.6])[0]
    )
    assert payload["summary"]["n_failed"] == 0


def test_score_extxyz_and_entries(tmp_path, mp2021) -> None:
    nacl = Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]], cell=[5.6, 5.6, 5.6], pbc=True)
    nacl.calc = SinglePointCalculator(nacl, energy=-7.2)
    no_energy = Atoms("Na", positions=[[0, 0, 0]], cell=[4, 4, 4], pbc=True)
    xyz = tmp_path / "cands.extxyz"
    write(xyz, [nacl, no_energy], format="extxyz")
    result = runner.invoke(app, ["score", str(xyz), "--json"])
    assert result.exit_code == 2
    rows = json.loads(result.stdout)["rows"]
    assert rows[0]["e_d"] == pytest.approx(mp2021.score(["NaCl"], [-3.6])[0].e_d)
    assert "no energy" in rows[1]["error"]

    structure = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    entry = ComputedStructureEntry(structure, -7.0, correction=-0.2)
    entries = tmp_path / "entries.json"
    entries.write_text(json.dumps([entry.as_dict()]))
    result = runner.invoke(app, ["score", str(entries), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"][0]["e_d"] == pytest.approx(
        mp2021.score(["NaCl"], [-3.6])[0].e_d
    )


def test_score_unusable_input(tmp_path) -> None:
    result = runner.invoke(app, ["score", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("formula,energy_per_atom\nNaCl,-3\n")
    result = runner.invoke(app, ["score", str(bad)])
    assert result.exit_code == 1 and "composition" in result.output
    result = runner.invoke(app, ["score", str(bad), "--hull", "nope"])
    assert result.exit_code == 1 and "unknown hull" in result.output


def test_compare(tmp_path) -> None:
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    pd.DataFrame(
        {"composition": ["Fe2O3", "Fe4O6", "NaCl", "LiF"], "e_form": [-1.6, -1.7, -2.0, -3.0]}
    ).to_csv(a, index=False)
    pd.DataFrame({"composition": ["Fe2O3", "NaCl", "KBr"], "e_form": [-1.65, -1.9, -1.5]}).to_csv(
        b, index=False
    )
    result = runner.invoke(app, ["compare", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["n_matched"] == 2
    assert payload["delta_e_form"] == pytest.approx(((-1.7 + 1.65) + (-2.0 + 1.9)) / 2)
    assert payload["e_form_reduction_rate"] == pytest.approx(1.0)
    assert "lowest E_f per composition" in payload["matching"]
    # Energies instead of E_f: formation energies come from the hull; same energies → ΔE_f = 0.
    c = tmp_path / "c.csv"
    pd.DataFrame({"composition": ["NaCl", "Fe2O3"], "energy_per_atom": [-3.6, -6.0]}).to_csv(
        c, index=False
    )
    result = runner.invoke(app, ["compare", str(c), str(c), "--json"])
    assert json.loads(result.stdout)["delta_e_form"] == pytest.approx(0.0)
    assert runner.invoke(app, ["compare", str(c), str(c)]).exit_code == 0


def test_score_candidates_keeps_every_row_in_place(candidates, mp2021) -> None:
    """The library call behind ``hull score``: readable rows scored, the rest failed in place."""
    from genflow.hull.io import read_candidates, score_candidates

    rows, _ = read_candidates(candidates)
    scores = score_candidates(rows, mp2021)
    assert len(scores) == len(ROWS)
    assert [s.ok for s in scores] == [True, True, False, False, False, True, False]
    assert "malformed composition" in scores[4].error and scores[4].formula is None
    assert scores[1].e_d == pytest.approx(mp2021.score(["Fe2O3"], [-6.0])[0].e_d)


def test_ragged_line_costs_only_its_row(tmp_path, mp2021) -> None:
    """Issue 22: one ragged CSV line used to reject the whole file; "abc" was reported "nan"."""
    path = tmp_path / "ragged.csv"
    path.write_text(
        "composition,energy_per_atom\nNaCl,-3.6\nFe2O3,-6.0,oops\nLiFeO2,-1e9\nMgO,abc\n"
        "Li2O,nan\nLiFePO4,-6.3\n"
    )
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(path), "--json", "--out", str(out)])
    assert result.exit_code == 2, result.output
    payload = json.loads(result.stdout)
    rows = payload["rows"]
    assert len(rows) == 6
    assert rows[1]["error"] == "line 3: 3 fields, header has 2: 'Fe2O3,-6.0,oops'"
    assert rows[3]["error"] == "energy_per_atom: not a number: 'abc'"
    assert "non-finite energy" in rows[4]["error"]
    assert rows[0]["error"] is None and rows[5]["error"] is None  # the others are scored
    assert rows[0]["e_d"] == pytest.approx(mp2021.score(["NaCl"], [-3.6])[0].e_d)
    # -1e9 eV/atom: scored, marked implausible, never stable (a slip, not a discovery)
    assert rows[2]["e_d"] < -1e8 and rows[2]["implausible"] is True
    assert rows[2]["is_stable"] is None and rows[2]["is_metastable"] is None
    assert rows[0]["implausible"] is False
    summary = payload["summary"]
    assert summary["n_implausible"] == 1 and summary["n_scored"] == 3
    plausible = [r["e_d"] for r in (rows[0], rows[5])]
    assert summary["n_stable"] == sum(e < 0 for e in plausible)
    assert summary["median_e_d"] == pytest.approx(
        sorted(plausible)[0] / 2 + sorted(plausible)[1] / 2
    )
    table = pd.read_csv(out)
    assert len(table) == 6 and table["composition"].tolist()[0] == "NaCl"
    text = runner.invoke(app, ["score", str(path)]).output
    assert "row 1: line 3: 3 fields" in text and "row 2: implausible" in text


def test_implausible_window_is_configurable(tmp_path, monkeypatch, mp2021) -> None:
    path = tmp_path / "e.csv"
    path.write_text("composition,energy_per_atom\nNaCl,-5.0\n")  # E_d about -1.3 eV/atom
    default = json.loads(runner.invoke(app, ["score", str(path), "--json"]).stdout)["rows"][0]
    assert default["implausible"] is True
    flag = ["score", str(path), "--json", "--implausible-below", "-5"]
    assert json.loads(runner.invoke(app, flag).stdout)["rows"][0]["implausible"] is False
    monkeypatch.setenv("GENFLOW_IMPLAUSIBLE_E_D", "-10")
    row = json.loads(runner.invoke(app, ["score", str(path), "--json"]).stdout)["rows"][0]
    assert row["implausible"] is False and row["is_stable"] is True
