"""Keep the console for people: dependency chatter goes to the run's log file.

Libraries talk while a campaign runs: jobflow's FutureWarnings, CHGNet's "initialized" line,
torch UserWarnings, FireWorks' logger, C extensions writing straight to file descriptor 2.
:func:`chatter_to_log` sends all of it (Python warnings and log records, ``print`` output
and, on a real terminal, whatever C code writes to fds 1 and 2) to a log file and yields the
stream the console should draw on. ``verbose=True`` changes nothing: everything shows.
Stage lines (:func:`genflow.core.progress.stage`: "loading MLIP CHGNet…") keep going to the
terminal's stderr, so a run is never silent while it loads.

:func:`batch_chatter_to_log` applies the one switch (:func:`genflow.core.progress.interactive`)
for commands that may run unattended (``campaign submit``, ``nightly``): off a terminal,
their library chatter (FireWorks' tqdm bar, warnings) goes to the log; on one, nothing moves.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from genflow.core.progress import interactive, stage_lines

__all__ = ["batch_chatter_to_log", "chatter_to_log"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _fd(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None  # a test runner's in-memory stream


@contextlib.contextmanager
def chatter_to_log(log_path: str | Path, *, verbose: bool = False) -> Iterator[TextIO]:
    """Route warnings, logging, prints and C-level output to ``log_path``; yield the console.

    Parameters
    ----------
    log_path
        Log file (appended to; its directory is created).
    verbose
        Leave every stream where it is (the log file still gets the log records).
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed below
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    old_level, old_handlers = root.level, root.handlers[:]
    root.setLevel(logging.INFO)
    if not verbose:
        root.handlers = []  # a library's stderr handler would print to the console
    root.addHandler(handler)
    # core.progress.quiet_batch_chatter detaches py.warnings from the root logger in a worker
    # process; an in-process run after it (a library user, the test suite) still wants this
    # run's warnings in this run's log
    warn_log = logging.getLogger("py.warnings")
    old_propagate, warn_log.propagate = warn_log.propagate, True
    # captureWarnings(True) is a no-op while capture is already on, and would then keep a
    # showwarning installed after it (a test runner's); re-capture from the current one
    captured_before = getattr(logging, "_warnings_showwarning", None) is not None
    if captured_before:
        logging.captureWarnings(False)
    logging.captureWarnings(True)
    try:
        if verbose:
            with stage_lines(sys.stderr):
                yield sys.stdout
            return
        out_fd, err_fd = _fd(sys.stdout), _fd(sys.stderr)
        with contextlib.ExitStack() as stack:
            if out_fd is not None and err_fd is not None:
                sys.stdout.flush()
                sys.stderr.flush()
                # Keep a handle on the terminal, then point fds 1 and 2 at the log file.
                console = os.fdopen(os.dup(out_fd), "w", buffering=1, encoding="utf-8")
                stages = os.fdopen(os.dup(err_fd), "w", buffering=1, encoding="utf-8")
                saved = (os.dup(out_fd), os.dup(err_fd))
                os.dup2(log.fileno(), out_fd)
                os.dup2(log.fileno(), err_fd)

                def restore() -> None:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os.dup2(saved[0], out_fd)
                    os.dup2(saved[1], err_fd)
                    os.close(saved[0])
                    os.close(saved[1])
                    console.close()
                    stages.close()

                stack.callback(restore)
            else:
                console, stages = sys.stdout, sys.stderr
            stack.enter_context(stage_lines(stages))
            stack.enter_context(contextlib.redirect_stdout(log))
            stack.enter_context(contextlib.redirect_stderr(log))
            yield console
    finally:
        logging.captureWarnings(False)
        if captured_before:
            logging.captureWarnings(True)
        warn_log.propagate = old_propagate
        root.removeHandler(handler)
        root.handlers = old_handlers if not verbose else root.handlers
        root.setLevel(old_level)
        log.close()


@contextlib.contextmanager
def batch_chatter_to_log(log_path: str | Path) -> Iterator[None]:
    """Off a terminal, :func:`chatter_to_log` (print what matters after the context);
    on a terminal, nothing changes."""
    if interactive():
        yield
        return
    with chatter_to_log(log_path):
        yield
