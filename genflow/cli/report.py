"""``genflow report CAMPAIGN [OTHER ...] | --nightly SPEC [OTHER ...] [--out DIR] [--json]``.

The morning report (:func:`genflow.evaluation.report.build_report`) as Markdown on stdout,
or JSON; a missing campaign or unreadable input exits with code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genflow.cli._common import print_finite_json

__all__ = ["report_cmd"]


def report_cmd(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="CAMPAIGN [OTHER ...]: the campaign (or give --nightly SPEC), then sets to "
            "compare it with: campaign names, files of compositions + energies, mp_20 splits.",
            show_default=False,
        ),
    ] = None,
    nightly: Annotated[
        Path | None,
        typer.Option("--nightly", help="Spec file: report its latest nightly <name>-<date>."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for report.md, report.html (self-contained) + PNGs."),
    ] = None,
    strata: Annotated[
        Path | None,
        typer.Option(
            "--strata",
            help="CSV composition,stratum,size: adds App. 8's stratified convergence rate "
            "(size: N_s, the population a stratum stands for).",
        ),
    ] = None,
    training_rows: Annotated[
        int | None,
        typer.Option(
            "--training-rows",
            min=0,
            help="Rows per file of the generator checkpoint's training set read for the "
            "sites-per-structure table (default: the report's TRAINING_ROWS, 1000; 0: leave "
            "the training set out).",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Stages, rejections, hits with provenance, Tables 2-3 against other sets, plots."""
    from genflow.core.store import connect
    from genflow.evaluation.report import (
        build_report,
        latest_nightly,
        read_strata,
        render_markdown,
    )

    names = list(names or [])
    if not names and nightly is None:
        raise typer.BadParameter("give a CAMPAIGN name or --nightly SPEC (one of them)")
    stores = connect()
    try:
        if nightly is not None:
            from genflow.campaign.spec import CampaignSpecError, load_spec

            try:
                spec_name = load_spec(nightly).name
            except CampaignSpecError as exc:
                raise typer.BadParameter(str(exc), param_hint="--nightly") from exc
            campaign = latest_nightly(stores, spec_name)
            if campaign is None:
                typer.echo(f"no nightly campaign of {spec_name!r} ({spec_name}-<date>)", err=True)
                raise typer.Exit(2)
        else:
            campaign = names.pop(0)
        try:
            table = read_strata(strata) if strata is not None else None
            rows = {} if training_rows is None else {"training_rows": training_rows}
            report = build_report(stores, campaign, out, others=names, strata=table, **rows)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    finally:
        stores.close()
    if not report["known"] and not report["stages"]["generated"]:
        typer.echo(f"no campaign named {campaign!r}", err=True)
        raise typer.Exit(2)
    if json_out:
        report.pop("e_d", None)
        print_finite_json(report)
    else:
        typer.echo(render_markdown(report))
