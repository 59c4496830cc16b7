"""Unattended runs stay quiet and every run talks from its first second (issue 23).

Run as cron, ``rlaunch`` or a script would run them: in subprocesses without a terminal. Their
stderr carries stage lines ("loading MLIP CHGNet…") and nothing else: no tqdm/rich bars, no
library warnings; those land in the run's log file. The switch is
:func:`genflow.core.progress.interactive`, overridable with ``GENFLOW_INTERACTIVE``.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from genflow.core import progress

BAR_MARKS = ("it/s", "█", "━", "%|")
WARNING_MARKS = ("Warning:", "warnings.warn", "initialized with")


def _quiet(stderr: str) -> list[str]:
    """Lines of ``stderr`` that are bars or library warnings (stage lines end with '…')."""
    return [
        line for line in stderr.splitlines() if any(m in line for m in BAR_MARKS + WARNING_MARKS)
    ]


def _run_timed(cmd: list[str], env: dict, cwd: Path | None = None, timeout: float = 600):
    """Run without a terminal; return (seconds to the first stderr line, stdout, stderr, rc)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first = proc.stderr.readline()
    first_s = time.monotonic() - start
    out, err = proc.communicate(timeout=timeout)
    return first_s, out, first + err, proc.returncode


def _genflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "genflow.cli", *args]


def _rlaunch(env, category: str, cwd: Path) -> subprocess.CompletedProcess:
    """FireWorks' ``rlaunch rapidfire`` for one category, as a cron job would run it."""
    code = "import sys; from fireworks.scripts.rlaunch_run import rlaunch; sys.exit(rlaunch())"
    cmd = [
        sys.executable, "-c", code,
        "-l", str(env.run_dir / "my_launchpad.yaml"),
        "-w", str(env.run_dir / f"fworker_{category}.yaml"),
        "rapidfire", "--sleep", "1",
    ]  # fmt: skip
    return subprocess.run(
        cmd, cwd=cwd, env=env.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_the_switch_is_the_terminal_unless_the_environment_says(monkeypatch):
    monkeypatch.delenv(progress.INTERACTIVE_ENV, raising=False)
    assert not progress.interactive()  # pytest captures stdout: no terminal
    monkeypatch.setenv(progress.INTERACTIVE_ENV, "1")
    assert progress.interactive() and progress.progress_enabled(True)
    monkeypatch.setenv(progress.INTERACTIVE_ENV, "0")
    assert not progress.interactive() and not progress.progress_enabled(True)


def test_stage_lines_reach_the_stream_only_while_asked(tmp_path, caplog):
    import io

    caplog.set_level("INFO", logger="genflow.stage")
    stream = io.StringIO()
    progress.stage("nobody listens")  # a library call outside a command: logged only
    with progress.stage_lines(stream):
        progress.stage("loading MLIP CHGNet")
    progress.stage("after")
    assert stream.getvalue() == "loading MLIP CHGNet…\n"
    assert "nobody listens" in caplog.text and "after" in caplog.text


def test_worker_process_warnings_go_to_the_launch_log(tmp_path):
    """What a genflow job does under rlaunch: warnings to ./genflow.log, none on stderr."""
    code = (
        "import warnings; from jobflow import CURRENT_JOB\n"
        "from genflow.core.progress import quiet_batch_chatter\n"
        "assert not quiet_batch_chatter()  # not in a job: a command's stderr is the user's\n"
        "CURRENT_JOB.job = object()  # what jobflow sets while a job runs\n"
        "assert quiet_batch_chatter()\n"
        "warnings.warn('Converting a tensor with requires_grad=True', UserWarning)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, env={**_env_without_tty_override()},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "UserWarning: Converting a tensor" in (tmp_path / "genflow.log").read_text()


def _env_without_tty_override() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != progress.INTERACTIVE_ENV}


def test_interactive_worker_keeps_warnings_on_screen(monkeypatch):
    monkeypatch.setenv(progress.INTERACTIVE_ENV, "1")
    assert not progress.quiet_batch_chatter()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.warn("visible", UserWarning, stacklevel=1)
    assert seen


@pytest.mark.slow
def test_submit_and_rlaunch_without_a_terminal_print_no_bars_or_warnings(
    campaign_env, structures_spec
):
    """``campaign submit`` + ``rlaunch`` per category, captured as cron would: clean stderr."""
    path = structures_spec(["NaCl.cif"], name="quiet-fw", gate={"prescreen": True})
    env = {k: v for k, v in campaign_env.env.items() if k != progress.INTERACTIVE_ENV}
    campaign_env.env = env
    _, out, err, rc = _run_timed(_genflow("campaign", "submit", str(path)), env)
    assert rc == 0, err
    assert not _quiet(err), err  # FireWorks' tqdm bar went to the log
    assert "added 1 workflow" in out
    log = Path(env["GENFLOW_DATA_DIR"]) / "runs" / "quiet-fw" / "genflow.log"
    assert "it/s" in log.read_text()

    for i, category in enumerate(["gpu", "cpu", "hpc", "cpu"]):
        launch = campaign_env.tmp / f"launch_{i}_{category}"
        launch.mkdir()
        run = _rlaunch(campaign_env, category, launch)
        assert run.returncode == 0, run.stderr[-3000:]
        assert not _quiet(run.stderr), run.stderr[-3000:]
    # CHGNet's torch warnings were written to the launch directories' logs instead
    logs = "".join(p.read_text() for p in campaign_env.tmp.glob("launch_*/**/genflow.log"))
    assert "UserWarning" in logs
    status = subprocess.run(
        _genflow("campaign", "status", "quiet-fw", "--json"), env=env, capture_output=True,
        text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert '"scored": 1' in status.stdout


@pytest.mark.slow
def test_campaign_run_without_a_terminal_talks_at_once_and_quietly(campaign_env, structures_spec):
    path = structures_spec(["NaCl.cif"], name="quiet-run", gate={"prescreen": True})
    env = {k: v for k, v in campaign_env.env.items() if k != progress.INTERACTIVE_ENV}
    first_s, _, err, rc = _run_timed(_genflow("campaign", "run", str(path)), env)
    assert rc == 0, err
    assert first_s < 2.0 or err.startswith("reading "), first_s  # 2 s on an idle machine
    lines = err.splitlines()
    assert lines[0].startswith("reading ") and lines[0].endswith("…")
    assert "loading MLIP CHGNet…" in lines and "building the workflows…" in lines
    assert not _quiet(err), err
    assert all(line.endswith("…") for line in lines), err  # stage lines only
    log = Path(env["GENFLOW_DATA_DIR"]) / "runs" / "quiet-run" / "genflow.log"
    text = log.read_text()
    assert "loading MLIP CHGNet" in text and "UserWarning" in text


@pytest.mark.slow
def test_sample_says_what_it_loads_before_it_loads(tmp_path):
    env = {**_env_without_tty_override(), "OMP_NUM_THREADS": "1"}
    cmd = _genflow("sample", "--n", "1", "--steps", "2", "--composition", "BaTiO3", "--json")
    first_s, _, err, rc = _run_timed(cmd, env)
    assert rc == 0, err
    assert first_s < 5.0, first_s  # 0.5 s measured; CI load leaves room
    assert err.splitlines() == [
        "importing the generator (JAX)…",
        "loading checkpoint perov5…",
        "compiling the sampler (first batch)…",
    ], err
