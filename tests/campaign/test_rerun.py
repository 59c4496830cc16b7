"""``genflow campaign failures`` and ``campaign rerun`` (issue 22): relax failures grouped by
reason and rerun with edited settings, the way the campaign ran (here or as FireWorks), each
candidate scored once, history kept.

The failures are real rows: a candidate rejected by ``record_and_score`` when its relax job
produced nothing (what a killed or fizzled job leaves), beside a gate rejection. The reruns run
a real CHGNet relax+static (locally, and through ``rlaunch`` for FireWorks).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.io import read
from pymatgen.core import Structure
from typer.testing import CliRunner

from genflow.campaign.ledger import claim_campaign, set_state
from genflow.campaign.rerun import failure_groups, rerun_failures
from genflow.campaign.spec import CampaignSpec
from genflow.core.candidates import (
    Candidate,
    CandidateState,
    StateUpdate,
    by_id,
    insert_candidates,
    update_states,
)
from tests.campaign.conftest import structures_spec_dict

DATA = Path(__file__).parent / "data"


def _campaign(stores, name: str, mode: str) -> None:
    spec = CampaignSpec.model_validate(structures_spec_dict(["NaCl.cif"], name=name))
    claim_campaign(stores, spec, name, mode)
    set_state(stores, name, "completed" if mode == "local" else "submitted")


def _failed(stores, name: str, index: int, uuids: list[str] | None = None, structure=None) -> str:
    """A candidate whose relax job produced nothing: rejected ``relax_failed``."""
    from genflow.workflows.score import record_and_score

    structure = structure or Structure.from_file(DATA / "NaCl.cif")
    prov = {"model_name": "import", "checkpoint_hash": "x", "conditioning": {}}
    cand = Candidate.from_structure(structure, name, prov, seed=0, index=index)
    insert_candidates(stores.candidates, [cand])
    update_states(stores.candidates, [StateUpdate(cand.candidate_id, CandidateState.GATED)])
    results = {cand.candidate_id: {"output": None, "task_uuid": None, "uuids": uuids or []}}
    record_and_score(stores, results, hulls=["mp2021"], engine="mlip")
    return cand.candidate_id


def _gate_rejected(stores, name: str) -> str:
    structure = Structure.from_file(DATA / "Si.cif")
    prov = {"model_name": "import", "checkpoint_hash": "x", "conditioning": {}}
    cand = Candidate.from_structure(structure, name, prov, seed=0, index=99)
    insert_candidates(stores.candidates, [cand])
    reason = {"reject_reason": "duplicate: duplicate of batch gf-x"}
    update_states(stores.candidates, [StateUpdate(cand.candidate_id, "rejected", reason)])
    return cand.candidate_id


def _cli(*args: str):
    from genflow.cli import app

    return CliRunner().invoke(app, list(args))


def test_failures_grouped_by_reason_and_dry_run_changes_nothing(campaign_env):
    stores = campaign_env.stores
    _campaign(stores, "rr-dry", "local")
    ids = [_failed(stores, "rr-dry", i) for i in range(2)]
    dup = _gate_rejected(stores, "rr-dry")

    groups = failure_groups(stores, "rr-dry")
    assert [(g["code"], g["count"], g["rerunnable"]) for g in groups] == [
        ("relax_failed", 2, 2),
        ("duplicate", 1, 0),
    ]
    out = _cli("campaign", "failures", "rr-dry", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["groups"][0]["count"] == 2

    before = list(stores.candidates.find({}, {"_id": 0}))
    out = _cli("campaign", "rerun", "rr-dry", "--reason", ".", "--set", "relax.steps=3",
               "--dry-run", "--json")  # fmt: skip
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert sorted(report["selected"]) == sorted(ids) and dup in report["skipped"]
    assert report["settings"] == {"relax.steps": 3}
    assert list(stores.candidates.find({}, {"_id": 0})) == before  # nothing written

    bad = _cli("campaign", "rerun", "rr-dry", "--reason", ".", "--set", "relax.steps=-1")
    assert bad.exit_code == 2 and "steps" in bad.output
    assert _cli("campaign", "rerun", "nosuch", "--reason", ".").exit_code == 1


def test_local_rerun_waits_for_no_one_while_the_campaign_runs(campaign_env):
    """A local rerun takes the campaign's lease first: with a runner holding it, nothing is
    reopened and the rerun names the holder (CLI exit 4)."""
    from genflow.campaign.lease import LeaseHeldError, acquire_lease

    stores = campaign_env.stores
    _campaign(stores, "rr-held", "local")
    cid = _failed(stores, "rr-held", 0)
    with acquire_lease(stores, "rr-held"):
        with pytest.raises(LeaseHeldError):
            rerun_failures(stores, "rr-held", "relax_failed", ["relax.steps=3"])
        assert _cli("campaign", "rerun", "rr-held", "--reason", "relax").exit_code == 4
    doc = stores.candidates.find_one(by_id(cid))
    assert doc["state"] == "rejected" and len(doc["history"]) == 3


@pytest.mark.slow
def test_local_rerun_by_reason_with_an_edited_setting(campaign_env, tmp_path):
    """Must show: the relax failures rerun with relax.steps=3 (the spec said 100), scored once."""
    stores = campaign_env.stores
    _campaign(stores, "rr-local", "local")
    cid = _failed(stores, "rr-local", 0)
    dup = _gate_rejected(stores, "rr-local")
    root = tmp_path / "runs"

    report = rerun_failures(
        stores, "rr-local", r"relax_failed: mlip",
        ["relax.steps=3", "relax.fmax=0.0001"], root_dir=root,
    )  # fmt: skip
    assert report.reopened == [cid] and report.mode == "local"
    assert dup not in report.selected

    doc = stores.candidates.find_one(by_id(cid))
    assert doc["state"] == "scored" and doc["scores"]["mp2021"]["error"] is None
    states = [h["state"] for h in doc["history"]]
    assert states == ["generated", "gated", "rejected", "gated", "relaxed", "scored"]
    note = doc["history"][3]["note"]
    assert f"rerun {report.rerun_id}" in note and "relax.steps=3" in note
    assert "was: relax_failed: mlip" in note
    # the relax ran the edited 3 steps: its per-step trajectory has the start + 3 frames
    trajs = list(root.rglob("relax_checkpoint.traj"))
    assert len(trajs) == 1 and len(read(trajs[0], ":")) == 4
    # recorded on the campaign; the gate decision untouched; a second rerun finds nothing
    camp = stores.campaigns.find_one({"name": "rr-local"})
    assert camp["reruns"][0]["candidates"] == [cid]
    assert stores.candidates.find_one(by_id(dup))["state"] == "rejected"
    again = rerun_failures(stores, "rr-local", "relax_failed", ["relax.steps=3"], root_dir=root)
    assert again.selected == [] and again.reopened == []


@pytest.mark.slow
def test_fireworks_rerun_with_edited_spec_and_walltime(campaign_env):
    """A FireWorks campaign's failures rerun as a workflow whose relax fireworks carry the
    edited settings and walltime; rlaunch runs it; the candidate is scored once."""
    stores = campaign_env.stores
    _campaign(stores, "rr-fw", "fireworks")
    cid = _failed(stores, "rr-fw", 0)

    report = rerun_failures(
        stores, "rr-fw", "relax_failed",
        ["relax.steps=3", "fw._queueadapter.walltime=48:00:00"],
    )  # fmt: skip
    assert report.mode == "fireworks" and report.reopened == [cid] and report.fw_ids
    lpad = stores.launchpad
    wf = lpad.workflows.find_one({"metadata.genflow_rerun": report.rerun_id})
    assert wf is not None and sorted(wf["nodes"]) == report.fw_ids
    relax_fws = list(lpad.fireworks.find({"fw_id": {"$in": report.fw_ids}, "name": "CHGNet relax"}))
    assert len(relax_fws) == 1
    spec = relax_fws[0]["spec"]
    assert spec["_queueadapter"] == {"walltime": "48:00:00"} and spec["_category"] == "hpc"
    maker = spec["_tasks"][0]["job"]["function"]["@bound"]
    assert maker["steps"] == 3
    assert stores.candidates.find_one(by_id(cid))["state"] == "gated"

    campaign_env.run("hpc")
    campaign_env.run("cpu")
    doc = stores.candidates.find_one(by_id(cid))
    assert doc["state"] == "scored", campaign_env.last_log()
    assert [h["state"] for h in doc["history"]].count("scored") == 1


# A CHGNet relax that cannot converge (fmax 1e-6) on a strained, displaced NaCl cell, run as
# its own process the way a worker runs it; argv: start structure, root dir, uuid file.
KILLED_RELAX = """
import sys
from pathlib import Path
from jobflow import run_locally
from pymatgen.core import Structure
from genflow.workflows.relax import relax_static_maker
job = relax_static_maker("mlip", fmax=1e-6, steps=5000).relax_maker.make(
    Structure.from_file(sys.argv[1]))
