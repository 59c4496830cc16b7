"""Model commands for the ``genflow`` CLI: ``sample``, ``train``, ``scan``, ``reconstruct``.

``register(app)`` adds them as top-level commands of the root Typer app. JAX is imported inside
the commands so ``genflow --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register", "sample_command", "sample_structures", "train_command"]


def sample_structures(
    generator: str | None,
    checkpoint: str | Path | None,
    n: int,
    *,
    compositions: list[str | None],
    seed: int = 0,
    progress: bool = False,
    **kwargs,
) -> tuple[list, dict]:
    """``n`` structures per composition from a generator kind, and the generator's provenance.

    ``generator`` None picks the model ``checkpoint``'s ``meta.json`` names (UniMat by
    default); ``random`` is the random search (``genflow baseline random`` calls this).
    ``kwargs`` go to ``sample`` (``elements``, ``n_atoms``, ``num_steps``).

    Raises
    ------
    ValueError
        Unknown kind, a checkpoint of another model, or conditioning the generator refuses.
    FileNotFoundError
        No checkpoint there.
    """
    from genflow.model.kinds import make_generator
    from genflow.model.registry import checkpoint_kind_error

    if generator in (None, "unimat", "structrepdiff"):
        from genflow.model import load_generator

        if generator is not None and (err := checkpoint_kind_error(generator, checkpoint)):
            raise ValueError(err)
        if generator == "structrepdiff" and checkpoint is None:
            checkpoint = "structrepdiff-perov5"
        gen = load_generator(checkpoint)
        sample = gen.sample
    else:
        if checkpoint is not None:
            raise ValueError(f"generator {generator!r} takes no --checkpoint")
        if any(c is None for c in compositions):
            raise ValueError(f"generator {generator!r} needs --composition")
        gen = make_generator(generator)
        sample = gen.sample
        if given := [k for k, v in kwargs.items() if v is not None]:
            raise ValueError(f"generator {generator!r} takes no {', '.join(given)}")
        kwargs = {}
    structures = []
    for comp in compositions:
        structures += sample(n, composition=comp, seed=seed, progress=progress, **kwargs)
    return structures, gen.provenance


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
            "--out", help=".extxyz, .json (list of Structure.as_dict()), .cif or a directory."
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
    from genflow.core.chem import formula
    from genflow.core.structure_io import output_format, write_structures
    from genflow.model.kinds import GENERATOR_KINDS
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
        "formulas": [formula(s.composition) for s in structures],
        "structure_valid_fraction": sum(valid) / len(valid),
        "seed": seed,
        "provenance": {k: v for k, v in provenance.items() if k != "config"},
    }
    if json_out:
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


def train_command(
    config: Annotated[str, typer.Argument(help="Config name[:options] or path.py[:options].")],
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Run directory (resumes if it exists).")
    ] = Path("runs/unimat"),
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Train until this step (default: config).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Train (or resume) a UniMat or StructRepDiff model; checkpoints go to WORKDIR/checkpoints."""
    from genflow.model.train import main

    try:
        summary = main(config, workdir, steps=steps, progress=not json_out)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(json.dumps(summary) if json_out else f"trained to step {summary['step']}: {summary}")


def register(app: typer.Typer) -> None:
    """Add ``sample``, ``train``, ``scan`` and ``reconstruct`` to the root ``genflow`` app."""
    from genflow.model.scan_cli import scan_command
    from genflow.model.structrepdiff.cli import reconstruct_command

    app.command("sample")(sample_command)
    app.command("train")(train_command)
    app.command("scan")(scan_command)
    app.command("reconstruct")(reconstruct_command)
