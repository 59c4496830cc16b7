"""Submission is idempotent: same spec twice, racing submitters, nightly twice → no duplicates."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from genflow.campaign.ledger import CampaignExistsError
from genflow.campaign.spec import load_spec
from genflow.campaign.submit import nightly, submit_campaign

DATA = Path(__file__).parent / "data"


def _workflows(stores, campaign: str) -> list[dict]:
    return list(stores.launchpad.workflows.find({"metadata.genflow_campaign": campaign}))


def test_submit_twice_adds_nothing_the_second_time(campaign_env, structures_spec):
    stores = campaign_env.stores
    spec = load_spec(
        structures_spec(["NaCl.cif", "Si.cif", "MgO.cif"], generator={"batch_size": 2})
    )
    first = submit_campaign(spec, stores=stores)
    assert len(first.added) == 2 and not first.existing  # 3 files in batches of 2
    n_fws = stores.launchpad.fireworks.count_documents({})
    # per batch: import (gpu), gate (cpu), fan-out (cpu); relax and score come at run time
    assert n_fws == 6
    categories = sorted(d["spec"]["_category"] for d in stores.launchpad.fireworks.find())
    assert categories == ["cpu", "cpu", "cpu", "cpu", "gpu", "gpu"]

    second = submit_campaign(spec, stores=stores)
    assert not second.added and sorted(second.existing) == sorted(first.added)
    assert stores.launchpad.fireworks.count_documents({}) == n_fws
    assert len(_workflows(stores, spec.name)) == 2
    doc = stores.campaigns.find_one({"name": spec.name})
    assert doc["state"] == "submitted" and len(doc["batches"]) == 2


def test_same_name_different_spec_is_refused(campaign_env, structures_spec):
    stores = campaign_env.stores
    submit_campaign(load_spec(structures_spec(["NaCl.cif"])), stores=stores)
    other = load_spec(structures_spec(["Si.cif"]))
    with pytest.raises(CampaignExistsError, match="different spec"):
        submit_campaign(other, stores=stores)
    assert len(_workflows(stores, "test-campaign")) == 1


@pytest.mark.slow
def test_racing_submitters_add_each_workflow_once(campaign_env, structures_spec):
    """Four threads and two CLI processes submit the same spec at once."""
    stores = campaign_env.stores
    path = structures_spec(["NaCl.cif", "Si.cif", "MgO.cif"], generator={"batch_size": 1})
    spec = load_spec(path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "genflow.cli", "campaign", "submit", str(path), "--json"],
            env=campaign_env.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            submit_campaign(spec, stores=stores)
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    assert not errors
    wfs = _workflows(stores, spec.name)
    keys = [w["metadata"]["genflow_key"] for w in wfs]
    assert len(keys) == 3 == len(set(keys))
    assert stores.launchpad.fireworks.count_documents({}) == 9  # 3 batches × import, gate, fan-out


def test_nightly_is_idempotent_per_date(campaign_env, structures_spec):
    stores = campaign_env.stores
    spec = load_spec(structures_spec(["NaCl.cif", "Si.cif"], name="nightly"))
    day = dt.date(2026, 3, 14)
    first = nightly(spec, date=day, stores=stores)
    assert first["campaign"] == "nightly-2026-03-14" and first["submitted"]
    again = nightly(spec, date=day, stores=stores)
    assert not again["submitted"] and again["existing"] == first["added"]
    assert len(_workflows(stores, "nightly-2026-03-14")) == 1
    # The next night is a new campaign.
    nxt = nightly(spec, date=day + dt.timedelta(days=1), stores=stores)
    assert nxt["submitted"] and nxt["campaign"] == "nightly-2026-03-15"
    assert stores.campaigns.count_documents({}) == 2


@pytest.mark.slow
def test_nightly_cli_twice_one_date(campaign_env, structures_spec):
    path = structures_spec(["NaCl.cif"], name="cli-nightly")
    cmd = [
        sys.executable,
        "-m",
        "genflow.cli",
        "nightly",
        str(path),
        "--date",
        "2026-01-02",
        "--json",
    ]
    import json

    out = [
        json.loads(
            subprocess.run(cmd, env=campaign_env.env, check=True, capture_output=True).stdout
        )
        for _ in range(2)
    ]
    assert out[0]["submitted"] and not out[1]["submitted"]
    assert len(_workflows(campaign_env.stores, "cli-nightly-2026-01-02")) == 1


def _scored_hit(stores, campaign: str, e_d: float) -> str:
    """Store a scored NaCl candidate of ``campaign`` with E_d on mp2021 (eV/atom)."""
    from pymatgen.core import Structure

    from genflow.core.candidates import (
        Candidate,
        CandidateState,
        RelaxDoc,
        StateUpdate,
        insert_candidates,
        record_scores,
        update_states,
    )

    structure = Structure.from_file(DATA / "NaCl.cif")
    prov = {"model_name": "unimat", "checkpoint_hash": "abc", "conditioning": {}}
    cand = Candidate.from_structure(structure, campaign, prov, seed=0, index=0)
    insert_candidates(stores.candidates, [cand])
    dft = RelaxDoc(engine="mlip", energy_per_atom=-3.7, mp_compatible=True, converged=True)
    update_states(
        stores.candidates,
        [
            StateUpdate(cand.candidate_id, CandidateState.GATED),
            StateUpdate(cand.candidate_id, CandidateState.RELAXED, {"relax": dft.model_dump()}),
        ],
        strict=True,
    )
    score = {"e_d": e_d, "e_form": -2.0, "is_stable": e_d < 0, "is_metastable": e_d < 0.025}
    record_scores(stores.candidates, {cand.candidate_id: {"mp2021": score}}, hit_threshold=0.0)
    return cand.candidate_id


def test_nightly_reports_last_nights_hits(campaign_env, structures_spec):
    stores = campaign_env.stores
    spec = load_spec(structures_spec(["NaCl.cif"], name="nightly", score={"hit_threshold": 0.0}))
    hit = _scored_hit(stores, "nightly-2026-03-13", -0.05)
    _scored_hit(stores, "other-campaign", -0.2)  # another spec's hit is not reported
    report = nightly(spec, date=dt.date(2026, 3, 14), stores=stores)
    assert [h["candidate_id"] for h in report["new_hits"]] == [hit]
    assert report["new_hits"][0]["e_d"] == pytest.approx(-0.05)


def test_generator_job_is_routed_by_category(campaign_env, tmp_path):
    """A UniMat spec's generate job lands in the spec's category (tpu), gate on cpu."""
    from genflow.campaign.spec import CampaignSpec

    spec = CampaignSpec.model_validate(
        {
            "name": "route",
            "generator": {"n_samples": 3, "batch_size": 2},
            "conditioning": {"mode": "compositions", "compositions": ["SrTiO3"]},
            "categories": {"generate": "tpu", "gate": "cpu", "relax": "hpc", "score": "cpu"},
        }
    )
    report = submit_campaign(spec, stores=campaign_env.stores)
    assert len(report.added) == 2  # 3 samples in batches of 2
    fws = list(campaign_env.stores.launchpad.fireworks.find({}, {"name": 1, "spec": 1}))
    by_name = {}
    for fw in fws:
        by_name.setdefault(fw["name"], set()).add(fw["spec"]["_category"])
        assert fw["spec"]["genflow_campaign"] == "route"
    assert by_name == {"generate": {"tpu"}, "gate": {"cpu"}, "fan-out": {"cpu"}}
    conditions = [
        fw["spec"]["_tasks"][0]["job"]["function_args"][1] for fw in fws if fw["name"] == "generate"
    ]
    assert sorted(sum(c["n_samples"] for c in batch) for batch in conditions) == [1, 2]


def test_local_run_of_a_submitted_campaign_is_refused(campaign_env, structures_spec):
    from genflow.campaign.runner import run_campaign

    spec = load_spec(structures_spec(["NaCl.cif"], name="both"))
    submit_campaign(spec, stores=campaign_env.stores)
    with pytest.raises(CampaignExistsError, match="already exists as a fireworks campaign"):
        run_campaign(spec, stores=campaign_env.stores)
    assert campaign_env.stores.candidates.count_documents({}) == 0
