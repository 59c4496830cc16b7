"""Progress for every room: bars, stage lines, and the one switch that says who is watching.

:func:`interactive` is the one place that decides whether a person watches (a terminal) or
not (cron, ``rlaunch``, a pipe, a test run). Bars draw on stderr (stdout stays clean for
piped CSV/JSON) and only when asked for *and* interactive: callers pass
``enabled=not json_out`` (or their ``progress`` flag). Off a terminal, library warnings go to
a log file instead of stderr (:func:`quiet_batch_chatter` inside a worker process;
``genflow.campaign.chatter`` for the commands).

:func:`stage` announces a slow start ("loading checkpoint perov5…") before it happens, so
a command is never silent for its first seconds: the line is logged (``genflow.stage``) and,
inside :func:`stage_lines` (the CLI's ``sample`` and ``campaign run``), written to a stream
at once. Stage lines are plain text, not bars: they show with or without a terminal.

>>> for row in track(range(3), "scoring", enabled=False):
...     pass
>>> with progress_bar("training", total=10, enabled=False) as bar:
...     bar.update(advance=1)
>>> bar.enabled
False
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self, TextIO, TypeVar

__all__ = [
    "ProgressBar",
    "ProgressDisplay",
    "interactive",
    "progress_bar",
    "progress_enabled",
    "quiet_batch_chatter",
    "stage",
    "stage_lines",
    "track",
]

T = TypeVar("T")

#: ``GENFLOW_INTERACTIVE=1`` / ``0`` overrides the terminal test (e.g. ``0`` in a tmux pane
#: that feeds a log, ``1`` to see bars through ``script``).
INTERACTIVE_ENV = "GENFLOW_INTERACTIVE"
_stage_stream: TextIO | None = None
_stage_lock = threading.Lock()
_log = logging.getLogger("genflow.stage")


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is not None and bool(isatty())
    except (ValueError, OSError):  # a closed stream
        return False


def interactive() -> bool:
    """Whether a person is watching: the one switch for bars and library chatter.

    ``GENFLOW_INTERACTIVE`` (``1``/``0``) if set; otherwise stdout and stderr are both
    terminals. Cron, ``rlaunch``/``qlaunch``, ``campaign submit`` in a script, ``nightly``
    under systemd and test runs are not.
    """
    forced = os.environ.get(INTERACTIVE_ENV, "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    return _isatty(sys.stdout) and _isatty(sys.stderr)


def progress_enabled(enabled: bool = True) -> bool:
    """Whether to draw: asked for (``enabled``) and :func:`interactive`."""
    return bool(enabled) and interactive()


def stage(message: str) -> None:
    """Announce a slow start (``stage("loading MLIP CHGNet")`` prints "loading MLIP CHGNet…").

    Logged at INFO on ``genflow.stage``; inside :func:`stage_lines` also written, flushed,
    to that stream (from any thread: a campaign's jobs run in a worker thread).
    """
    _log.info("%s", message)
    with _stage_lock:
        stream = _stage_stream
        if stream is None:
            return
        try:
            stream.write(f"{message}…\n")
            stream.flush()
        except (ValueError, OSError):  # the stream closed under a late job
            pass


@contextlib.contextmanager
def stage_lines(stream: TextIO | None = None) -> Iterator[None]:
    """Write :func:`stage` lines to ``stream`` (default: stderr) while the context is open."""
    global _stage_stream
    with _stage_lock:
        previous, _stage_stream = _stage_stream, stream if stream is not None else sys.stderr
    try:
        yield
    finally:
        with _stage_lock:
            _stage_stream = previous


def quiet_batch_chatter(log_path: str | Path = "genflow.log") -> bool:
    """Off a terminal, send Python warnings to ``log_path`` instead of stderr, for good.

    For jobs that run inside someone else's process (a FireWorks ``rlaunch``): the MLIP's
    torch warnings would land in the launcher's stderr (cron mail, FireWorks logs). Called
    where genflow loads a library that warns (MLIPs, generators). A no-op outside a running
    jobflow job, when :func:`interactive` (a person sees everything) and when warnings are
    already captured (by an earlier call, or by ``genflow campaign run``, which routes
    everything to its log).
    Returns whether it routed anything.
    """
    # logging.captureWarnings keeps the original showwarning here while capturing is on
    if interactive() or getattr(logging, "_warnings_showwarning", None) is not None:
        return False
    try:
        from jobflow import CURRENT_JOB
    except ImportError:  # pragma: no cover - jobflow is a dependency
        return False
    if CURRENT_JOB.job is None:  # a command in a pipe (eval proxy > out.json): not a worker
        return False
    handler = logging.FileHandler(Path(log_path).resolve(), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    warn_log = logging.getLogger("py.warnings")
    warn_log.addHandler(handler)
    warn_log.propagate = False  # not to a launcher's stderr handler (or logging's last resort)
    logging.captureWarnings(True)
    return True


class ProgressDisplay:
    """A live display of one or more bars (a rich ``Progress`` on stderr), or nothing.

    A context manager; ``close()`` also stops it (idempotent). Bars come from :meth:`add`.

    Parameters
    ----------
    enabled : bool
        Draw at all (still only when :func:`interactive`; see :func:`progress_enabled`).
    transient : bool
        Erase the bars when the display closes.
    console : rich.console.Console, optional
        Draw on this console instead of stderr (a campaign run keeps one on the terminal
        while library output goes to its log); it must be a terminal for bars to show.
    """

    def __init__(
        self, *, enabled: bool = True, transient: bool = False, console: Any = None
    ) -> None:
        self._rich: Any = None
        draw = enabled and console.is_terminal if console is not None else progress_enabled(enabled)
        if draw:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._rich = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console or Console(stderr=True),
                transient=transient,
                # With a console of its own (a campaign run), library prints must keep going
                # to the run's log, not be redrawn above the bars on the terminal.
                redirect_stdout=console is None,
                redirect_stderr=console is None,
            )
            self._rich.start()

    @property
    def enabled(self) -> bool:
        """True while bars are being drawn."""
        return self._rich is not None

    def add(
        self, description: str, total: float | None = None, *, completed: float = 0
    ) -> ProgressBar:
        """A new bar (``total`` None: indeterminate until an update gives one)."""
        task = None
        if self._rich is not None:
            task = self._rich.add_task(description, total=total, completed=completed)
        return ProgressBar(self, task)

    def close(self) -> None:
        """Stop drawing (the last state stays on screen unless ``transient``)."""
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProgressBar:
    """One bar of a :class:`ProgressDisplay`; every method is a no-op when it is disabled.

    Used as a context manager (or closed with ``close()``), it closes its whole display.
    """

    def __init__(self, display: ProgressDisplay, task: Any) -> None:
        self._display, self._task = display, task

    @property
    def enabled(self) -> bool:
        """True while this bar is drawn (callers may log plain lines otherwise)."""
        return self._display.enabled

    def update(
        self,
        completed: float | None = None,
        *,
        advance: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        """Set ``completed``, add ``advance``, change ``total`` or ``description`` (None: keep)."""
        rich = self._display._rich
        if rich is None:
            return
        fields = dict(completed=completed, advance=advance, total=total, description=description)
        rich.update(self._task, **{k: v for k, v in fields.items() if v is not None})

    def close(self) -> None:
        """Close the display this bar belongs to."""
        self._display.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(
    description: str,
    total: float | None = None,
    *,
    completed: float = 0,
    enabled: bool = True,
    transient: bool = False,
) -> ProgressBar:
    """A display with a single bar, already started: use it in ``with`` or ``close()`` it.

    >>> with progress_bar("sampling", total=4, enabled=False) as bar:
    ...     bar.update(completed=2)
    """
    return ProgressDisplay(enabled=enabled, transient=transient).add(
        description, total, completed=completed
    )


def track(
    iterable: Iterable[T],
    description: str,
    total: float | None = None,
    enabled: bool = True,
    *,
    transient: bool = False,
) -> Iterator[T]:
    """Yield from ``iterable`` under a bar (``total`` defaults to ``len(iterable)`` if sized)."""
    if not progress_enabled(enabled):
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress_bar(description, total, enabled=enabled, transient=transient) as bar:
        for item in iterable:
            yield item
            bar.update(advance=1)
