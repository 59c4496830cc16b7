"""``genflow refs add|status``: reference structures the novelty gate compares against.

Every command takes ``--json``; a bad record is a row with its reason, never a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genflow.cli._common import JsonOpt, console, err_console, print_json

__all__ = ["app"]

app = typer.Typer(
    help="Reference structures the novelty gate compares against.", no_args_is_help=True
)


@app.command("add")
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
        print_json(out)
        return
    console.print(
        f"references: {summary.inserted} added, {summary.existing} already stored, "
        f"{len(bad)} unreadable"
    )
    for row in bad[:20]:
        console.print(f"  {row['key']}: {row['reason']}", highlight=False)


@app.command("status")
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
        print_json(out)
        return
    print_refs_status(console, out)
