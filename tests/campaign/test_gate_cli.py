"""``genflow gate`` on a mixed folder: each record the right verdict, no database writes, and a
non-zero exit only for unreadable input; ``genflow hits --campaign`` uses the campaign's own
hit threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from genflow.cli import app


def _rocksalt(a: str, b: str, lattice: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(lattice), [a, b], [[0] * 3, [0.5] * 3])


@pytest.fixture
def mixed_folder(tmp_path, reference_copy):
    d = tmp_path / "samples"
    d.mkdir()
    _rocksalt("Li", "F", 4.03).to(filename=str(d / "a_valid.cif"))
    csi = Structure(Lattice.cubic(4.57), ["Cs", "I"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    csi.to(filename=str(d / "b_dup1.cif"))
    csi.make_supercell([1, 1, 2], in_place=False).to(filename=str(d / "b_dup2.cif"))
    reference_copy().to(filename=str(d / "c_refcopy.cif"))
    (d / "d_malformed.cif").write_text("data_broken\n_cell_length_a 4.0\nloop_\n_atom_site_label\n")
    nan = _rocksalt("K", "Br", 6.6).as_dict()
    nan["sites"][0]["abc"] = [0.0, float("nan"), 0.0]
    (d / "e_nan.json").write_text(json.dumps(nan))
    over = _rocksalt("Rb", "Br", 6.9)
    over.append("Br", over[0].coords + np.array([0.2, 0, 0]), coords_are_cartesian=True)
    over.to(filename=str(d / "f_overlap.cif"))
    _rocksalt("Sr", "S", 6.0).to(filename=str(d / "g_unknown.cif"))
    text = (d / "g_unknown.cif").read_text().replace("Sr", "Xx")
    (d / "g_unknown.cif").write_text(text)
    return d


@pytest.mark.slow
def test_gate_mixed_folder(mixed_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("GENFLOW_DB_URI", raising=False)
    out = tmp_path / "rows.json"
    res = CliRunner().invoke(app, ["gate", str(mixed_folder), "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert json.loads(out.read_text()) == result
    rows = {r["key"]: r for r in result["rows"]}
    got = {k: (r["verdict"], r["stage"]) for k, r in rows.items()}
    assert got == {
        "a_valid.cif": ("pass", None),
        "b_dup1.cif": ("pass", None),
        "b_dup2.cif": ("reject", "duplicate"),
        "c_refcopy.cif": ("reject", "novelty"),
        "d_malformed.cif": ("reject", "parse"),
        "e_nan.json": ("reject", "validity"),
        "f_overlap.cif": ("reject", "validity"),
        "g_unknown.cif": ("reject", "elements"),
    }
    assert rows["b_dup2.cif"]["duplicate_of"] == "b_dup1.cif"
    assert (rows["c_refcopy.cif"]["reference_id"], rows["c_refcopy.cif"]["reference_source"]) == (
        "mp-22862",
        "mp_20",
    )
    assert "NaN" in rows["e_nan.json"]["reason"] and "Xx" in rows["g_unknown.cif"]["reason"]
    assert result["summary"]["rejected_by_stage"] == {
        "duplicate": 1, "elements": 1, "novelty": 1, "parse": 1, "validity": 2,
    }  # fmt: skip
    assert result["references"] == "bundled (in memory)"

    # flag keeps the reference copy, marked; a missing input is the only non-zero exit
    res = CliRunner().invoke(
        app, ["gate", str(mixed_folder / "c_refcopy.cif"), "--novelty", "flag", "--json"]
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["rows"][0]["verdict"] == "known"
    res = CliRunner().invoke(app, ["gate", str(tmp_path / "nope.cif"), "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["rows"][0]["unreadable"] is True
