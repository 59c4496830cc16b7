"""``genflow trace CANDIDATE_ID``: a hit's chain back to the generator sample."""

from __future__ import annotations

from typing import Annotated

import typer

from genflow.cli._common import JsonOpt, console, err_console, print_json

__all__ = ["trace_cmd"]


def trace_cmd(
    candidate_id: Annotated[
        str, typer.Argument(help="Candidate id, or its start as genflow hits shows it.")
    ],
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
        except ValueError as err:  # a short id that several candidates start with
            err_console.print(f"[red]{err}[/red]")
            raise typer.Exit(2) from None
    if json_out:
        print_json(chain)
        return
    print_trace(console, chain)
