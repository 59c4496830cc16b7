"""Start or reuse the embedded SecantusDB server that backs genflow when no MongoDB is configured.

SecantusDB (PyPI ``secantusdb``, the ``genflow[embedded]`` extra) is a MongoDB-compatible server
built on WiredTiger. It is licensed GPL-2.0, so genflow never imports it: this module only runs
its ``secantusd-py`` console script as a separate, detached process and talks to it over the
MongoDB wire protocol with pymongo, exactly as it would talk to a production ``mongod``.

One server is identified by its port. Its run files live in ``run_dir`` (by default
``GenflowSettings.DATA_DIR``):

- ``secantusd-<port>.pid``: pid of the server genflow started (stale files are removed);
- ``secantusd-<port>.log``: the server's stdout/stderr, named in every start-up error;
- ``secantusd-<port>.lock``: a file lock so two genflow processes never start two servers at once.

>>> uri = ensure_server("/tmp/genflow-db", 27417)  # doctest: +SKIP
>>> uri
'mongodb://127.0.0.1:27417/?directConnection=true&journal=true'
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "MEMORY",
    "EmbeddedServerError",
    "ensure_server",
    "find_executable",
    "free_port",
    "ping",
    "server_pid",
    "server_uri",
    "stop_server",
]

MEMORY = ":memory:"
EXECUTABLE = "secantusd-py"
INSTALL_HINT = "pip install 'genflow[embedded]'"
# Long-lived stores keep a bounded oplog: genflow uses no change streams that need history.
DEFAULT_OPLOG_MAX_ENTRIES = 2000

# Servers started by this process, so we can reap them (a dead child stays a zombie that
# os.kill(pid, 0) still reports alive) and avoid "subprocess still running" warnings.
_CHILDREN: dict[int, subprocess.Popen] = {}


class EmbeddedServerError(RuntimeError):
    """The embedded SecantusDB server could not be found, started or reached."""


def server_uri(port: int, host: str = "127.0.0.1") -> str:
    """Return the pymongo URI of a local server.

    ``directConnection=true`` because SecantusDB advertises itself as a one-node replica set;
    a direct connection never depends on the host name it advertises. ``journal=true``
    (write concern ``j``) because with ``j:false`` an acknowledged write can still sit in the
    server's log buffer: in our tests the last write before a SIGKILL was lost every time,
    and never with ``j:true``. Every client built from this URI (pymongo, maggma's stores,
    FireWorks' LaunchPad) inherits it.
    """
    return f"mongodb://{host}:{port}/?directConnection=true&journal=true"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_executable() -> str:
    """Return the path of ``secantusd-py``.

    Looks on ``PATH`` and next to the running interpreter (a venv used without activation).

    Raises
    ------
    EmbeddedServerError
        If the console script is not installed, with the install command.
    """
    found = shutil.which(EXECUTABLE) or shutil.which(
        EXECUTABLE, path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise EmbeddedServerError(
            f"{EXECUTABLE!r} (SecantusDB, the embedded database) is not installed: run "
            f"{INSTALL_HINT}, or set GENFLOW_DB_URI to a MongoDB server."
        )
    return found


def ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Return True if a MongoDB-compatible server answers ``ping`` at ``host:port``."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    # A cheap TCP probe first: pymongo would otherwise wait the full selection timeout.
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    ms = int(timeout * 1000)
    client: MongoClient = MongoClient(
        server_uri(port, host), serverSelectionTimeoutMS=ms, connectTimeoutMS=ms
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _run_files(run_dir: Path, port: int) -> tuple[Path, Path, Path]:
    return (
        run_dir / f"secantusd-{port}.pid",
        run_dir / f"secantusd-{port}.log",
        run_dir / f"secantusd-{port}.lock",
    )


def _default_run_dir() -> Path:
    from genflow.core.settings import get_settings

    return Path(get_settings().DATA_DIR)


def _pid_alive(pid: int) -> bool:
    """Return True if ``pid`` is a running (not zombie) process."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a zombie still answers kill(0); /proc tells the truth on Linux
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_our_server(pid: int, port: int) -> bool:
    """Return True if ``pid`` looks like a secantusd process for ``port`` (guards pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _pid_alive(pid)  # no /proc (macOS): trust the pid file
    text = b" ".join(cmdline).decode(errors="replace")
    return "secantus" in text and str(port) in text


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def server_pid(port: int, run_dir: str | Path | None = None) -> int | None:
    """Return the pid of the live server genflow started on ``port``, else None.

    A stale pid file (dead process, or a pid reused by an unrelated program) is removed.
    """
    pid_file = _run_files(Path(run_dir) if run_dir else _default_run_dir(), port)[0]
    pid = _read_pid(pid_file)
    if pid is None:
        return None
    if _pid_alive(pid) and _is_our_server(pid, port):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_tail(log_file: Path, n: int = 15) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return "(no log written)"
    return "\n".join(lines) or "(log is empty)"


def ensure_server(
    storage: str | Path,
    port: int,
    *,
    host: str = "127.0.0.1",
    run_dir: str | Path | None = None,
    timeout: float = 60.0,
    oplog_max_entries: int | None = DEFAULT_OPLOG_MAX_ENTRIES,
) -> str:
    """Start (or reuse) a SecantusDB server and return its pymongo URI.

    Parameters
    ----------
    storage
        WiredTiger directory (created if missing, reopened intact across restarts), or
        ``":memory:"`` for a throw-away server (tests).
    port
        TCP port on ``host``. If anything already answers a pymongo ``ping`` there, it is
        reused as is (its storage is whatever it was started with).
    host
        Interface to bind; keep the default loopback unless you add ``--auth``/TLS yourself.
    run_dir
        Directory for the pid, log and lock files; default ``GenflowSettings.DATA_DIR``.
    timeout
        Seconds to wait for the new server to answer ``ping``.
    oplog_max_entries
        ``--oplog-max-entries`` for persistent stores (ignored for ``:memory:``); None keeps
        SecantusDB's default.

    Returns
    -------
    str
        ``mongodb://host:port/?directConnection=true&journal=true``.

    Raises
    ------
    EmbeddedServerError
        If ``secantusd-py`` is missing, the server exits during start-up, or it does not
        answer within ``timeout`` (the message names the log file and shows its tail).
    """
    uri = server_uri(port, host)
    if ping(port, host):
        return uri
    run_path = Path(run_dir) if run_dir else _default_run_dir()
    pid_file, log_file, lock_file = _run_files(run_path, port)
    with _locked(lock_file):
        # Another genflow process may have started it while we waited for the lock.
        if ping(port, host):
            return uri
        pid = server_pid(port, run_path)  # also drops a stale pid file
        if pid is None:
            from genflow.core.progress import stage

            stage(f"starting the embedded database on port {port}")
            pid = _spawn(storage, port, host, log_file, oplog_max_entries)
            pid_file.write_text(f"{pid}\n")
        _wait_until_up(pid, port, host, log_file, timeout)
    return uri


def _spawn(
    storage: str | Path, port: int, host: str, log_file: Path, oplog_max_entries: int | None
) -> int:
    """Start ``secantusd-py`` detached (own session, output to ``log_file``); return its pid."""
    executable = find_executable()
    storage_arg = str(storage)
    if storage_arg != MEMORY:
        storage_arg = str(Path(storage).expanduser().resolve())
        Path(storage_arg).mkdir(parents=True, exist_ok=True)
    cmd = [executable, "--host", host, "--port", str(port), "--storage-path", storage_arg]
    if oplog_max_entries is not None and storage_arg != MEMORY:
        cmd += ["--oplog-max-entries", str(oplog_max_entries)]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"\n# genflow {time.strftime('%Y-%m-%dT%H:%M:%S')}: {' '.join(cmd)}\n".encode())
        log.flush()
        # start_new_session: the server outlives this process and ignores its Ctrl-C.
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _wait_until_up(pid: int, port: int, host: str, log_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(port, host):
            return
        if not _pid_alive(pid):
            raise EmbeddedServerError(
                f"SecantusDB server (pid {pid}) exited while starting on {host}:{port}; "
                f"see {log_file}:\n{_log_tail(log_file)}"
            )
        time.sleep(0.1)
    raise EmbeddedServerError(
        f"SecantusDB server (pid {pid}) did not answer ping on {host}:{port} within "
        f"{timeout:.0f} s; see {log_file}:\n{_log_tail(log_file)}"
    )


def stop_server(
    port: int,
    run_dir: str | Path | None = None,
    *,
    sig: int = signal.SIGTERM,
    timeout: float = 30.0,
) -> bool:
    """Stop the server genflow started on ``port`` (from its pid file).

    Parameters
    ----------
    port
        Port of the server.
    run_dir
        Directory holding the pid file (see :func:`ensure_server`).
    sig
        Signal to send; after ``timeout`` seconds a still-running server gets SIGKILL.
    timeout
        Seconds to wait for the process to exit.

    Returns
    -------
    bool
        True if a server was running and has stopped, False if none was running.
    """
    run_path = Path(run_dir) if run_dir else _default_run_dir()
    pid_file = _run_files(run_path, port)[0]
    pid = server_pid(port, run_path)
    if pid is None:
        return False
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.05)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait()
    pid_file.unlink(missing_ok=True)
    return True
