"""Campaign scoring applies the physical window of ``genflow hull score``: a candidate whose
E_d lies below it is scored, marked implausible with its reason, and is no hit anywhere
(``genflow hits``, the score job's hit list, the campaign report, S.U.N.)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Structure

from genflow.campaign.hits import campaign_sun, find_hits
from genflow.campaign.status import campaign_report
from genflow.core.candidates import (
    Candidate,
    CandidateState,
    StateUpdate,
    by_id,
    insert_candidates,
    update_states,
)
from genflow.evaluation.report import conditional_table
from genflow.evaluation.report_sets import campaign_set

DATA = Path(__file__).parent / "data"
NACL_HULL = -3.695  # eV/atom, NaCl on mp2021 (E_d = energy per atom - this)


def _gated(stores, campaign: str, index: int) -> Candidate:
    """A real NaCl candidate document, gated (ready for its relax result)."""
    structure = Structure.from_file(DATA / "NaCl.cif")
    prov = {"model_name": "import", "checkpoint_hash": "x", "conditioning": {}}
    cand = Candidate.from_structure(structure, campaign, prov, seed=0, index=index)
    insert_candidates(stores.candidates, [cand])
    update_states(stores.candidates, [StateUpdate(cand.candidate_id, CandidateState.GATED)])
    return cand


def _result(cand: Candidate, energy_per_atom: float) -> dict:
    """What the score job gets from one relax+static flow (a CHGNet task document)."""
    s = cand.pmg_structure()
    doc = {
        "structure": s.as_dict(),
        "output": {"energy": energy_per_atom * len(s), "structure": s.as_dict()},
        "forcefield_name": "CHGNet",
        "is_force_converged": True,
    }
    return {"output": doc, "task_uuid": f"t-{cand.candidate_id}", "uuids": []}


def _score(stores, campaign: str, energies: list[float], **kwargs) -> tuple[list[str], dict]:
    from genflow.workflows.score import record_and_score

    cands = [_gated(stores, campaign, i) for i in range(len(energies))]
    results = {c.candidate_id: _result(c, e) for c, e in zip(cands, energies, strict=True)}
    out = record_and_score(stores, results, hulls=["mp2021"], engine="mlip", **kwargs)
    return [c.candidate_id for c in cands], out


def test_an_implausible_candidate_is_scored_marked_and_never_a_hit(campaign_env):
    stores = campaign_env.stores
    # E_d -0.1 eV/atom (a hit) and -8.3 eV/atom (below the default window of -1 eV/atom)
    (good, slip), out = _score(stores, "window", [NACL_HULL - 0.1, -12.0], audit=False)

    doc = stores.candidates.find_one(by_id(slip))
    score = doc["scores"]["mp2021"]
    assert doc["state"] == "scored" and score["error"] is None
    assert score["e_d"] == pytest.approx(-8.305, abs=1e-3) and score["implausible"] is True
    assert score["is_stable"] is None and score["is_metastable"] is None
    reason = doc["history"][-1]["note"]
    assert reason == (
        "mp2021: implausible: E_d -8.305 eV/atom, below the physical window (-1 eV/atom); not a hit"
    )
    assert out["implausible"] == {slip: reason}
    assert doc["is_hit"] == {"mp2021": False} and doc["hit_hulls"] == []
    # the plausible one is the only hit: score job, genflow hits, report, S.U.N.
    assert stores.candidates.find_one(by_id(good))["scores"]["mp2021"]["implausible"] is None
    assert out["hits"] == {"mp2021": [good]}
    assert [h.candidate_id for h in find_hits(stores, "mp2021", 0.0)] == [good]
    assert [h.candidate_id for h in find_hits(stores, "mp2021", 0.0, campaign="window")] == [good]
    assert [h["candidate_id"] for h in campaign_report(stores, "window")["hits"]] == [good]
    assert campaign_sun(stores, "window")["n_stable"] == 1
    # the report's stable count (Table 3) and best-of-N leave the slip out too
    assert campaign_set(stores, "window", ["mp2021"]).n_stable("mp2021") == 1
    assert conditional_table(stores, "window", "mp2021")["rows"][0]["best_e_d"] > -1


def test_the_window_is_the_campaigns_to_set(campaign_env):
    """``implausible_below`` moves the window (spec ``score.implausible_below``)."""
    stores = campaign_env.stores
    (slip,), out = _score(stores, "wide", [-12.0], implausible_below=-20.0, audit=False)
    assert out["implausible"] == {} and out["hits"] == {"mp2021": [slip]}
    assert stores.candidates.find_one(by_id(slip))["scores"]["mp2021"]["implausible"] is None


def test_the_spec_window_reaches_the_score_job(structures_spec):
    from genflow.campaign.flows import campaign_maker
    from genflow.campaign.spec import load_spec

    spec = load_spec(structures_spec(["NaCl.cif"], score={"implausible_below": -2.5}))
    assert campaign_maker(spec).score_maker.implausible_below == -2.5
    default = load_spec(structures_spec(["NaCl.cif"], name="default-window"))
    assert campaign_maker(default).score_maker.implausible_below is None  # the setting


@pytest.mark.slow
def test_a_campaign_run_marks_its_implausible_candidate(campaign_env, structures_spec, tmp_path):
    """End to end: a spec whose window (+5 eV/atom) every relaxed NaCl falls below."""
    from genflow.campaign.runner import run_campaign
    from genflow.campaign.spec import load_spec

    stores = campaign_env.stores
    spec = load_spec(
        structures_spec(
            ["NaCl.cif"], name="slip", score={"hit_threshold": 2.0, "implausible_below": 5.0}
        )
    )
    report = run_campaign(spec, stores=stores, root_dir=str(tmp_path / "runs")).as_dict()
    doc = stores.candidates.find_one({"campaign": "slip"})
    assert doc["state"] == "scored" and doc["scores"]["mp2021"]["implausible"] is True
    assert "below the physical window (5 eV/atom)" in doc["history"][-1]["note"]
    assert doc["hit_hulls"] == [] and report["hits"] == []
    assert find_hits(stores, "mp2021", 2.0, campaign="slip") == []
