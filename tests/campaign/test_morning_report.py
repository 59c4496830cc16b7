"""The morning report (``genflow report``) of a finished campaign on the test database."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from genflow.campaign.runner import run_campaign
from genflow.campaign.spec import load_spec

from .conftest import DATA

FILES = ["NaCl.cif", "Si.cif", "malformed.cif", "overlap.cif"]
NIGHT = "morning-2025-01-02"


@pytest.mark.slow
def test_report_of_a_finished_campaign(campaign_env, structures_spec, tmp_path, require_module):
    Image = require_module("PIL.Image")
    from genflow.evaluation.report import build_report, latest_nightly, write_nightly_report

    stores = campaign_env.stores
    path = structures_spec(FILES, name="morning", score={"hit_threshold": 2.0})
    spec = load_spec(path)
    # the campaign runs as one night of the spec; an earlier night exists only as a record
    stores.campaigns.insert_one({"name": "morning-2025-01-01", "state": "completed"})
    run = run_campaign(spec, name=NIGHT, stores=stores, root_dir=tmp_path / "runs").as_dict()
    assert not run["failed_jobs"] and run["counts"]["scored"] == 2

    out = tmp_path / "report"
    report = build_report(stores, NIGHT, out)
    md = (out / "report.md").read_text()
    assert md.startswith(f"# Campaign {NIGHT}\n")
    for stage, n in {"generated": 4, "gated": 4, "relaxed": 2, "scored": 2}.items():
        assert f"| {stage} | {n} |" in md
    assert report["failure_counts"] == {"parse": 1, "validity": 1}
    assert "| parse | 1 |" in md and "| validity | 1 |" in md
    hits = {h["formula"]: h for h in report["hits"]}
    scored = stores.candidates.find({"campaign": NIGHT, "state": "scored"}, {"formula": 1})
    assert sorted(hits) == sorted(d["formula"] for d in scored)  # threshold 2 eV/atom: all
    for h in report["hits"]:
        # provenance: an imported file's content hash, the candidate id, engine and E_d
        doc = stores.candidates.find_one({"candidate_id": h["candidate_id"]})
        source = doc["provenance"]["conditioning"]["source"]
        digest = hashlib.sha256((DATA / source).read_bytes()).hexdigest()[:16]
        assert h["checkpoint_hash"] == digest and h["model_name"] == "import"
        row = (f"| {h['formula']} | mp2021 | {h['e_d']:.4f} | {h['engine']} | "
               f"{h['checkpoint_hash']} | {h['candidate_id']} |")  # fmt: skip
        assert row in md
        assert h["engine"] and h["engine"].startswith("mlip")
    assert set(report["plots"]) == {"funnel", "rejections", "e_d_mp2021"}
    for name, png in report["plots"].items():
        assert f"![{name}]({name}.png)" in md
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
            im.verify()
    assert len(report["e_d"]["mp2021"]) == 2

    # --nightly SPEC: the latest <name>-<date> of the spec; nightly's writer: the night before
    assert latest_nightly(stores, "morning") == NIGHT
    assert latest_nightly(stores, "morning", before=NIGHT) == "morning-2025-01-01"
    assert latest_nightly(stores, "mor") is None
    written = write_nightly_report(stores, "morning", tmp_path / "nightly", before="z")
    assert written == tmp_path / "nightly" / NIGHT / "report.md" and written.is_file()

    from genflow.cli import app

    runner = CliRunner(env={"COLUMNS": "200"})
    res = runner.invoke(app, ["report", "--nightly", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["campaign"] == NIGHT
    res = runner.invoke(app, ["report", NIGHT, "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"# Campaign {NIGHT}") and (tmp_path / "cli/funnel.png").is_file()
    res = runner.invoke(app, ["report"])
    assert res.exit_code == 2 and "CAMPAIGN name or --nightly SPEC" in res.output
