"""Sites per structure in the morning report (issue 24): a campaign of a bundled checkpoint
against that checkpoint's training set, and the site counts a compared file carries."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "campaign" / "data"


def test_campaign_against_its_checkpoints_training_set(stores, tmp_path):
    """Perov-5 crystals as a unimat campaign's samples, one of them a doubled cell and one an
    unparseable sample: against the perov5 checkpoint's training set (every crystal 5 sites)
    half the rows have the right count."""
    from genflow.campaign.ledger import claim_campaign
    from genflow.campaign.spec import CampaignSpec
    from genflow.core.candidates import Candidate, insert_candidates
    from genflow.evaluation.report import build_report
    from genflow.model.data import load_dataset

    name = "sites-2025-01-02"
    spec = CampaignSpec.model_validate(
        {"name": "sites", "generator": {"kind": "unimat", "checkpoint": "perov5"},
         "hulls": ["mp2021"]}
    )  # fmt: skip
    claim_campaign(stores, spec, name, "local")
    perov = list(load_dataset("perov_5:test", limit=3).structures)
    samples = [perov[0], perov[1], perov[2] * (2, 1, 1)]  # 5, 5 and 10 sites
    prov = {"model_name": "unimat", "checkpoint_hash": "c0ffee", "conditioning": {}}
    cands = [Candidate.from_structure(s, name, prov, seed=0, index=i)
             for i, s in enumerate(samples)]  # fmt: skip
    cands.append(Candidate.from_invalid_input("no cif", name, prov, 0, 3, "parse: not a CIF"))
    insert_candidates(stores.candidates, cands)

    report = build_report(stores, name, tmp_path, training_rows=20)
    sites = report["sites"]
    mine, train = sites["rows"]
    assert mine["hist"] == {"5": 0.5, "10": 0.25, "unreadable": 0.25}
    assert mine["mean"] == pytest.approx(20 / 3)
    # the checkpoint's meta.json names perov_5; its 2 bundled files, 20 rows each
    assert train["set"] == "perov_5 (training set)" and train["kind"] == "training"
    assert train["n"] == 40 and train["hist"] == {"5": 1.0}
    assert "checkpoint 'perov5'" in sites["training"] and "40 structures" in sites["training"]
    # ½ (|0.5 − 1| on 5 + 0.25 on 10 + 0.25 unreadable)
    assert train["tvd"] == pytest.approx(0.5)
    assert train["campaign_exact_share"] == train["campaign_in_set_share"] == 0.5
    assert "sites_per_structure" in report["plots"]
    assert (tmp_path / "sites_per_structure.png").stat().st_size > 1000
    md = (tmp_path / "report.md").read_text()
    assert "| perov_5 (training set) | training | 40 | 5.00 | 5: 1.00 | 0.000 | 0.000 | " \
        "0.500 | 0.500 | 0.500 |" in md  # fmt: skip

    left_out = build_report(stores, name, training_rows=0)["sites"]
    assert len(left_out["rows"]) == 1 and left_out["training"] == "left out (training_rows=0)"


def test_file_site_counts(tmp_path):
    """Structures count per structure; cell compositions count; reduced formulas do not."""
    from genflow.evaluation.report_sets import file_site_counts

    nacl = file_site_counts(DATA / "NaCl.cif")
    from pymatgen.core import Structure

    assert nacl == ((len(Structure.from_file(DATA / "NaCl.cif")),), None)
    cells = tmp_path / "cells.csv"
    cells.write_text("composition,energy_per_atom\nNa4Cl4,-3.5\nSi2,-5.3\nXx3,-1\n")
    assert file_site_counts(cells) == ((8, 2, None), None)
    reduced = tmp_path / "reduced.csv"
    reduced.write_text("composition,energy_per_atom\nNaCl,-3.5\nSi,-5.3\n")
    counts, why = file_site_counts(reduced)
    assert counts is None and "only reduced formulas" in why
