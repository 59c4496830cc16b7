"""``genflow eval denoiser-gap``: a UniMat checkpoint against its training set's exact denoiser.

Issue 24's diagnostic: where (which noise level, occupied or null slots, lattice) a network
is off the best possible denoiser of its own training data, and how many atoms its x̂ holds
at each sampling step against the exact denoiser's (``genflow.model.unimat.denoiser_gap``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from genflow.cli._common import JsonOpt, print_finite_json

__all__ = ["denoiser_gap_cmd"]


def denoiser_gap_cmd(
    checkpoint: Annotated[
        str, typer.Option("--checkpoint", help="Bundled UniMat name (perov5, mp20, ...) or path.")
    ] = "perov5",
    rows: Annotated[
        int, typer.Option("--rows", min=1, help="Training crystals the errors are averaged on.")
    ] = 64,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, help="Read only the first N rows per training file (default: all)."
        ),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Samples to follow.")] = 64,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Sampling steps.")] = 32,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Noise draws per level.")] = 2,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the atoms-along-the-sampler PNG.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Per-noise-level errors and per-step atom counts: the network vs the exact denoiser."""
    from genflow.model.kinds import load_generator
    from genflow.model.unimat import denoiser_gap as dg

    console = Console(stderr=json_out)
    try:
        generator = load_generator(checkpoint)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--checkpoint") from exc
    if generator.model_name != "unimat":
        raise typer.BadParameter(
            f"{checkpoint} is a {generator.model_name} checkpoint; the gap is defined for UniMat",
            param_hint="--checkpoint",
        )
    with console.status("encoding the training set"):
        train = dg.training_arrays(generator, limit)
    with console.status(f"noise levels on {min(rows, len(train['coords']))} training crystals"):
        levels = dg.noise_level_gap(generator, train, rows=rows, repeats=repeats)
    with console.status(f"following {samples} samples through {steps} steps"):
        per_step = dg.occupancy_per_step(generator, train, n=samples, num_steps=steps)
    result = {
        "checkpoint": str(generator.path),
        "step": generator.step,
        "training_rows": len(train["coords"]),
        "noise_levels": [dataclasses.asdict(r) for r in levels],
        "steps": [dataclasses.asdict(r) for r in per_step],
    }
    if out is not None:
        from genflow.evaluation.plots import atoms_along_sampler

        png = atoms_along_sampler(result["steps"], result["noise_levels"], out / "atoms.png")
        result["plots"] = {"atoms": str(png)}
    if json_out:
        print_finite_json(result)
        return
    _print_tables(console, result)
    if out is not None:
        console.print(f"plot: {result['plots']['atoms']}")


def _print_tables(console: Console, result: dict) -> None:
    t = Table(title=f"denoiser gap: {result['checkpoint']} (step {result['step']}, "
                    f"exact denoiser over {result['training_rows']} training rows)")  # fmt: skip
    # v-MSE on occupied / null slots and the lattice; atoms per crystal in x̂
    for col in ("logSNR", "occ net", "occ ex", "null net", "null ex", "lat net", "lat ex",
                "atoms net", "atoms ex", "data"):  # fmt: skip
        t.add_column(col, justify="right")
    errors = ("net_occupied", "exact_occupied", "net_null", "exact_null", "net_lattice",
              "exact_lattice")  # fmt: skip
    atoms = ("net_atoms", "exact_atoms", "data_atoms")
    for r in result["noise_levels"]:
        cells = [f"{r[k]:.3f}" for k in errors] + [f"{r[k]:.2f}" for k in atoms]
        t.add_row(f"{r['logsnr']:g}", *cells)
    console.print(t)
    s = Table(title="atoms per sample in x̂ along the sampler")
    for col in ("step", "log-SNR", "net", "exact"):
        s.add_column(col, justify="right")
    for r in result["steps"]:
        s.add_row(str(r["step"]), f"{r['logsnr']:.2f}", f"{r['net_atoms']:.2f}",
                  f"{r['exact_atoms']:.2f}")  # fmt: skip
    console.print(s)
