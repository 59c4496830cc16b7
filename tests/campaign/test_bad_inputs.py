"""Bad input never costs good input (issue 22), whatever its shape.

Probes: a JSON input nested very deeply beside a good file (``RecursionError`` crashed the
gate; in a campaign the good file was lost and the run said completed, exit 0); huge and
binary files; ``genflow gate FOLDER`` with a file of unknown extension (skipped, no row).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genflow.campaign.flows import structure_sources
from genflow.campaign.gate_files import gate_inputs
from genflow.cli import app
from genflow.core.structure_io import read_structures
from genflow.workflows.generate import import_structures

DATA = Path(__file__).parent / "data"
DEPTH = 100_000  # far past Python's recursion limit


@pytest.fixture
def bad_folder(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "NaCl.cif").write_text((DATA / "NaCl.cif").read_text())
    (folder / "deep.json").write_text("[" * DEPTH + "]" * DEPTH)
    (folder / "blob.cif").write_bytes(os.urandom(4096) + b"\xff\xfe")
    (folder / "notes.xyzq").write_text("not a structure")
    return folder


def test_reader_turns_every_bad_file_into_a_row(bad_folder):
    rows = {r.key: r for r in read_structures(bad_folder)}
    assert rows["NaCl.cif"].ok
    assert rows["deep.json"].reason == "unreadable file: nested too deeply to parse"
    assert rows["blob.cif"].reason.startswith("unreadable file: UnicodeDecodeError")


def test_too_large_file_is_a_row(bad_folder, monkeypatch):
    monkeypatch.setenv("GENFLOW_MAX_INPUT_MB", "0.001")  # about 1 kB: the blob is over it
    rows = {r.key: r for r in read_structures(bad_folder)}
    assert "over the 0.001 MiB limit (MAX_INPUT_MB)" in rows["blob.cif"].reason
    assert rows["NaCl.cif"].ok


def test_gate_folder_rows_for_all_skipped_with_reason(bad_folder):
    result = gate_inputs([bad_folder], novelty="off", smact=False)
    rows = {r["key"]: r for r in result["rows"]}
    assert set(rows) == {"NaCl.cif", "deep.json", "blob.cif", "notes.xyzq"}
    assert rows["NaCl.cif"]["verdict"] == "pass"
    assert rows["deep.json"]["verdict"] == "reject" and rows["deep.json"]["unreadable"]
    assert rows["notes.xyzq"]["verdict"] == "skipped" and not rows["notes.xyzq"]["unreadable"]
    assert "no structure format for extension '.xyzq'" in rows["notes.xyzq"]["reason"]
    summary = result["summary"]
    assert summary["n_skipped"] == 1 and summary["n_unreadable"] == 2
    assert summary["n_pass"] == 1 and summary["rejected_by_stage"] == {"parse": 2}


def test_gate_cli_exit_rule(bad_folder, monkeypatch):
    monkeypatch.delenv("GENFLOW_DB_URI", raising=False)
    res = CliRunner().invoke(app, ["gate", str(bad_folder), "--novelty", "off", "--json"])
    assert res.exit_code == 1  # unreadable inputs: non-zero, every other input still gated
    assert len(json.loads(res.stdout)["rows"]) == 4
    (bad_folder / "deep.json").unlink()
    (bad_folder / "blob.cif").unlink()
    res = CliRunner().invoke(app, ["gate", str(bad_folder), "--novelty", "off"])
    assert res.exit_code == 0, res.output  # a skipped file alone does not fail the run
    assert "notes.xyzq" in res.output and "1 skipped" in res.output
    res = CliRunner().invoke(app, ["gate", str(bad_folder / "notes.xyzq"), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["rows"][0]["verdict"] == "skipped"


def test_campaign_import_keeps_the_good_file(stores, bad_folder, monkeypatch):
    monkeypatch.setenv("GENFLOW_MAX_INPUT_MB", "0.01")  # deep.json (200 kB) too large to send
    files = [bad_folder / "deep.json", bad_folder / "NaCl.cif", bad_folder / "blob.cif"]
    sources = structure_sources(files)
    assert (
        sources[0]
        == {
            "name": "deep.json",
            "error": sources[0]["error"],
        }
        and "MAX_INPUT_MB" in sources[0]["error"]
    )
    monkeypatch.setenv("GENFLOW_MAX_INPUT_MB", "512")
    sources += structure_sources([bad_folder / "deep.json"])  # sent, and too deep to parse
    import_structures(stores, "bad", sources)
    docs = list(stores.candidates.find({"campaign": "bad"}))
    by_state = sorted((d["state"], d.get("reject_reason") or d["formula"]) for d in docs)
    assert ("generated", "NaCl") in by_state
    reasons = [r for s, r in by_state if s == "rejected"]
    assert len(reasons) == 3 and all(r.startswith("parse: ") for r in reasons)
    assert any("nested too deeply" in r for r in reasons)
    assert any("MAX_INPUT_MB" in r for r in reasons)
    assert any("UnicodeDecodeError" in r for r in reasons)


@pytest.mark.slow
def test_campaign_run_with_a_deep_json_scores_the_good_file(
    campaign_env, structures_spec, tmp_path
):
    from genflow.campaign.runner import run_campaign
    from genflow.campaign.spec import load_spec

    bad = tmp_path / "deep.json"
    bad.write_text("[" * DEPTH + "]" * DEPTH)
    spec = load_spec(structures_spec(["NaCl.cif", str(bad)], name="deep"))  # good beside bad
    run = run_campaign(spec, stores=campaign_env.stores, root_dir=tmp_path / "runs")
    report = run.as_dict()
    assert report["counts"]["scored"] == 1 and report["counts"]["rejected"] == 1
    assert report["failure_counts"] == {"parse": 1}
    assert run.problems() == ["1 input record(s) could not be read (rejected at parse)"]
