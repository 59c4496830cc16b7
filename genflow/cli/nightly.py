"""``genflow nightly SPEC``: submit tonight's campaign once and report last night's new hits.

With ``--report DIR`` it also writes the morning report of the night that ran, drawn by the
evaluation layer (:func:`genflow.evaluation.report.write_nightly_report`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from genflow.cli._common import (
    JsonOpt,
    SpecArg,
    console,
    err_console,
    load_spec_or_exit,
    print_json,
    taken_name_exits,
)

__all__ = ["nightly_cmd"]


def nightly_cmd(
    spec_path: SpecArg,
    on_date: Annotated[
        str | None, typer.Option("--date", help="Campaign date YYYY-MM-DD (default: today, UTC).")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Write the morning report of the night that ran (the latest earlier nightly "
            "campaign) to DIR/<name>-<date>/ and print where.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Submit tonight's campaign once (idempotent per date) and report last night's new hits."""
    from genflow.campaign.chatter import batch_chatter_to_log
    from genflow.campaign.runner import run_dir
    from genflow.campaign.submit import nightly
    from genflow.campaign.view import hits_table

    spec = load_spec_or_exit(spec_path)
    try:
        day = date.fromisoformat(on_date) if on_date else None
    except ValueError:
        err_console.print(f"[red]--date {on_date!r}: expected YYYY-MM-DD[/red]")
        raise typer.Exit(2) from None
    # under cron/systemd: FireWorks' tqdm bar and library warnings go to the log, not the mail
    with taken_name_exits(), batch_chatter_to_log(run_dir(spec.name) / "genflow.log"):
        report = nightly(spec, date=day)
        if report_dir is not None:
            report["report"] = _nightly_report(spec.name, report_dir, before=report["campaign"])
    if json_out:
        print_json(report)
        return
    verb = "submitted" if report["submitted"] else "already submitted (no-op)"
    console.print(f"nightly {report['campaign']}: {verb}")
    console.print(hits_table(report["new_hits"], title="new hits since last night"))
    if report_dir is not None:
        where = report["report"] or f"nothing yet: no nightly {spec.name} before tonight's"
        console.print(f"report: {where}")


def _nightly_report(spec_name: str, out: Path, *, before: str) -> str | None:
    """Path of the written morning report (None: no earlier night to report)."""
    from genflow.core.store import connect
    from genflow.evaluation.report import write_nightly_report

    stores = connect()
    try:
        path = write_nightly_report(stores, spec_name, out, before=before)
    finally:
        stores.close()
    return str(path) if path is not None else None
