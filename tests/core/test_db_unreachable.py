"""Database unreachable (issue 22): every command fails within ``DB_TIMEOUT_S``, one line.

Before: ``genflow hits --json`` and ``campaign run`` waited about 180 s (the retry budget of
running jobs), then ended in a traceback with no JSON error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genflow.core.embedded import free_port
from genflow.core.retry import retry_call
from genflow.core.store import DatabaseUnreachableError, connect, redact_uri

DATA = Path(__file__).parents[1] / "campaign" / "data"
TIMEOUT_S = 2.0


@pytest.fixture
def dead_env(tmp_path) -> dict[str, str]:
    """Environment pointing genflow at a port where nothing listens (with a password)."""
    return {
        **os.environ,
        "GENFLOW_DB_URI": f"mongodb://ann:s3cret@127.0.0.1:{free_port()}/genflow",
        "GENFLOW_DB_TIMEOUT_S": str(TIMEOUT_S),
        "GENFLOW_DATA_DIR": str(tmp_path / "data"),
        "GENFLOW_CONFIG_FILE": str(tmp_path / "none.yaml"),
    }


def _genflow(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "genflow.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc, time.monotonic() - start


def _spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(
        f"name: down\ngenerator: {{kind: structures, structures: [{DATA / 'NaCl.cif'}]}}\n"
    )
    return path


def test_hits_json_gives_a_json_error_fast(dead_env):
    proc, took = _genflow(["hits", "--json"], dead_env)
    assert proc.returncode == 3, proc.stderr
    assert took < TIMEOUT_S + 8  # the wait, plus interpreter start-up; not ~180 s
    error = json.loads(proc.stdout)
    assert error["error"] == "database_unreachable"
    assert error["uri"].startswith("mongodb://ann:***@127.0.0.1:")
    assert "s3cret" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args",
    [["campaign", "run", "SPEC"], ["campaign", "status", "down"], ["hits"], ["trace", "x"]],
)
def test_every_command_says_one_line(dead_env, tmp_path, args):
    args = [str(_spec(tmp_path)) if a == "SPEC" else a for a in args]
    proc, took = _genflow(args, dead_env)
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert took < TIMEOUT_S + 8
    # one error line, last; what comes before it are the stage lines a slow start prints
    # ("reading SPEC…", "connecting to the database…"), never a traceback or a second error
    *stages, error = proc.stderr.strip().splitlines()
    assert error.startswith("error: database unreachable: "), proc.stderr
    assert all(line.endswith("…") and "error" not in line for line in stages), stages
    assert "ann:***@127.0.0.1" in error and "GENFLOW_DB_URI" in error
    assert "s3cret" not in proc.stderr


def test_connect_is_not_retried(dead_env, monkeypatch):
    """A command's connect fails once; running jobs' retry_call does not wait it out."""
    monkeypatch.setenv("GENFLOW_DB_TIMEOUT_S", "0.5")
    calls = []

    def once():
        calls.append(1)
        return connect(uri=dead_env["GENFLOW_DB_URI"])

    with pytest.raises(DatabaseUnreachableError, match=r"within 0\.5 s"):
        retry_call(once, what="connect", budget_s=30)
    assert len(calls) == 1


def test_redact_uri_keeps_user_masks_password():
    assert redact_uri("mongodb://u:p@h:1/db") == "mongodb://u:***@h:1/db"
    assert redact_uri("mongodb://h:1/db") == "mongodb://h:1/db"
    assert redact_uri("mongodb+srv://u@h/db") == "mongodb+srv://u@h/db"
