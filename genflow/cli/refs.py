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


_FORMAT_HELP = (
    "auto (by name and content), mp-json (MP entries / summary docs), alexandria "
    "({'entries': [...]} .json.bz2), optimade (saved API responses), lemat (LeMat-Bulk "
    "parquet), cif-zip (GNoME's by_id.zip), csv (alex_mp_20 CSV of CIFs), structures "
    "(any other format genflow reads)."
)


@app.command("add")
def refs_add(
    path: Annotated[
        Path | None,
        typer.Argument(help="File or folder of a published set (or any format genflow reads)."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Name of the set (e.g. gnome, my-lab); mp-json, alexandria and lemat have one.",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help=_FORMAT_HELP)] = "auto",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Records per database round trip.")
    ] = 1000,
    fingerprints: Annotated[
        bool,
        typer.Option(
            "--fingerprints/--no-fingerprints",
            help="Store fingerprints now (else the gate computes them when first needed).",
        ),
    ] = True,
    bundled: Annotated[
        bool, typer.Option("--bundled", help="Load the bundled MP-20/Perov-5/Carbon-24 rows.")
    ] = False,
    mp_api: Annotated[
        str | None,
        typer.Option("--mp-api", help="Chemical system from the Materials Project (needs a key)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Add reference structures to the database: idempotent on source + id, resumable by
    running it again (stored ids are skipped before parsing), bad records listed, not fatal."""
    from genflow.core.references import insert_references
    from genflow.core.store import connect
    from genflow.workflows import references as refs
    from genflow.workflows.reference_sources import (
        DEFAULT_SOURCE,
        FORMATS,
        implied_format,
        import_references,
    )

    if sum(x is not None and x is not False for x in (path, bundled or None, mp_api)) != 1:
        err_console.print("[red]give exactly one of PATH, --bundled, --mp-api[/red]")
        raise typer.Exit(2)
    if fmt != "auto" and fmt not in FORMATS:
        err_console.print(f"[red]--format {fmt}: want auto or one of {', '.join(FORMATS)}[/red]")
        raise typer.Exit(2)
    if path is not None and not source:
        try:
            implied = implied_format(path, fmt)
        except (OSError, ValueError, ImportError):
            implied = fmt
        source = DEFAULT_SOURCE.get(implied)
        if source is None:
            err_console.print(f"[red]PATH ({implied}) needs --source NAME[/red]")
            raise typer.Exit(2)
    with connect() as stores:
        try:
            if bundled:
                loaded = refs.load_bundled(stores.references)
                out = {"inserted": loaded.inserted, "existing": loaded.existing, "rejected": []}
            elif mp_api is not None:
                loaded = insert_references(stores.references, refs.mp_api_reference_docs(mp_api))
                out = {"inserted": loaded.inserted, "existing": loaded.existing, "rejected": []}
            else:
                summary = import_references(
                    stores.references, path, source, fmt, batch_size=batch_size,
                    fingerprints=fingerprints, progress=not json_out,
                )  # fmt: skip
                out = {"source": source} | summary.as_dict()
        except (OSError, ValueError, ImportError) as err:
            err_console.print(f"[red]{err}[/red]")
            raise typer.Exit(1) from None
    if json_out:
        print_json(out)
        return
    n_bad = out.get("n_rejected", len(out["rejected"]))
    console.print(
        f"references: {out['inserted']} added, {out['existing']} already stored, {n_bad} unreadable"
    )
    for reason, n in out.get("reasons", {}).items():
        console.print(f"  {n} × {reason}", highlight=False)
    for row in out["rejected"][:10]:
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
