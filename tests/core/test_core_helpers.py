"""Shared core helpers: progress bars that stay quiet off a terminal, NaN → None."""

from __future__ import annotations

import io
import math

import numpy as np

from genflow.core import progress
from genflow.core.jsonsafe import finite_or_none


def test_finite_or_none_recurses_and_keeps_finite_values() -> None:
    value = {"e_d": math.nan, "e_form": np.float64(-1.5), "rows": [1.0, -math.inf], 2: {"x": 1}}
    assert finite_or_none(value) == {
        "e_d": None,
        "e_form": -1.5,
        "rows": [1.0, None],
        "2": {"x": 1},
    }
    assert finite_or_none(math.inf) is None and finite_or_none("nan") == "nan"


def test_progress_is_off_without_a_terminal_or_when_not_asked(monkeypatch) -> None:
    monkeypatch.setattr("sys.stdout", io.StringIO())  # a pipe: never a bar
    assert not progress.progress_enabled(True)
    assert list(progress.track(iter(range(4)), "rows")) == [0, 1, 2, 3]
    with progress.progress_bar("steps", total=3) as bar:
        bar.update(advance=1, description="loss 0.1")
        assert not bar.enabled


def test_progress_draws_on_a_terminal(monkeypatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv(progress.INTERACTIVE_ENV, raising=False)
    monkeypatch.setattr("sys.stdout", Tty())
    monkeypatch.setattr("sys.stderr", Tty())  # bars draw on stderr: both are terminals
    assert progress.progress_enabled(True) and not progress.progress_enabled(False)
    assert list(progress.track([1, 2], "rows", enabled=False)) == [1, 2]
    with progress.ProgressDisplay(transient=True) as display:
        bar = display.add("stage", total=None)
        bar.update(completed=2, total=4)
        assert bar.enabled
        assert list(progress.track([5, 6], "inner")) == [5, 6]
    assert not bar.enabled