Path(sys.argv[3]).write_text(job.uuid)
run_locally(job, create_folders=True, root_dir=sys.argv[2], log=False)
"""


@pytest.mark.slow
def test_rerun_resumes_a_killed_relax_from_its_last_geometry(campaign_env, tmp_path):
    """Must show (force fields): a real CHGNet relax SIGTERMed after a few ionic steps reruns
    from its last trajectory frame, and the candidate's history says so."""
    from genflow.workflows.restart import CHECKPOINT_TRAJ

    stores = campaign_env.stores
    _campaign(stores, "rr-kill", "local")
    start = Structure.from_file(DATA / "NaCl.cif")
    start.scale_lattice(start.volume * 1.08)
    start.translate_sites([0], [0.08, 0.05, 0.0], frac_coords=False)
    start.to(filename=str(tmp_path / "start.json"))
    root, uuid_file = tmp_path / "runs", tmp_path / "uuid"
    script = [sys.executable, "-c", KILLED_RELAX, str(tmp_path / "start.json"), str(root)]
    proc = subprocess.Popen([*script, str(uuid_file)], env=campaign_env.env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        trajs = list(root.rglob(CHECKPOINT_TRAJ))
        try:
            n_frames = len(read(trajs[0], ":")) if trajs else 0
        except Exception:  # a frame being written
            n_frames = 0
        if n_frames >= 4:  # start + 3 ionic steps
            proc.send_signal(signal.SIGTERM)  # what SLURM sends at the walltime
            break
        time.sleep(0.5)
    assert proc.wait(timeout=60) == -signal.SIGTERM, "the relax ended before it was killed"
    (killed_traj,) = root.rglob(CHECKPOINT_TRAJ)
    killed = read(killed_traj, ":")
    assert len(killed) >= 4
    cid = _failed(stores, "rr-kill", 0, uuids=[uuid_file.read_text()], structure=start)

    report = rerun_failures(stores, "rr-kill", "relax_failed", ["relax.steps=2"], root_dir=root)
    assert report.reopened == [cid]
    assert report.resumed == {cid: str(killed_traj)}
    doc = stores.candidates.find_one(by_id(cid))
    assert doc["state"] == "scored"
    note = doc["history"][3]["note"]
    assert f"resumed from last geometry: trajectory {killed_traj}" in note
    assert f"ionic step {len(killed) - 1}" in note
    # the rerun's relax started where the killed one stopped, not at the start
    (resumed_traj,) = (root / f"rerun-{report.rerun_id}").rglob(CHECKPOINT_TRAJ)
    first = read(resumed_traj, 0)
    assert np.allclose(first.cell[:], killed[-1].cell[:], atol=1e-5)
    assert np.allclose(first.positions, killed[-1].positions, atol=1e-5)
    assert not np.allclose(first.cell[:], killed[0].cell[:], atol=1e-3)


def test_fireworks_rerun_resumes_from_the_launch_dirs_contcar(campaign_env, tmp_path):
    """A FireWorks relax stopped mid-run: its launch directory (found through the LaunchPad
    by the job's uuid) holds a CONTCAR; the rerun's workflow starts from it."""
    import shutil

    from pymatgen.io.vasp import Poscar

    stores = campaign_env.stores
    lpad = stores.launchpad
    _campaign(stores, "rr-fwdir", "fireworks")
    launch_dir = tmp_path / "launcher_2026-12-06-00-00-00-000000"
    launch_dir.mkdir()
    ref = Path(__file__).parents[1] / "test_data/vasp/Si_mp_gga_relax/GGA_Relax_1/outputs"
    shutil.copy(ref / "CONTCAR.gz", launch_dir / "CONTCAR.gz")
    # what FireWorks stored for the killed relax: its firework (jobflow's job in the spec)
    lpad.fireworks.insert_one(
        {"fw_id": 9001, "state": "FIZZLED", "launches": [77],
         "spec": {"_tasks": [{"job": {"uuid": "u-killed"}}]}}
    )  # fmt: skip
    lpad.launches.insert_one({"launch_id": 77, "fw_id": 9001, "launch_dir": str(launch_dir)})
    cid = _failed(stores, "rr-fwdir", 0, uuids=["u-killed", "u-static"])

    report = rerun_failures(stores, "rr-fwdir", "relax_failed", [])
    assert report.resumed == {cid: str(launch_dir / "CONTCAR.gz")}
    note = stores.candidates.find_one(by_id(cid))["history"][-1]["note"]
    assert "resumed from last geometry: CONTCAR" in note
    relax = lpad.fireworks.find_one({"fw_id": {"$in": report.fw_ids}, "name": "CHGNet relax"})
    start = Structure.from_dict(relax["spec"]["_tasks"][0]["job"]["function_args"][0])
    assert start == Poscar.from_file(launch_dir / "CONTCAR.gz").structure
