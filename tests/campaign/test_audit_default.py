"""A default campaign (no ``score.audit`` key) audits its hits: a hull-gap hit is flagged."""

from __future__ import annotations

import logging

import pytest
import yaml

from genflow.campaign.runner import run_campaign
from genflow.campaign.spec import load_spec


@pytest.mark.slow
def test_default_campaign_flags_gap_hit_not_ordinary_one(
    campaign_env, structures_spec, tmp_path, require_module, caplog
):
    """Rocksalt YbN scores far below the bundled hull, which has no Yb–N compound (coverage
    thin), and the audit (on by default) flags it; NaCl, a hit near an intact hull (E_d ≈
    +25 meV/atom with CHGNet, threshold 0.1), is not flagged."""
    require_module("chgnet")
    path = structures_spec(["YbN.cif", "NaCl.cif"], name="audit-default")
    spec = yaml.safe_load(path.read_text())
    del spec["score"]["audit"]  # the fixtures turn it off for speed: this is the default
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    loaded = load_spec(path)
    assert loaded.score.audit is True

    stores = campaign_env.stores
    with caplog.at_level(logging.INFO, logger="genflow.workflows.hit_audit"):
        report = run_campaign(loaded, stores=stores, root_dir=str(tmp_path / "runs")).as_dict()
    assert not report["failed_jobs"] and report["counts"]["scored"] == 2
    scores = {d["reduced_formula"]: d["scores"]["mp2021"] for d in stores.candidates.find()}
    ybn, nacl = scores["YbN"], scores["NaCl"]
    assert ybn["e_d"] < -0.5 and ybn["coverage"] == "thin"
    assert ybn["audit"]["verdict"] == "hull_gap_suspected"
    assert ybn["audit"]["beaten_by"].startswith("YbN rocksalt")
    assert nacl["e_d"] < 0.1 and nacl["coverage"] == "ok"
    assert nacl["audit"]["verdict"] == "confirmed"
    # the cost goes to the campaign log (``genflow campaign run`` writes it to the run's file)
    assert "hit audit on mp2021: 2 hit(s), 1 flagged hull_gap_suspected" in caplog.text
    assert "s per hit" in caplog.text
