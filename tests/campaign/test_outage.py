"""A database that goes away mid-campaign costs a wait, never a result.

The embedded SecantusDB server (on disk, so its data survives) is stopped while a local
campaign runs and started again seconds later on the same port; the campaign must finish
with every candidate relaxed and scored exactly once and every job's output stored once.
"""

from __future__ import annotations

import threading
import time

import pytest

from genflow.campaign.runner import run_campaign
from genflow.campaign.spec import load_spec

FILES = ["NaCl.cif", "Si.cif", "MgO.cif"]
OUTAGE_S = 8.0


@pytest.mark.slow
def test_campaign_finishes_across_a_server_restart(mongo_uri, structures_spec, tmp_path):
    from genflow.core.embedded import ensure_server, free_port, stop_server
    from genflow.core.store import connect

    data, run = tmp_path / "db", tmp_path / "run"
    port = free_port()
    uri = ensure_server(data, port, run_dir=run, timeout=60)
    stores = connect(uri=uri, db_name="outage")
    spec = load_spec(structures_spec(FILES, name="outage", generator={"batch_size": 1}))
    outcome: dict = {}

    def campaign() -> None:
        try:
            outcome["run"] = run_campaign(spec, stores=stores, root_dir=tmp_path / "jobs")
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=campaign)
    worker.start()
    try:
        # Let the first batch get going (candidates stored), then pull the plug.
        deadline = time.monotonic() + 120
        while stores.candidates.count_documents({}) == 0:
            assert time.monotonic() < deadline, "the campaign never inserted a candidate"
            time.sleep(0.2)
        stop_server(port, run)
        down_at = time.monotonic()
        time.sleep(OUTAGE_S)
        ensure_server(data, port, run_dir=run, timeout=60)
        worker.join(timeout=600)
        assert not worker.is_alive(), "campaign still running 10 min after the restart"
        assert "error" not in outcome, repr(outcome.get("error"))
        assert time.monotonic() - down_at >= OUTAGE_S
        report = outcome["run"].as_dict()
        assert not report["failed_jobs"], report["failed_jobs"]
        docs = list(stores.candidates.find({"campaign": "outage"}))
        assert len(docs) == len(FILES)
        for doc in docs:
            states = [h["state"] for h in doc["history"]]
            assert doc["state"] == "scored", (doc["formula"], doc.get("reject_reason"))
            assert states.count("relaxed") == 1 and states.count("scored") == 1, states
        per_job = stores.db["outputs"].aggregate([{"$group": {"_id": "$uuid", "n": {"$sum": 1}}}])
        assert all(row["n"] == 1 for row in per_job)
    finally:
        worker.join(timeout=5)
        stores.close()
        stop_server(port, run)
