"""The ``genflow`` command line: one Typer app, one module per command or command group.

The modules mirror the command tree (``genflow hull score`` lives in ``genflow/cli/hull.py``,
``genflow hits`` in ``genflow/cli/hits.py``). Each is a thin layer: it parses options, calls a
library function of a room (``genflow.campaign``, ``genflow.evaluation``, ``genflow.hull``,
``genflow.model``, ``genflow.core``, ``genflow.web``), prints a table or ``--json`` and sets the
exit code.
The CLI sits on top of every room, so it imports any of them; no room imports it. Heavy
imports (JAX, torch, pandas) stay inside commands so ``genflow --help`` stays fast.
"""

from __future__ import annotations

import typer

from genflow.cli import (
    baseline,
    campaign,
    db,
    eval,
    gate,
    hits,
    hull,
    nightly,
    reconstruct,
    refs,
    report,
    sample,
    scan,
    trace,
    train,
    web,
)
from genflow.cli._common import GenflowGroup

__all__ = ["app"]

app = typer.Typer(
    name="genflow",
    cls=GenflowGroup,  # an unreachable database: one line (or a JSON error), exit code 3
    help="DFT validation of generated crystal structures: generate, gate, relax, score.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Commands first, then groups: ``genflow --help`` lists them in this order.
app.command("sample")(sample.sample_command)
app.command("train")(train.train_command)
app.command("scan")(scan.scan_command)
app.command("reconstruct")(reconstruct.reconstruct_command)
app.command("nightly")(nightly.nightly_cmd)
app.command("hits")(hits.hits_cmd)
app.command("report")(report.report_cmd)
app.command("gate")(gate.gate_cmd)
app.command("trace")(trace.trace_cmd)
app.command("web")(web.web_cmd)

app.add_typer(hull.app, name="hull", help="Score energies against convex hulls.")
app.add_typer(campaign.app, name="campaign")
app.add_typer(eval.app, name="eval", help="Evaluate generated sets against references.")
app.add_typer(baseline.app, name="baseline", help="Baseline generators.")
app.add_typer(refs.app, name="refs")
app.add_typer(db.app, name="db", help="Inspect, start or stop genflow's database.")

if __name__ == "__main__":  # pragma: no cover
    app()
