"""``genflow campaign run|submit|status``, ``genflow nightly`` and ``genflow hits``.

Registered on the root app by :func:`register`. Every command that prints results takes
``--json``; bad specs exit with code 2 and one line per bad field naming the spec file.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = ["campaign_app", "register"]

campaign_app = typer.Typer(
    help="Generate → gate → relax+static → score campaigns (local or FireWorks).",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

SpecArg = Annotated[Path, typer.Argument(help="Campaign spec (YAML or JSON).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
NameOpt = Annotated[
    str | None, typer.Option("--name", help="Campaign name (default: the spec's name).")
]


def _load(spec_path: Path):
    from genflow.campaign.spec import CampaignSpecError, load_spec

    try:
        return load_spec(spec_path)
    except CampaignSpecError as err:
        # plain echo: one unwrapped line per bad field, easy to grep in cron logs
        typer.echo(f"invalid campaign spec:\n{err}", err=True)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def _taken_name_exits() -> Iterator[None]:
    """A campaign name taken by another spec or mode: one red line, exit code 1."""
    from genflow.campaign.ledger import CampaignExistsError

    try:
        yield
    except CampaignExistsError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(1) from None


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@campaign_app.command("run")
def run_cmd(
    spec_path: SpecArg,
    name: NameOpt = None,
    json_out: JsonOpt = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show library warnings and logs too.")
    ] = False,
) -> None:
    """Run the whole campaign here against the (embedded) store; ends with the hits table."""
    from genflow.campaign.chatter import chatter_to_log
    from genflow.campaign.runner import run_campaign, run_dir
    from genflow.campaign.view import print_run, stage_bars

    spec = _load(spec_path)
    log_path = run_dir(name or spec.name) / "genflow.log"
    with _taken_name_exits(), chatter_to_log(log_path, verbose=verbose) as stream:
        # The console draws on the terminal; stdout stays pure JSON with --json.
        screen = Console(file=stream, stderr=False) if not json_out else err_console
        with stage_bars(screen, enabled=not json_out) as on_progress:
            run = run_campaign(spec, name=name, on_progress=on_progress)
    if json_out:
        _print_json(run.as_dict())
        return
    print_run(console, run.as_dict(), log_path=str(log_path))


@campaign_app.command("submit")
def submit_cmd(spec_path: SpecArg, name: NameOpt = None, json_out: JsonOpt = False) -> None:
    """Add the campaign's workflows to the FireWorks LaunchPad (once; re-submitting is a no-op)."""
    from genflow.campaign.submit import submit_campaign

    spec = _load(spec_path)
    with _taken_name_exits():
        report = submit_campaign(spec, name=name)
    if json_out:
        _print_json(report.as_dict())
        return
    n_fw = sum(len(v) for v in report.fw_ids.values())
    console.print(
        f"campaign {report.campaign}: added {len(report.added)} workflow(s) ({n_fw} fireworks), "
        f"{len(report.existing)} already submitted. Run workers with rlaunch/qlaunch (deploy/)."
    )


@campaign_app.command("status")
def status_cmd(
    name: Annotated[str, typer.Argument(help="Campaign name.")], json_out: JsonOpt = False
) -> None:
    """Counts per state, throughput, FireWorks states and failures with reasons."""
    from genflow.campaign.status import campaign_report
    from genflow.campaign.view import print_status
    from genflow.core.store import connect

    report = campaign_report(connect(), name)
    if json_out:
        _print_json(report)
        return
    if not report["known"] and not report["stages"]["generated"]:
        err_console.print(f"[red]no campaign named {name!r}[/red]")
        raise typer.Exit(1)
    print_status(console, report)


#: ``(stores, spec name, folder, before=campaign) -> report.html path | None``: writes the
#: morning report (Markdown, one self-contained HTML file, PNGs) of a spec's latest nightly
#: campaign. The report lives in the evaluation
#: layer above this one, which sets this when it registers its commands.
REPORT_WRITER: Callable[..., Path | None] | None = None


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
    from genflow.campaign.submit import nightly
    from genflow.campaign.view import hits_table

    spec = _load(spec_path)
    try:
        day = date.fromisoformat(on_date) if on_date else None
    except ValueError:
        err_console.print(f"[red]--date {on_date!r}: expected YYYY-MM-DD[/red]")
        raise typer.Exit(2) from None
    with _taken_name_exits():
        report = nightly(spec, date=day)
    if report_dir is not None:
        report["report"] = _nightly_report(spec.name, report_dir, before=report["campaign"])
    if json_out:
        _print_json(report)
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

    if REPORT_WRITER is None:  # only the evaluation layer can draw reports
        raise RuntimeError("no report writer registered (genflow.evaluation.cli.register)")
    stores = connect()
    try:
        path = REPORT_WRITER(stores, spec_name, out, before=before)
    finally:
        stores.close()
    return str(path) if path is not None else None


def hits_cmd(
    hull: Annotated[
        str, typer.Option("--hull", help="Hull: mp2021, gnome, or another name.")
    ] = "mp2021",
    max_ed: Annotated[
        float | None,
        typer.Option(
            "--max-ed",
            help="E_d threshold in eV/atom (default: the campaign's score.hit_threshold with "
            "--campaign, else settings).",
        ),
    ] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Scored on/after DATE (ISO).")
    ] = None,
    json_out: JsonOpt = False,
    cif_dir: Annotated[
        Path | None, typer.Option("--cif", help="Write one CIF per hit into this directory.")
    ] = None,
    hide_gaps: Annotated[
        bool, typer.Option("--hide-gaps", help="Leave out hits labelled hull_gap_suspected.")
    ] = False,
) -> None:
    """List hits (scored candidates with E_d below the threshold), most stable first."""
    from genflow.campaign.hits import campaign_hit_threshold, find_hits, write_cifs
    from genflow.campaign.view import hits_table
    from genflow.core.store import connect

    if json_out and cif_dir is not None:
        err_console.print("[red]--json and --cif are exclusive[/red]")
        raise typer.Exit(2)
    stores = connect()
    if max_ed is None and campaign is not None:
        max_ed = campaign_hit_threshold(stores, campaign)  # one meaning of "hit" per campaign
    try:
        hits = find_hits(
            stores, hull=hull, max_ed=max_ed, campaign=campaign, since=since, hide_gaps=hide_gaps
        )
    except ValueError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    if json_out:
        _print_json([h.as_dict() for h in hits])
        return
    if cif_dir is not None:
        paths = write_cifs(stores, hits, cif_dir)
        console.print(f"wrote {len(paths)} CIF(s) to {cif_dir}")
        return
    console.print(hits_table([h.as_dict() for h in hits]))
    if flagged := sum(h.audit == "hull_gap_suspected" for h in hits):
        console.print(f"{flagged} of {len(hits)} hit(s) flagged hull_gap_suspected by the audit")


@campaign_app.command("audit")
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
        _print_json(result)
        return
    console.print(
        f"{name}: audited {result['audited']} hit(s) on {hull}: {result['flagged']} "
        f"hull_gap_suspected, {result['confirmed']} confirmed"
    )


def register(app: typer.Typer) -> None:
    """Add ``campaign`` (run, submit, status), ``nightly`` and ``hits`` to the root app."""
    app.add_typer(campaign_app, name="campaign")
    app.command("nightly")(nightly_cmd)
    app.command("hits")(hits_cmd)
