"""``genflow sample`` / ``train`` / ``scan`` through the root Typer app."""

from __future__ import annotations

import json

import pytest
from pymatgen.core import Composition, Structure
from typer.testing import CliRunner

from genflow.cli import app

runner = CliRunner()
STEPS = ["--steps", "12"]


def _invoke(*args):
    result = runner.invoke(app, list(args))
    return result


def test_commands_are_registered():
    result = _invoke("--help")
    assert result.exit_code == 0
    for name in ("sample", "train", "scan"):
        assert name in result.output


def test_sample_structures_refuses_what_the_random_search_cannot_take():
    """The library call behind ``genflow sample`` and ``genflow baseline random``."""
    from genflow.model.kinds import sample_structures

    with pytest.raises(ValueError, match="takes no --checkpoint"):
        sample_structures("random", "perov5", 1, compositions=["NaCl"])
    with pytest.raises(ValueError, match="needs --composition"):
        sample_structures("random", None, 1, compositions=[None])
    with pytest.raises(ValueError, match="takes no n_atoms"):
        sample_structures("random", None, 1, compositions=["NaCl"], n_atoms=2, elements=None)


def test_sample_json_file_and_summary(tmp_path):
    out = tmp_path / "s.json"
    r = _invoke(
        "sample", "--n", "4", "--composition", "BaTiO3", "--out", str(out), "--json", *STEPS
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)  # stage lines ("loading checkpoint perov5…") go to stderr
    assert summary["n"] == 4 and summary["format"] == "json" and "structures" not in summary
    assert summary["provenance"]["model_name"] == "unimat"
    structures = [Structure.from_dict(d) for d in json.loads(out.read_text())]
    assert [s.composition for s in structures] == [Composition("BaTiO3")] * 4


def test_sample_extxyz_and_cif_dir(tmp_path):
    from ase.io import read

    xyz = tmp_path / "s.extxyz"
    r = _invoke(
        "sample",
        "--n",
        "4",
        "--elements",
        "Ba Ti O",
        "--n-atoms",
        "5",
        "--out",
        str(xyz),
        "--seed",
        "2",
        *STEPS,
    )
    assert r.exit_code == 0, r.output
    frames = read(xyz, index=":")
    assert len(frames) == 4 and all(len(a) == 5 for a in frames)
    assert all(set(a.get_chemical_symbols()) == {"Ba", "Ti", "O"} for a in frames)

    d = tmp_path / "cifs"
    r = _invoke("sample", "--n", "4", "--out", str(d), *STEPS)  # unconditional
    assert r.exit_code == 0, r.output
    cifs = sorted(d.glob("*.cif"))
    assert len(cifs) == 4
    # 12-step unconditional samples may overlap atoms, which pymatgen's CIF reader rejects,
    # so check the files themselves rather than re-parsing them
    assert all(c.read_text().startswith("# generated using pymatgen\ndata_") for c in cifs)


def test_sample_bad_input_is_a_clear_error(tmp_path):
    r = _invoke("sample", "--n", "1", "--composition", "Si4C4", *STEPS)
    assert r.exit_code != 0
    assert "element C is not in this" in r.output
    r = _invoke("sample", "--n", "1", "--out", str(tmp_path / "x.pdf"), *STEPS)
    assert r.exit_code != 0 and "unknown format" in r.output


def test_scan_is_mounted():
    r = _invoke("scan", "Ba-Ti-O", "--max-coefficient", "3", "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["enumerated"] > 0 and "BaTiO3" in payload["compositions"]


@pytest.mark.slow
def test_train_command_runs_and_resumes(tmp_path):
    wd = tmp_path / "run"
    r = _invoke("train", "perov5:tiny", "--workdir", str(wd), "--steps", "2", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["step"] == 2
    r = _invoke("train", "perov5:tiny", "--workdir", str(wd), "--steps", "4", "--json")
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["start_step"] == 2 and summary["step"] == 4


def test_sample_json_without_out_carries_the_structures():
    """Nowhere else to go: ``--json`` alone must not drop what was sampled (issue 23)."""
    r = _invoke("sample", "--n", "2", "--composition", "BaTiO3", "--json", *STEPS)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert "loading checkpoint perov5…" in r.stderr
    assert summary["out"] is None and len(summary["structures"]) == 2
    structures = [Structure.from_dict(d) for d in summary["structures"]]
    assert [s.composition for s in structures] == [Composition("BaTiO3")] * 2
    assert summary["formulas"] == ["BaTiO3", "BaTiO3"]
