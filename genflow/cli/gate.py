"""``genflow gate INPUT ...``: gate any generator's output without writing to the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from genflow.cli._common import ColumnOpt, JsonOpt, console, err_console, print_json

__all__ = ["gate_cmd"]


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
    column: ColumnOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Gate any generator's output (no database writes); one row per record, good or bad.

    Exit 0 when every input could be read; 1 when some input is unreadable (missing, corrupt,
    binary, nested too deeply, over MAX_INPUT_MB: each a row with its reason, the other
    inputs gated all the same). A file of no structure format is a `skipped` row and does
    not change the exit status.
    """
    from genflow.campaign.gate_files import gate_inputs
    from genflow.campaign.view import print_gate

    if novelty not in ("reject", "flag", "off"):
        err_console.print(f"[red]--novelty {novelty!r}: want reject, flag or off[/red]")
        raise typer.Exit(2)
    result = gate_inputs(inputs, prerelax=prerelax, novelty=novelty, column=column)
    if out is not None:
        out.write_text(json.dumps(result, indent=2, default=str))
    if json_out:
        print_json(result)
    else:
        print_gate(console, result)
    if result["summary"]["n_unreadable"]:
        raise typer.Exit(1)
