"""``genflow hits``: scored candidates with E_d below the threshold, most stable first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genflow.cli._common import JsonOpt, console, err_console, print_json

__all__ = ["hits_cmd"]


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
    sun: Annotated[
        bool, typer.Option("--sun", help="Only S.U.N.: E_d ≤ 0 on --hull, unique, novel.")
    ] = False,
    msun: Annotated[
        bool, typer.Option("--msun", help="Only M.S.U.N.: E_d ≤ 0.1 eV/atom, unique, novel.")
    ] = False,
) -> None:
    """List hits (scored candidates with E_d below the threshold), most stable first, with
    S (E_d ≤ 0), U (unique after relaxation) and N (novel) and the novelty verdict's reason."""
    from genflow.campaign.hits import campaign_hit_threshold, find_hits, write_cifs
    from genflow.campaign.view import hit_reasons, hits_table
    from genflow.core.candidates import hit_threshold
    from genflow.core.store import connect

    if json_out and cif_dir is not None:
        err_console.print("[red]--json and --cif are exclusive[/red]")
        raise typer.Exit(2)
    if sun and msun:
        err_console.print("[red]--sun and --msun are exclusive[/red]")
        raise typer.Exit(2)
    stores = connect()
    why = "--max-ed"
    if max_ed is None and campaign is not None:
        max_ed = campaign_hit_threshold(stores, campaign)  # one meaning of "hit" per campaign
        why = f"campaign {campaign}'s score.hit_threshold"
    if max_ed is None:
        why = "the HIT_THRESHOLD setting"
    threshold = hit_threshold(max_ed)
    try:
        hits = find_hits(
            stores, hull=hull, max_ed=max_ed, campaign=campaign, since=since,
            hide_gaps=hide_gaps, sun="sun" if sun else "msun" if msun else None,
        )  # fmt: skip
    except ValueError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    if json_out:
        print_json([h.as_dict() for h in hits])
        return
    if cif_dir is not None:
        paths = write_cifs(stores, hits, cif_dir)
        console.print(f"wrote {len(paths)} CIF(s) to {cif_dir}")
        return
    rows = [h.as_dict() for h in hits]
    # which hull and which threshold made these hits: the table alone does not say
    console.print(f"hull {hull}; a hit has E_d < {threshold:g} eV/atom ({why})", highlight=False)
    console.print(hits_table(rows))
    for line in hit_reasons(rows):
        console.print(line, highlight=False, soft_wrap=True)
    if flagged := sum(h.audit == "hull_gap_suspected" for h in hits):
        console.print(f"{flagged} of {len(hits)} hit(s) flagged hull_gap_suspected by the audit")
    if thin := sorted({m for h in hits for m in h.coverage_missing}):
        n = sum(h.coverage == "thin" for h in hits)
        console.print(f"{n} hit(s) on thin coverage: {'; '.join(thin)}")
