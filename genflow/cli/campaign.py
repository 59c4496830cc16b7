"""``genflow campaign run|submit|status|audit``: a campaign from its spec to its hits.

Every command that prints results takes ``--json``; bad specs exit with code 2 and one line
per bad field naming the spec file.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from genflow.cli._common import (
    JsonOpt,
    SpecArg,
    console,
    err_console,
    load_spec_or_exit,
    print_json,
    taken_name_exits,
)

__all__ = ["app"]

app = typer.Typer(
    help="Generate → gate → relax+static → score campaigns (local or FireWorks).",
    no_args_is_help=True,
)

NameOpt = Annotated[
    str | None, typer.Option("--name", help="Campaign name (default: the spec's name).")
]


@app.command("run")
def run_cmd(
    spec_path: SpecArg,
    name: NameOpt = None,
    json_out: JsonOpt = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show library warnings and logs too.")
    ] = False,
) -> None:
    """Run the whole campaign here against the (embedded) store; ends with the hits table."""
    from genflow.core.progress import interactive, stage, stage_lines

    with stage_lines(sys.stderr):  # the first line at once: imports and the spec take seconds
        stage(f"reading {spec_path}")
        from genflow.campaign.chatter import chatter_to_log
        from genflow.campaign.runner import run_campaign, run_dir
        from genflow.campaign.view import print_run, stage_bars

        spec = load_spec_or_exit(spec_path)
        log_path = run_dir(name or spec.name) / "genflow.log"
        stage(f"campaign {name or spec.name}: library output goes to {log_path}")
        bars = not json_out and interactive()  # the one switch: no bars for cron or a pipe
        with taken_name_exits(), chatter_to_log(log_path, verbose=verbose) as stream:
            # The console draws on the terminal; stdout stays pure JSON with --json.
            screen = Console(file=stream, stderr=False) if not json_out else err_console
            with stage_bars(screen, enabled=bars) as on_progress:
                run = run_campaign(spec, name=name, on_progress=on_progress)
    if json_out:
        print_json(run.as_dict())
        return
    print_run(console, run.as_dict(), log_path=str(log_path))


@app.command("submit")
def submit_cmd(spec_path: SpecArg, name: NameOpt = None, json_out: JsonOpt = False) -> None:
    """Add the campaign's workflows to the FireWorks LaunchPad (once; re-submitting is a no-op)."""
    from genflow.campaign.chatter import batch_chatter_to_log
    from genflow.campaign.runner import run_dir
    from genflow.campaign.submit import submit_campaign

    spec = load_spec_or_exit(spec_path)
    log_path = run_dir(name or spec.name) / "genflow.log"
    # unattended (cron, a script): FireWorks' tqdm bar and warnings go to the log
    with taken_name_exits(), batch_chatter_to_log(log_path):
        report = submit_campaign(spec, name=name)
    if json_out:
        print_json(report.as_dict())
        return
    n_fw = sum(len(v) for v in report.fw_ids.values())
    console.print(
        f"campaign {report.campaign}: added {len(report.added)} workflow(s) ({n_fw} fireworks), "
        f"{len(report.existing)} already submitted. Run workers with rlaunch/qlaunch (deploy/)."
    )


@app.command("status")
def status_cmd(
    name: Annotated[str, typer.Argument(help="Campaign name.")], json_out: JsonOpt = False
) -> None:
    """Counts per state, throughput, FireWorks states and failures with reasons."""
    from genflow.campaign.status import campaign_report
    from genflow.campaign.view import print_status
    from genflow.core.store import connect

    report = campaign_report(connect(), name)
    if json_out:
        print_json(report)
        return
    if not report["known"] and not report["stages"]["generated"]:
        err_console.print(f"[red]no campaign named {name!r}[/red]")
        raise typer.Exit(1)
    print_status(console, report)


@app.command("audit")
def audit_cmd(
    name: Annotated[str, typer.Argument(help="Campaign whose hits are audited.")],
    hull: Annotated[str, typer.Option("--hull", help="Hull the hits were scored on.")] = "mp2021",
    force_field: Annotated[str, typer.Option("--force-field", help="MLIP to relax with.")] = (
        "CHGNet"
    ),
    json_out: JsonOpt = False,
) -> None:
    """Audit the campaign's hits for hull gaps (label hull_gap_suspected, name the phase)."""
    from genflow.core.store import connect
    from genflow.workflows.hit_audit import audit_hits

    stores = connect()
    result = audit_hits(stores, hull, campaign=name, force_field=force_field)
    if json_out:
        print_json(result)
        return
    console.print(
        f"{name}: audited {result['audited']} hit(s) on {hull}: {result['flagged']} "
        f"hull_gap_suspected, {result['confirmed']} confirmed"
    )
