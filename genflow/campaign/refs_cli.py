"""``genflow refs add|status``, ``genflow gate`` and ``genflow trace``.

Registered on the root app by :func:`register`. Every command takes ``--json``; a bad record
is a row with its reason, never a crash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = ["refs_app", "register"]

refs_app = typer.Typer(
    help="Reference structures the novelty gate compares against.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@refs_app.command("add")
def refs_add(
    path: Annotated[
        Path | None, typer.Argument(help="File, folder or archive (any format genflow reads).")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Name of the set (e.g. gnome, my-lab).")
    ] = None,
    bundled: Annotated[
        bool, typer.Option("--bundled", help="Load the bundled MP-20/Perov-5/Carbon-24 rows.")
    ] = False,
    mp_api: Annotated[
        str | None,
        typer.Option("--mp-api", help="Chemical system from the Materials Project (needs a key)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Add reference structures to the database (idempotent on source + id)."""
    from genflow.core.references import LoadSummary, insert_references
    from genflow.core.store import connect
    from genflow.workflows import references as refs

    if sum(x is not None and x is not False for x in (path, bundled or None, mp_api)) != 1:
        err_console.print("[red]give exactly one of PATH, --bundled, --mp-api[/red]")
        raise typer.Exit(2)
    if path is not None and not source:
        err_console.print("[red]PATH needs --source NAME[/red]")
        raise typer.Exit(2)
    bad: list[dict] = []
    with connect() as stores:
        if bundled:
            summary = refs.load_bundled(stores.references)
        else:
            try:
                if mp_api is not None:
                    docs = refs.mp_api_reference_docs(mp_api)
                else:
                    docs, bad_rows = refs.file_reference_docs(path, source)
                    bad = [{"key": r.key, "reason": r.reason} for r in bad_rows]
            except (OSError, ValueError, ImportError) as err:
                err_console.print(f"[red]{err}[/red]")
                raise typer.Exit(1) from None
            summary = insert_references(stores.references, docs) if docs else LoadSummary()
    out = {"inserted": summary.inserted, "existing": summary.existing, "rejected": bad}
    if json_out:
        _print_json(out)
        return
    console.print(
        f"references: {summary.inserted} added, {summary.existing} already stored, "
        f"{len(bad)} unreadable"
    )
    for row in bad[:20]:
        console.print(f"  {row['key']}: {row['reason']}", highlight=False)


@refs_app.command("status")
def refs_status(json_out: JsonOpt = False) -> None:
    """References per source: stored in the database, and the bundled set."""
    from genflow.campaign.view import print_refs_status
    from genflow.core.references import reference_sources
    from genflow.core.store import connect
    from genflow.workflows.references import BUNDLED_SOURCES

    with connect() as stores:
        stored = reference_sources(stores.references)
    out = {"database": stored, "bundled": list(BUNDLED_SOURCES)}
    if json_out:
        _print_json(out)
        return
    print_refs_status(console, out)


def gate_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Files, folders or archives.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the rows as JSON to this file.")
    ] = None,
    prerelax: Annotated[
        bool, typer.Option("--prerelax", help="Also run the MLIP pre-relax on survivors.")
    ] = False,
    novelty: Annotated[
        str, typer.Option("--novelty", help="reject | flag | off for known structures.")
    ] = "reject",
    json_out: JsonOpt = False,
) -> None:
    """Gate any generator's output (no database writes); exits 1 only on unreadable input."""
    from genflow.campaign.gate_files import gate_inputs
    from genflow.campaign.view import print_gate

    if novelty not in ("reject", "flag", "off"):
        err_console.print(f"[red]--novelty {novelty!r}: want reject, flag or off[/red]")
        raise typer.Exit(2)
    result = gate_inputs(inputs, prerelax=prerelax, novelty=novelty)
    if out is not None:
        out.write_text(json.dumps(result, indent=2, default=str))
    if json_out:
        _print_json(result)
    else:
        print_gate(console, result)
    if result["summary"]["n_unreadable"]:
        raise typer.Exit(1)


def trace_cmd(
    candidate_id: Annotated[str, typer.Argument(help="Candidate id (e.g. from genflow hits).")],
    json_out: JsonOpt = False,
) -> None:
    """Hit → score round → relax task → gate record → candidate → generator sample."""
    from genflow.campaign.hits import trace_hit
    from genflow.campaign.view import print_trace
    from genflow.core.store import connect

    with connect() as stores:
        try:
            chain = trace_hit(stores, candidate_id).chain()
        except KeyError:
            err_console.print(f"[red]no candidate {candidate_id!r}[/red]")
            raise typer.Exit(1) from None
    if json_out:
        _print_json(chain)
        return
    print_trace(console, chain)


def register(app: typer.Typer) -> None:
    """Add ``refs`` (add, status), ``gate`` and ``trace`` to the root app."""
    app.add_typer(refs_app, name="refs")
    app.command("gate")(gate_cmd)
    app.command("trace")(trace_cmd)
