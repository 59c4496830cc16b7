"""Progress bars for every room: one rich-based helper instead of one per module.

Bars draw on stderr (stdout stays clean for piped CSV/JSON) and only when asked for *and*
stdout is a terminal: callers pass ``enabled=not json_out`` (or their ``progress`` flag), and a
pipe, a batch job or a test run gets no bar at all.

>>> for row in track(range(3), "scoring", enabled=False):
...     pass
>>> with progress_bar("training", total=10, enabled=False) as bar:
...     bar.update(advance=1)
>>> bar.enabled
False
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, Self, TypeVar

__all__ = ["ProgressBar", "ProgressDisplay", "progress_bar", "progress_enabled", "track"]

T = TypeVar("T")


def progress_enabled(enabled: bool = True) -> bool:
    """Whether to draw: asked for (``enabled``) and stdout is an interactive terminal."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(enabled) and isatty is not None and bool(isatty())


class ProgressDisplay:
    """A live display of one or more bars (a rich ``Progress`` on stderr), or nothing.

    A context manager; ``close()`` also stops it (idempotent). Bars come from :meth:`add`.

    Parameters
    ----------
    enabled : bool
        Draw at all (still only when stdout is a terminal; see :func:`progress_enabled`).
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
