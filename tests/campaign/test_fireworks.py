"""The FireWorks path on SecantusDB with real ``rlaunch`` processes per category.

Each test submits a spec with ``genflow campaign submit`` semantics, then runs FireWorks' own
``rlaunch`` in separate processes with the fworker files rendered from ``deploy/``. Structures
are imported (``generator.kind: structures``) and relaxed with CHGNet (mlip engine) so that a
whole campaign fits in about a minute on one core.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genflow.campaign.hits import find_hits, trace_hit
from genflow.campaign.spec import load_spec
from genflow.campaign.status import campaign_report
from genflow.campaign.submit import submit_campaign

pytestmark = pytest.mark.slow

GOOD = ["NaCl.cif", "Si.cif", "MgO.cif"]


def _fw_states(lpad) -> dict[str, int]:
    states: dict[str, int] = {}
    for fw in lpad.fireworks.find({}, {"state": 1}):
        states[fw["state"]] = states.get(fw["state"], 0) + 1
    return states


def _relax_fws(lpad) -> list[dict]:
    return list(lpad.fireworks.find({"spec._category": "hpc"}))


def _assert_each_job_ran_once(stores) -> None:
    """Every Firework has one COMPLETED launch and every job one output document."""
    lpad = stores.launchpad
    for fw in lpad.fireworks.find({}, {"fw_id": 1, "launches": 1, "state": 1, "name": 1}):
        assert fw["state"] == "COMPLETED", fw
        done = lpad.launches.count_documents({"fw_id": fw["fw_id"], "state": "COMPLETED"})
        assert done == 1, f"fw {fw['fw_id']} {fw['name']}: {done} completed launches"
    per_job = list(stores.db["outputs"].aggregate([{"$group": {"_id": "$uuid", "n": {"$sum": 1}}}]))
    assert per_job and all(row["n"] == 1 for row in per_job), per_job


def _assert_scored_once(stores, campaign: str, n: int) -> None:
    docs = list(stores.candidates.find({"campaign": campaign}))
    assert len(docs) == n
    for doc in docs:
        assert doc["state"] == "scored", (
            doc["candidate_id"],
            doc["state"],
            doc.get("reject_reason"),
        )
        states = [h["state"] for h in doc["history"]]
        assert states.count("relaxed") == 1 and states.count("scored") == 1, states
        assert doc["relax"]["engine"] == "mlip" and doc["relax"]["mp_compatible"]


def test_submit_then_rlaunch_per_category_gives_hits(campaign_env, structures_spec):
    stores = campaign_env.stores
    spec = load_spec(structures_spec(GOOD, name="fw-full"))
    report = submit_campaign(spec, stores=stores)
    assert len(report.added) == 1

    campaign_env.run("gpu")  # import structures (the generator's category)
    assert stores.candidates.count_documents({"campaign": "fw-full"}) == 3
    campaign_env.run("cpu")  # gate + fan-out: adds 3 relax+static flows and a score job
    relax = _relax_fws(stores.launchpad)
    assert len(relax) == 6  # relax + static per survivor, all routed to hpc
    # Two hpc launchers at once: FireWorks' atomic checkout must not run anything twice.
    procs = [campaign_env.rlaunch("hpc") for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, campaign_env.last_log()
    campaign_env.run("cpu")  # score

    assert _fw_states(stores.launchpad) == {"COMPLETED": 10}  # import, gate, fan-out, 3×2, score
    _assert_each_job_ran_once(stores)
    _assert_scored_once(stores, "fw-full", 3)
    status = campaign_report(stores, "fw-full")
    assert status["fireworks"] == {"states": {"COMPLETED": 10}, "fizzled": []}
    assert status["state"] == "completed"  # followed from the fireworks, no local runner
    assert status["counts"]["scored"] == 3 and status["throughput"]["scored_per_hour"] > 0
    hits = find_hits(stores, hull="mp2021", max_ed=0.1, campaign="fw-full")
    assert [h["candidate_id"] for h in status["hits"]] == [h.candidate_id for h in hits]
    assert hits, "known ground states should be within 0.1 eV/atom of the MP hull with CHGNet"
    trace = trace_hit(stores, hits[0].candidate_id, hull="mp2021")
    assert not trace.problems, trace.problems
    assert trace.task_doc["uuid"] == hits[0].task_uuid
    assert trace.checkpoint["model_name"] == "import"


def test_sigkilled_launcher_is_detected_and_rerun_once(campaign_env, structures_spec):
    stores = campaign_env.stores
    lpad = stores.launchpad
    spec = load_spec(structures_spec(["NaCl.cif"], name="fw-kill"))
    submit_campaign(spec, stores=stores)
    campaign_env.run("gpu")
    campaign_env.run("cpu")
    (relax_fw,) = [fw for fw in _relax_fws(lpad) if fw["state"] == "READY"]  # static waits
    assert relax_fw["name"] == "CHGNet relax"

    proc = campaign_env.rlaunch("hpc", mode="singleshot")
    deadline = time.monotonic() + 120
    # Wait until the relax itself is executing (CHGNet loading/optimising), then kill -9.
    while "Starting job - CHGNet relax" not in campaign_env.last_log():
        assert proc.poll() is None, campaign_env.last_log()
        assert time.monotonic() < deadline, "relax never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-relax: no output, no launch update
    assert lpad.fireworks.find_one({"fw_id": relax_fw["fw_id"]})["state"] == "RUNNING"
    proc.wait()
    job_uuid = relax_fw["spec"]["_tasks"][0]["job"]["uuid"]
    assert stores.db["outputs"].count_documents({"uuid": job_uuid}) == 0

    # Lost-run detection with FireWorks' CLI, as deploy/README.md documents it; a zero
    # expiration makes the dead launch (no more pings) lost right away.
    lpad_cli = [
        str(Path(sys.executable).parent / "lpad"),
        "-l",
        str(campaign_env.run_dir / "my_launchpad.yaml"),
    ]
    out = subprocess.run(
        [*lpad_cli, "detect_lostruns", "--time", "0", "--rerun"],
        env=campaign_env.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "Lost FireWorks: 1" in out.stdout
    assert f"lost FWs: [{relax_fw['fw_id']}]" in out.stdout + out.stderr
    assert lpad.fireworks.find_one({"fw_id": relax_fw["fw_id"]})["state"] == "READY"

    campaign_env.run("hpc")
    campaign_env.run("cpu")
    assert _fw_states(lpad) == {"COMPLETED": 6}  # import, gate, fan-out, relax, static, score
    assert stores.db["outputs"].count_documents({"uuid": job_uuid}) == 1
    launches = list(lpad.launches.find({"fw_id": relax_fw["fw_id"]}, {"state": 1}))
    assert sorted(launch["state"] for launch in launches) == ["COMPLETED", "FIZZLED"]
    _assert_scored_once(stores, "fw-kill", 1)
