"""``genflow baseline random``: baseline generators (random structure search)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genflow.cli._common import print_finite_json, print_metrics

__all__ = ["app"]

app = typer.Typer(help="Baseline generators (random structure search).")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command("random")
def random_cmd(
    composition: Annotated[list[str], typer.Option("--composition", help="e.g. SrTiO3 (repeat).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Structures per composition.")] = 10,
    out: Annotated[Path, typer.Option("--out", help="Output file or folder.")] = Path(
        "random.extxyz"
    ),
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """AIRSS-style random structure search (pyxtal + soft-sphere pre-relax).

    The same generator as ``genflow sample --generator random`` and a campaign's
    ``generator.kind: random``, for several compositions at once.
    """
    from genflow.core.structure_io import write_structures
    from genflow.model.kinds import sample_structures

    structures, _ = sample_structures("random", None, n, compositions=composition, seed=seed)
    write_structures(structures, out)
    result = {"n": len(structures), "compositions": composition, "out": str(out)}
    if json_out:
        print_finite_json(result)
        return
    print_metrics("random search", result)
