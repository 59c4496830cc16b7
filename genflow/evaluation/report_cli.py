"""``genflow report CAMPAIGN [--out DIR] [--json]``: the morning report of a campaign."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["report_cmd"]


def report_cmd(
    campaign: Annotated[str, typer.Argument(help="Campaign name.")],
    out: Annotated[Path | None, typer.Option("--out", help="Folder for report.md + PNGs.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Counts per stage, rejection reasons, hits with provenance, E_d plots, throughput."""
    from genflow.core.jsonsafe import finite_or_none
    from genflow.core.store import connect
    from genflow.evaluation.report import build_report, render_markdown

    stores = connect()
    try:
        report = build_report(stores, campaign, out)
    finally:
        stores.close()
    if not report["known"] and not report["stages"]["generated"]:
        typer.echo(f"no campaign named {campaign!r}", err=True)
        raise typer.Exit(2)
    if json_out:
        report.pop("e_d", None)
        typer.echo(json.dumps(finite_or_none(report), indent=1, default=str))
    else:
        typer.echo(render_markdown(report))
