"""``genflow campaign run|submit|status|failures|rerun|audit|judge``: a campaign, spec to hits.

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
    name_or_exit,
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
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="If another run holds the campaign, wait for it instead of exit 4."
        ),
    ] = False,
) -> None:
    """Run the whole campaign here against the (embedded) store; ends with the hits table.

    One runner per campaign: while another live run holds it, this one names it (host, pid,
    since, last heartbeat) and exits 4, or waits with --wait; a killed run's campaign is
    resumed. Exit codes: 0 completed; 1 name taken by another spec or mode; 2 bad spec or
    name; 3 database unreachable; 4 another run holds the campaign; 5 completed, but some
    jobs failed or some inputs could not be read (each a row with its reason; every readable
    input was still run). Gate rejections (validity, duplicates, known) are results: exit 0.
    """
    from genflow.core.progress import interactive, stage, stage_lines

    with stage_lines(sys.stderr):  # the first line at once: imports and the spec take seconds
        stage(f"reading {spec_path}")
        from genflow.campaign.chatter import chatter_to_log
        from genflow.campaign.lease import LeaseHeldError
        from genflow.campaign.runner import run_campaign, run_dir
        from genflow.campaign.view import print_run, stage_bars

        spec = load_spec_or_exit(spec_path)
        name = name_or_exit(name, spec)
        log_path = run_dir(name) / "genflow.log"
        stage(f"campaign {name}: library output goes to {log_path}")
        bars = not json_out and interactive()  # the one switch: no bars for cron or a pipe

        def waiting(err: LeaseHeldError) -> None:
            err_console.print(f"[yellow]{err}[/yellow]\nwaiting for it to finish (--wait) ...")

        try:
            with taken_name_exits(), chatter_to_log(log_path, verbose=verbose) as stream:
                # The console draws on the terminal; stdout stays pure JSON with --json.
                screen = Console(file=stream, stderr=False) if not json_out else err_console
                with stage_bars(screen, enabled=bars) as on_progress:
                    run = run_campaign(
                        spec, name=name, on_progress=on_progress, wait=wait, on_wait=waiting
                    )
        except LeaseHeldError as err:
            if json_out:
                print_json(err.as_dict())
            typer.echo(str(err), err=True)
            raise typer.Exit(4) from None
    if json_out:
        print_json(run.as_dict())
    else:
        print_run(console, run.as_dict(), log_path=str(log_path))
    if run.problems():  # completed, but jobs failed or inputs could not be read: exit 5
        raise typer.Exit(5)


@app.command("submit")
def submit_cmd(spec_path: SpecArg, name: NameOpt = None, json_out: JsonOpt = False) -> None:
    """Add the campaign's workflows to the FireWorks LaunchPad (once; re-submitting is a no-op)."""
    from genflow.campaign.chatter import batch_chatter_to_log
    from genflow.campaign.runner import run_dir
    from genflow.campaign.submit import submit_campaign

    spec = load_spec_or_exit(spec_path)
    name = name_or_exit(name, spec)
    log_path = run_dir(name) / "genflow.log"
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


@app.command("judge")
def judge_cmd(
    name: Annotated[str, typer.Argument(help="Campaign whose relaxed candidates are judged.")],
    json_out: JsonOpt = False,
) -> None:
    """Judge the relaxed cells again (novelty, uniqueness, space groups), e.g. after refs add;
    print the S.U.N. counts on each of the campaign's hulls."""
    from genflow.campaign.hits import campaign_sun
    from genflow.core.store import connect
    from genflow.workflows.verdicts import judge_campaign

    stores = connect()
    if stores.campaigns.find_one({"name": name}, {"_id": 1}) is None:
        err_console.print(f"[red]no campaign named {name!r}[/red]")
        raise typer.Exit(1)
    result = judge_campaign(stores, name)
    spec = (stores.campaigns.find_one({"name": name}, {"spec.hulls": 1}) or {}).get("spec") or {}
    result["sun"] = [campaign_sun(stores, name, h) for h in spec.get("hulls") or ["mp2021"]]
    if json_out:
        print_json(result)
        return
    verdicts = ", ".join(f"{k} {v}" for k, v in result["novelty"].items()) or "none"
    console.print(f"{name}: judged {result['judged']} relaxed candidate(s): {verdicts}; "
                  f"{result['duplicates']} duplicate(s)", highlight=False)  # fmt: skip
    for row in result["sun"]:
        console.print(
            f"  {row['hull']}: SUN {row['n_sun']} ({row['sun_rate']:.3f}), MSUN {row['n_msun']} "
            f"({row['msun_rate']:.3f}) of {row['n_total']}; novel against "
            f"{row['n_references']:,} reference structures",
            highlight=False,
        )


NameArg = Annotated[str, typer.Argument(help="Campaign name.")]


@app.command("failures")
def failures_cmd(name: NameArg, json_out: JsonOpt = False) -> None:
    """Failed and rejected candidates grouped by reason, with counts (and how many can rerun)."""
    from genflow.campaign.rerun import failure_groups, failure_lines
    from genflow.core.store import connect

    groups = failure_groups(connect(), name)
    if json_out:
        print_json({"campaign": name, "groups": groups})
        return
    for line in failure_lines(name, groups):
        console.print(line, highlight=False, markup=False)


@app.command("rerun")
def rerun_cmd(
    name: NameArg,
    reason: Annotated[
        str, typer.Option("--reason", help="Regular expression matched against the reasons.")
    ],
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="key=value edit of the spec (relax.steps=1000, relax.fmax=0.02) or of the relax "
            "fireworks' spec (fw._queueadapter.walltime=48:00:00); repeatable.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would rerun; change nothing.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Rerun relax failures selected by reason, with edited settings, from their last geometry.

    The rerun goes the way the campaign ran (here, or as a FireWorks workflow whose relax
    fireworks carry the edited spec); each candidate is still scored once; --dry-run lists.

    Exit codes: 0 done (or nothing matched); 1 unknown campaign; 2 bad --reason, --set or
    edited spec; 4 another run holds the campaign (local campaigns).
    """
    from genflow.campaign.lease import LeaseHeldError
    from genflow.campaign.rerun import rerun_failures, rerun_lines
    from genflow.campaign.spec import CampaignSpecError
    from genflow.core.store import connect

    try:
        report = rerun_failures(connect(), name, reason, sets or [], dry_run=dry_run)
    except KeyError as err:
        err_console.print(f"[red]{err.args[0]}[/red]")
        raise typer.Exit(1) from None
    except (ValueError, CampaignSpecError) as err:
        err_console.print(f"[red]{err}[/red]", markup=False)
        raise typer.Exit(2) from None
    except LeaseHeldError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(4) from None
    if json_out:
        print_json(report.as_dict())
        return
    for line in rerun_lines(report):
        console.print(line, highlight=False, markup=False)
