"""``genflow db`` against a real embedded server in a temporary data dir."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from genflow.cli import app
from genflow.core.embedded import free_port

runner = CliRunner()


@pytest.mark.slow
def test_db_start_status_stop_cycle(tmp_path, monkeypatch):
    monkeypatch.delenv("GENFLOW_DB_URI", raising=False)
    monkeypatch.setenv("GENFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GENFLOW_EMBEDDED_PORT", str(free_port()))
    monkeypatch.setenv("GENFLOW_CONFIG_FILE", str(tmp_path / "none.yaml"))

    down = runner.invoke(app, ["db", "status", "--json"])
    assert down.exit_code == 0, down.output
    assert json.loads(down.output)["reachable"] is False

    started = runner.invoke(app, ["db", "start", "--json"])
    assert started.exit_code == 0, started.output
    assert json.loads(started.output)["uri"].startswith("mongodb://127.0.0.1:")

    up = json.loads(runner.invoke(app, ["db", "status", "--json"]).output)
    assert up["reachable"] is True and up["pid"] is not None
    assert up["storage"] == str(tmp_path / "secantus")

    stopped = runner.invoke(app, ["db", "stop", "--json"])
    assert json.loads(stopped.output) == {"stopped": True}
    assert runner.invoke(app, ["db", "status"]).exit_code == 1
