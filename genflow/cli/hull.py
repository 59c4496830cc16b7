"""``genflow hull``: score energies against a reference hull and compare two sets.

``genflow hull score INPUT --hull mp2021|gnome|mp-api:<chemsys>|PATH [--out FILE] [--json]``
(``--hull mp2021-snapshot``: the bundled MP hull without its MP-20 supplement)
``genflow hull compare A B [--hull ...] [--json]``
``genflow hull fold CAMPAIGN [--hull ...] [--json]``

Reading and scoring are :mod:`genflow.hull.io` calls. Exit codes: 0 all rows scored; 1 unusable
input or hull; 2 some rows failed or are implausible (the others are scored and written; each
failed row carries its reason in ``error``: a ragged CSV line quoted back, text that is no
number, a non-finite energy, ...; an implausible row, E_d below ``--implausible-below``, is
scored but marked ``implausible`` and never counted stable or metastable).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from genflow.cli._common import print_finite_json, print_metrics

if TYPE_CHECKING:
    from genflow.hull.records import HullScore
    from genflow.hull.reference import ReferenceHull

__all__ = ["app"]

app = typer.Typer(
    help="Score energies (MP2020-compatible eV/atom) against convex hulls.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)

HULL_HELP = (
    "mp2021 (bundled, with MP-20 supplement), mp2021-snapshot (GNoME's MP snapshot only), "
    "gnome (GENFLOW_GNOME_SUMMARY_PATH), mp-api:<chemsys>, or a file"
)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


def _load(hull: str) -> ReferenceHull:
    from genflow.hull.loaders import load_hull

    try:
        with console.status(f"loading hull {hull}"):
            return load_hull(hull)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise _fail(str(exc)) from exc


def _score_rows(
    path: Path, reference: ReferenceHull, progress: bool, implausible_below: float | None
) -> tuple[list[HullScore], Any]:
    from genflow.hull.io import read_candidates, score_candidates

    try:
        rows, table = read_candidates(path)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from exc
    scores = score_candidates(
        rows, reference, progress=progress, implausible_below=implausible_below
    )
    return scores, table


def _print_metrics(title: str, metrics: dict) -> None:
    """Print a two-column metric/value table (floats to 4 decimals)."""
    print_metrics(title, metrics, float_format=".4f", justify="right")


@app.command()
def score(
    input_file: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="CSV/JSON with composition + energy_per_atom (or energy), a JSON list of "
            "ComputedStructureEntry dicts, or extxyz with energies.",
        ),
    ],
    hull: Annotated[str, typer.Option("--hull", help=HULL_HELP)] = "mp2021",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write per-row scores (.csv or .json).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print summary and rows as JSON.")
    ] = False,
    implausible_below: Annotated[
        float | None,
        typer.Option(
            "--implausible-below",
            help="E_d (eV/atom) below which a row is marked implausible, never stable "
            "(default: setting IMPLAUSIBLE_E_D, -1).",
        ),
    ] = None,
) -> None:
    """Score each row: E_d, E_f, decomposition, stability; print # stable / # metastable.

    Exit 0 when every row is scored and plausible; 2 when some rows failed (each with its
    reason) or are implausible; 1 for an unusable file or hull.
    """
    from genflow.core.jsonsafe import finite_or_none
    from genflow.hull.io import write_scores
    from genflow.hull.keys import HullColumn
    from genflow.hull.metrics import summarize_scores
    from genflow.hull.records import implausible_reason

    reference = _load(hull)
    scores, table = _score_rows(input_file, reference, not json_output, implausible_below)
    if out is not None:
        write_scores(out, scores, table)
    summary = {
        HullColumn.hull.value: reference.name,
        HullColumn.scheme.value: reference.scheme,
        **summarize_scores(scores),
    }
    failed = [(i, s.error) for i, s in enumerate(scores) if not s.ok]
    failed += [
        (i, implausible_reason(s, implausible_below)) for i, s in enumerate(scores) if s.implausible
    ]
    failed.sort()
    if json_output:
        rows = [finite_or_none(s.as_row()) for s in scores]
        typer.echo(json.dumps({"summary": finite_or_none(summary), "rows": rows}, indent=1))
    else:
        _print_metrics(f"hull {reference.name}: {input_file.name}", summary)
        for i, error in failed[:10]:
            console.print(f"[yellow]row {i}:[/yellow] {error}")
        if len(failed) > 10:
            console.print(f"... and {len(failed) - 10} more failed rows")
    if failed:
        raise typer.Exit(code=2)


def _e_form_pairs(
    path: Path, hull: str, cache: dict[str, ReferenceHull]
) -> list[tuple[Any, float]]:
    """(composition, E_f) pairs of a file: its ``e_form`` column, else computed on ``hull``."""
    from genflow.hull.io import read_candidates, read_table
    from genflow.hull.keys import HullColumn

    try:
        table = read_table(path)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise _fail(f"{path}: {exc}") from exc
    if HullColumn.e_form in table and HullColumn.composition in table:
        return list(zip(table[HullColumn.composition], table[HullColumn.e_form], strict=True))
    if hull not in cache:
        cache[hull] = _load(hull)
    rows, _ = read_candidates(path)
    e_form = cache[hull].formation_energy(
        [r.composition for r in rows], [r.energy_per_atom for r in rows]
    )
    return list(zip([r.composition for r in rows], e_form, strict=True))


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="Set A: scored output (e_form column) or energies.")],
    b: Annotated[Path, typer.Argument(help="Set B: same formats as A.")],
    hull: Annotated[
        str,
        typer.Option("--hull", help="Hull for E_f of files without an e_form column. " + HULL_HELP),
    ] = "mp2021",
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """ΔE_f(A, B) (Eq. 3) and E_f reduction rate (Eq. 4) over matched compositions."""
    from genflow.hull.metrics import compare_formation_energies

    cache: dict[str, ReferenceHull] = {}
    result = {
        "a": str(a),
        "b": str(b),
        **compare_formation_energies(_e_form_pairs(a, hull, cache), _e_form_pairs(b, hull, cache)),
    }
    if json_output:
        print_finite_json(result)
        return
    _print_metrics(f"E_f comparison: {a.name} vs {b.name}", result)


@app.command()
def fold(
    campaign: Annotated[str, typer.Argument(help="Campaign whose stable hits are folded in.")],
    hull: Annotated[str, typer.Option("--hull", help=HULL_HELP)] = "mp2021",
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fold the campaign's stable hits into the next round of HULL (stored in MongoDB) and
    re-score every candidate of the affected chemical systems (``genflow.hull.rounds``)."""
    from genflow.core.store import connect
    from genflow.workflows.score import fold_round

    stores = connect()
    try:
        result = {"campaign": campaign, "hull": hull, **fold_round(stores, hull, campaign=campaign)}
    finally:
        stores.close()
    if json_output:
        typer.echo(json.dumps(result, indent=1))
        return
    typer.echo(
        f"{hull}: round {result['round']}; folded {len(result['folded'])} hit(s), "
        f"re-scored {result['rescored']} candidate(s)"
    )
