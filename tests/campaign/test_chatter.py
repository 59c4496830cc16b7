"""The console is for people: library prints, warnings and logs go to the run's log file."""

from __future__ import annotations

import io
import logging
import warnings

from rich.console import Console

from genflow.campaign.chatter import chatter_to_log
from genflow.campaign.view import stage_bars
from genflow.core.progress import stage


def test_library_chatter_goes_to_the_log_and_bars_to_the_console(tmp_path):
    log = tmp_path / "runs" / "genflow.log"
    screen = io.StringIO()
    with chatter_to_log(log) as stream:
        console = Console(file=screen, force_terminal=True, width=80)
        with stage_bars(console) as on_progress:
            print("CHGNet v0.3.0 initialized with 412,525 parameters")  # a library's print
            with warnings.catch_warnings():  # an earlier test's library may filter it out
                warnings.simplefilter("always")
                warnings.warn("cd is deprecated", FutureWarning, stacklevel=1)
            logging.getLogger("jobflow.managers.local").warning("job chatter")
            counts = {"generated": 2, "gated": 1, "rejected_at_gate": 0, "relaxed": 0, "scored": 0}
            on_progress(counts, 6)
            stage("loading MLIP CHGNet")  # a slow start: printed above the bars
        stream.write("")  # the console stream stays usable inside the context
    text = log.read_text()
    assert "CHGNet v0.3.0 initialized" in text
    assert "FutureWarning: cd is deprecated" in text and "job chatter" in text
    drawn = screen.getvalue()
    assert "generate" in drawn and "2/6" in drawn  # the bars reached the console...
    assert "loading MLIP CHGNet…" in drawn and "loading MLIP CHGNet" in text  # stage: both
    assert "initialized" not in drawn and "deprecated" not in drawn  # ...and nothing else


def test_verbose_keeps_everything_visible(tmp_path, capsys):
    log = tmp_path / "genflow.log"
    with chatter_to_log(log, verbose=True):
        print("shown")
        logging.getLogger("genflow.test").warning("logged")
    assert "shown" in capsys.readouterr().out
    assert "logged" in log.read_text()
