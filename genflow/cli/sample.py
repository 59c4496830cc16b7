"""``genflow sample``: crystal structures from UniMat, StructRepDiff or the random search.

JAX is imported inside the command (through :func:`genflow.model.kinds.sample_structures`)
so ``genflow --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["sample_command"]


def sample_command(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of structures.")] = 10,
    composition: Annotated[
        str | None, typer.Option("--composition", help="Exact composition, e.g. Si4C4.")
    ] = None,
    elements: Annotated[
        str | None, typer.Option("--elements", help='Element set, e.g. "Ba Ti O".')
    ] = None,
    n_atoms: Annotated[
        int | None, typer.Option("--n-atoms", min=1, help="Atoms per cell (with --elements).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help=".extxyz, .json (list of Structure.as_dict()), .cif or a directory "
            "(without it, --json carries the structures as Structure.as_dict()).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            help="Bundled name (perov5, structrepdiff-perov5, carbon24, mp20) or checkpoint "
            "dir (default: perov5).",
        ),
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Diffusion steps (default: config).")
    ] = None,
    generator: Annotated[
        str | None,
        typer.Option(
            "--generator",
            help="unimat | structrepdiff | random (AIRSS-style search; needs --composition). "
            "Default: the model the checkpoint's meta.json names.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Sample crystal structures from UniMat, StructRepDiff or the random-search baseline."""
    from genflow.core.progress import stage, stage_lines

    # stage lines on stderr from the first second: JAX's import and the compile take 15-50 s
    with stage_lines(sys.stderr):
        stage("importing the generator (JAX)")
        _sample(n, composition, elements, n_atoms, out, seed, checkpoint, steps, generator,
                json_out)  # fmt: skip


def _sample(
    n: int,
    composition: str | None,
    elements: str | None,
    n_atoms: int | None,
    out: Path | None,
    seed: int,
    checkpoint: str | None,
    steps: int | None,
    generator: str | None,
    json_out: bool,
) -> None:
    from genflow.core.chem import formula
    from genflow.core.structure_io import output_format, write_structures
    from genflow.model.kinds import GENERATOR_KINDS, sample_structures
    from genflow.model.validity import structure_validity

    if out is not None:
        try:
            output_format(out)  # fail on a bad --out before spending time sampling
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--out") from exc
    if generator is not None and generator not in GENERATOR_KINDS:
        raise typer.BadParameter(
            f"unknown generator {generator!r}; known: {', '.join(GENERATOR_KINDS)}",
            param_hint="--generator",
        )
    try:
        structures, provenance = sample_structures(
            generator, checkpoint, n, compositions=[composition], seed=seed,
            progress=not json_out, elements=elements, n_atoms=n_atoms, num_steps=steps,
        )  # fmt: skip
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--checkpoint") from exc
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    fmt = write_structures(structures, out) if out is not None else None
    valid = [structure_validity(s)[0] for s in structures]
    summary = {
        "n": len(structures),
        "out": str(out) if out is not None else None,
        "format": fmt,
        "formulas": [formula(s.composition) if len(s) else "" for s in structures],
        "structure_valid_fraction": sum(valid) / len(valid),
        "seed": seed,
        "provenance": {k: v for k, v in provenance.items() if k != "config"},
    }
    if json_out:
        if out is None:  # nowhere else to go: the structures ride in the JSON
            summary["structures"] = [json.loads(s.to_json()) for s in structures]
        typer.echo(json.dumps(summary))
        return
    from rich.console import Console

    console = Console()
    console.print(
        f"sampled {len(structures)} structures "
        f"({summary['structure_valid_fraction']:.0%} structurally valid)"
        + (f" -> {out} ({fmt})" if out is not None else "")
    )
    if out is None:
        for s in structures:
            console.print(f"  {formula(s.composition):24s} {s.lattice.abc}")
