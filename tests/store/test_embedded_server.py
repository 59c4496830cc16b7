"""The embedded SecantusDB server: start, reuse, crash recovery, stale pid files, clear errors."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from genflow.core import embedded
from genflow.core.embedded import (
    EmbeddedServerError,
    ensure_server,
    free_port,
    ping,
    server_pid,
    stop_server,
)
from genflow.core.settings import get_settings
from genflow.core.store import connect

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def run_dir(tmp_path: Path, mongo_uri: str) -> Path:
    """Run-file directory; depends on mongo_uri only to skip when SecantusDB is missing."""
    return tmp_path / "run"


def _wait_dead(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while embedded._pid_alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still alive"
        time.sleep(0.05)


def test_reuse_running_server(run_dir: Path) -> None:
    port = free_port()
    uri = ensure_server(":memory:", port, run_dir=run_dir)
    try:
        pid = server_pid(port, run_dir)
        assert pid is not None
        assert (run_dir / f"secantusd-{port}.log").exists()
        # Second call: the answering server is reused, no second process.
        t0 = time.perf_counter()
        assert ensure_server(":memory:", port, run_dir=run_dir) == uri
        assert time.perf_counter() - t0 < 5
        assert server_pid(port, run_dir) == pid
        MongoClient(uri).scratch.t.insert_one({"x": 1})
        assert MongoClient(uri).scratch.t.count_documents({}) == 1
    finally:
        assert stop_server(port, run_dir)
    assert not ping(port)
    assert not (run_dir / f"secantusd-{port}.pid").exists()
    assert stop_server(port, run_dir) is False


def test_persistent_store_survives_sigkill(tmp_path: Path, run_dir: Path) -> None:
    """Write, SIGKILL the server, restart on the same directory: the data is still there."""
    storage = tmp_path / "db"
    port = free_port()
    uri = ensure_server(storage, port, run_dir=run_dir)
    try:
        with connect(uri=uri, db_name="persist") as stores:
            stores.candidates.insert_many([{"candidate_id": f"c{i}", "i": i} for i in range(500)])
            stores.campaigns.insert_one({"name": "night-1"})
        pid = server_pid(port, run_dir)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _wait_dead(pid)
        assert not ping(port)
        # The pid file now names a dead process: ensure_server must treat it as stale.
        assert (run_dir / f"secantusd-{port}.pid").exists()
        assert ensure_server(storage, port, run_dir=run_dir) == uri
        new_pid = server_pid(port, run_dir)
        assert new_pid not in (None, pid)
        with connect(uri=uri, db_name="persist") as stores:
            assert stores.candidates.count_documents({}) == 500
            assert stores.candidates.find_one({"candidate_id": "c499"})["i"] == 499
            assert stores.campaigns.find_one({"name": "night-1"}) is not None
            # Indexes survive too, and connect() does not try to re-create them.
            assert "candidate_id_1" in stores.candidates.index_information()
    finally:
        stop_server(port, run_dir)


def test_stale_pid_file_of_unrelated_process(run_dir: Path) -> None:
    """A pid file naming a live but unrelated process (pid reuse) is ignored and replaced."""
    port = free_port()
    run_dir.mkdir(parents=True)
    (run_dir / f"secantusd-{port}.pid").write_text(f"{os.getpid()}\n")
    assert server_pid(port, run_dir) is None
    assert not (run_dir / f"secantusd-{port}.pid").exists()
    (run_dir / f"secantusd-{port}.pid").write_text("not-a-pid\n")
    try:
        ensure_server(":memory:", port, run_dir=run_dir)
        assert server_pid(port, run_dir) not in (None, os.getpid())
    finally:
        stop_server(port, run_dir)


def test_port_taken_by_non_mongo_process(run_dir: Path) -> None:
    """Something else listens on the port: the server exits and the error names the log."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(EmbeddedServerError) as info:
            ensure_server(":memory:", port, run_dir=run_dir, timeout=20)
    message = str(info.value)
    assert str(run_dir / f"secantusd-{port}.log") in message
    assert f"127.0.0.1:{port}" in message


def test_missing_executable_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run_dir: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(embedded.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(EmbeddedServerError, match=r"pip install 'genflow\[embedded\]'"):
        ensure_server(":memory:", free_port(), run_dir=run_dir)


def test_connect_without_uri_starts_embedded_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run_dir: Path
) -> None:
    """No GENFLOW_DB_URI: connect() starts a persistent server under DATA_DIR and reuses it."""
    port = free_port()
    monkeypatch.delenv("GENFLOW_DB_URI", raising=False)
    monkeypatch.setenv("GENFLOW_CONFIG_FILE", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("GENFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENFLOW_EMBEDDED_PORT", str(port))
    settings = get_settings()
    try:
        with connect(settings) as stores:
            assert stores.db_name == "genflow"
            assert f":{port}/" in stores.uri
            stores.campaigns.insert_one({"name": "a"})
        assert (tmp_path / "data" / "secantus").is_dir()
        assert server_pid(port, tmp_path / "data") is not None
        with connect(settings) as stores:  # reuse, same data
            assert stores.campaigns.count_documents({"name": "a"}) == 1
    finally:
        stop_server(port, tmp_path / "data")


def test_connect_uri_database_and_redaction(mongo_uri: str) -> None:
    base = mongo_uri.split("/?")[0]
    with connect(uri=f"{base}/fromuri?directConnection=true") as stores:
        assert stores.db_name == "fromuri"
        stores.client.drop_database("fromuri")
    from genflow.core.store import redact_uri

    assert redact_uri("mongodb://u:secret@h:1/db") == "mongodb://u:***@h:1/db"
