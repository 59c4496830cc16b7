"""jobflow JobStore (docs + GridFS data store) and FireWorks LaunchPad on SecantusDB."""

from __future__ import annotations

from pathlib import Path

import bson
import numpy as np
import pytest
from jobflow import Flow, job, run_locally

pytestmark = pytest.mark.timeout(300)

N_BIG = 1_100_000  # float64 values: ~21 MB as JSON, beyond MongoDB's 16 MB document limit


@job(data="trajectory")
def simulate(n: int, seed: int) -> dict:
    """A job whose large output goes to the JobStore's "data" (GridFS) store, like atomate2's."""
    values = np.random.default_rng(seed).normal(size=n)
    return {"energy_per_atom": float(values.mean()), "trajectory": values}


@job
def add(a: float, b: float) -> float:
    return a + b


def test_job_output_with_large_array_goes_to_gridfs(stores, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    big = simulate(N_BIG, seed=1)
    small = add(big.output["energy_per_atom"], 1.0)
    responses = run_locally(Flow([big, small]), store=stores.job_store, ensure_success=True)
    assert responses[small.uuid][1].output == pytest.approx(
        responses[big.uuid][1].output["energy_per_atom"] + 1
    )

    raw = stores.db["outputs"].find_one({"uuid": big.uuid})
    assert len(bson.encode(raw)) < 64_000  # the task document only holds a reference
    ref = raw["output"]["trajectory"]
    assert ref["store"] == "data" and ref["blob_uuid"]
    files = stores.db["outputs_blobs.files"].find_one({"metadata.blob_uuid": ref["blob_uuid"]})
    assert files["length"] > 16 * 1024 * 1024 and files["metadata"]["job_uuid"] == big.uuid

    doc = stores.job_store.query_one({"uuid": big.uuid}, load=True)
    expected = np.random.default_rng(1).normal(size=N_BIG)
    np.testing.assert_array_equal(np.asarray(doc["output"]["trajectory"]), expected)
    assert stores.job_store.get_output(small.uuid) == pytest.approx(expected.mean() + 1)

    # A second connection (another worker) reads the same results through the same URI.
    from genflow.core.store import connect

    with connect(uri=stores.uri, db_name=stores.db_name) as other:
        assert other.job_store.get_output(big.uuid)["energy_per_atom"] == pytest.approx(
            expected.mean()
        )


def test_launchpad_add_and_run_workflow(stores, tmp_path: Path, monkeypatch) -> None:
    """A jobflow Flow becomes a FireWorks workflow, is fetched and run by a rocket."""
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import rapidfire
    from jobflow.managers.fireworks import flow_to_workflow

    monkeypatch.chdir(tmp_path)
    first = add(1.0, 2.0)
    second = add(first.output, 10.0)
    for j, category in ((first, "cpu"), (second, "cpu")):
        j.update_config({"manager_config": {"_category": category}})
    wf = flow_to_workflow(Flow([first, second]), store=stores.make_job_store())
    lpad = stores.launchpad
    mapping = lpad.add_wf(wf)
    assert len(mapping) == 2
    fw_ids = sorted(mapping.values())
    assert {lpad.get_fw_by_id(i).spec["_category"] for i in fw_ids} == {"cpu"}
    assert sorted(lpad.get_fw_by_id(i).state for i in fw_ids) == ["READY", "WAITING"]

    # Ids keep counting across LaunchPad handles (counters were not reset by connect()).
    from genflow.core.store import connect

    with connect(uri=stores.uri, db_name=stores.db_name) as other:
        assert max(other.launchpad.add_wf(flow_to_workflow(add(0.0, 0.0))).values()) > max(fw_ids)

    # A worker in another category finds nothing; the cpu worker runs both fireworks.
    rapidfire(lpad, FWorker(name="tpu-worker", category="tpu"), max_loops=1, sleep_time=0)
    assert sorted(lpad.get_fw_by_id(i).state for i in fw_ids) == ["READY", "WAITING"]
    rapidfire(lpad, FWorker(name="cpu-worker", category="cpu"), max_loops=3, sleep_time=0)
    states = {lpad.get_fw_by_id(i).state for i in fw_ids}
    assert states == {"COMPLETED"}
    assert stores.job_store.get_output(second.uuid) == 13.0
