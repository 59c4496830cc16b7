"""One runner per campaign (issue 22): the lease, its heartbeat, expiry and takeover.

Probes: two identical ``genflow campaign run`` started together both ran the whole pipeline
(twice the relax outputs, no message); a run killed mid-way left ``campaign status`` saying
``running`` with no hint. Tested with threads and real processes on the SecantusDB server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from genflow.campaign import runner
from genflow.campaign.lease import LeaseHeldError, acquire_lease, lease_info
from genflow.campaign.spec import load_spec
from genflow.campaign.status import campaign_report
from genflow.cli import app

BEAT_S = 0.2  # heartbeat; expiry = 3 beats


@pytest.fixture(autouse=True)
def fast_lease(monkeypatch):
    monkeypatch.setenv("GENFLOW_LEASE_HEARTBEAT_S", str(BEAT_S))
    monkeypatch.setenv("GENFLOW_LEASE_MISSED_BEATS", "3")


def test_second_acquire_says_who_holds_it(stores):
    with acquire_lease(stores, "c1") as first:
        with pytest.raises(LeaseHeldError) as info:
            acquire_lease(stores, "c1")
        text = str(info.value)
        assert f"pid {os.getpid()}" in text and "since" in text and "last heartbeat" in text
        assert info.value.holder["host"] and "token" not in info.value.as_dict()["holder"]
        time.sleep(4 * BEAT_S)  # the heartbeat keeps a slow run's lease alive
        assert lease_info(stores, "c1")["alive"]
        assert not first.lost
    info_after = lease_info(stores, "c1")
    assert info_after["holder"] is None and info_after["last_holder"]["pid"] == os.getpid()
    with acquire_lease(stores, "c1"):  # free again
        pass


def test_racing_threads_get_one_lease(stores):
    barrier = threading.Barrier(8)
    won, refused = [], []

    def race() -> None:
        barrier.wait()
        try:
            won.append(acquire_lease(stores, "race"))
        except LeaseHeldError:
            refused.append(1)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7
    won[0].release()


def test_wait_blocks_until_the_holder_releases(stores):
    held = acquire_lease(stores, "w")
    threading.Timer(1.0, held.release).start()
    told = []
    start = time.monotonic()
    with acquire_lease(stores, "w", wait=True, on_wait=told.append):
        assert time.monotonic() - start >= 0.9
    assert len(told) == 1 and isinstance(told[0], LeaseHeldError)


_HOLDER = """
import sys, time
from genflow.core.store import connect
from genflow.campaign.lease import acquire_lease
lease = acquire_lease(connect(uri=sys.argv[1], db_name=sys.argv[2]), sys.argv[3])
print("held", flush=True)
time.sleep(600)
"""


def _hold_in_process(stores, name: str, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, stores.uri, stores.db_name, name],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_killed_holder_is_interrupted_then_taken_over(stores, monkeypatch):
    """Another process holds the lease; SIGKILL it: status says interrupted, next run takes it."""
    env = {**os.environ}
    proc = _hold_in_process(stores, "k", env)
    try:
        with pytest.raises(LeaseHeldError, match=f"pid {proc.pid} "):
            acquire_lease(stores, "k")
        stores.campaigns.insert_one({"name": "k", "state": "running", "mode": "local"})
        assert campaign_report(stores, "k")["state"] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(4 * BEAT_S)
    report = campaign_report(stores, "k")
    assert report["state"] == "interrupted"
    assert report["runner"]["alive"] is False and report["runner"]["holder"]["pid"] == proc.pid
    assert "genflow campaign run" in report["hint"] and str(proc.pid) in report["hint"]
    monkeypatch.setenv("GENFLOW_DB_URI", stores.uri)
    monkeypatch.setenv("GENFLOW_DB_NAME", stores.db_name)
    shown = CliRunner().invoke(app, ["campaign", "status", "k"])
    assert "state: interrupted" in shown.output and f"pid {proc.pid}" in shown.output
    with acquire_lease(stores, "k") as lease:
        assert lease.took_over["pid"] == proc.pid
        assert campaign_report(stores, "k")["state"] == "running"


def test_running_without_any_lease_is_interrupted(stores):
    stores.campaigns.insert_one({"name": "old", "state": "running", "mode": "local"})
    report = campaign_report(stores, "old")
    assert report["state"] == "interrupted" and "no runner holds it" in report["hint"]


def test_two_run_campaign_threads_one_runs(stores, structures_spec, monkeypatch, tmp_path):
    """Two identical local runs started together: one runs, the other says who and stops."""
    started, go = threading.Event(), threading.Event()
    ran = []

    def fake_run_flows(flows, name, stores_, root, outcome):  # the pipeline, minus the work
        ran.append(name)
        started.set()
        go.wait(30)
        outcome["responses"] = {}

    monkeypatch.setattr(runner, "_run_flows", fake_run_flows)
    spec = load_spec(structures_spec(["NaCl.cif"], name="twice"))
    results: dict[str, object] = {}

    def run(tag: str) -> None:
        try:
            results[tag] = runner.run_campaign(spec, stores=stores, root_dir=tmp_path / tag)
        except Exception as exc:  # compared below
            results[tag] = exc

    first = threading.Thread(target=run, args=("a",))
    first.start()
    assert started.wait(30)
    second = threading.Thread(target=run, args=("b",))
    second.start()
    second.join(30)
    assert isinstance(results["b"], LeaseHeldError), results
    assert "campaign 'twice' is being run by host" in str(results["b"])
    go.set()
    first.join(30)
    assert results["a"].report["state"] == "completed"
    assert ran == ["twice"]  # the pipeline ran once
    assert lease_info(stores, "twice")["holder"] is None


def test_cli_second_run_exits_4_naming_the_holder(campaign_env, structures_spec):
    spec = structures_spec(["NaCl.cif"], name="busy")
    proc = _hold_in_process(campaign_env.stores, "busy", campaign_env.env)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "genflow.cli", "campaign", "run", str(spec), "--json"],
            env=campaign_env.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        proc.kill()
        proc.wait()
    assert out.returncode == 4, out.stderr
    error = json.loads(out.stdout)
    assert error["error"] == "campaign_running" and error["holder"]["pid"] == proc.pid
    assert f"pid {proc.pid}" in out.stderr and "Traceback" not in out.stderr
    stores = campaign_env.stores  # the second run wrote nothing
    assert stores.candidates.count_documents({}) == 0 and stores.campaigns.count_documents({}) == 0
