"""Model commands for the ``genflow`` CLI: ``sample``, ``train`` and ``scan``.

``register(app)`` adds them as top-level commands of the root Typer app. JAX is imported inside
the commands so ``genflow --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["output_format", "register", "sample_command", "train_command", "write_structures"]


def output_format(out: Path) -> str:
    """``extxyz``, ``json`` or ``cif-dir`` by ``out``'s name; raise for another suffix."""
    name = out.name.lower()
    if name.endswith(".extxyz"):
        return "extxyz"
    if name.endswith(".json"):
        return "json"
    if out.suffix and not out.is_dir():
        raise typer.BadParameter(
            f"unknown format {out.suffix!r}; use .extxyz, .json or a directory", param_hint="--out"
        )
    return "cif-dir"


def write_structures(structures: list, out: Path) -> str:
    """Write structures by ``out``'s name; return the format used.

    ``*.extxyz`` (ASE extended XYZ), ``*.json`` (a list of ``Structure.as_dict()``), anything
    else is a directory that gets one CIF per sample (``sample_0000.cif``...).
    """
    fmt = output_format(out)
    if fmt == "extxyz":
        from ase.io import write
        from pymatgen.io.ase import AseAtomsAdaptor

        out.parent.mkdir(parents=True, exist_ok=True)
        atoms = []
        for s in structures:
            a = AseAtomsAdaptor.get_atoms(s)
            a.info = {k: v for k, v in s.properties.items() if isinstance(v, int | float | str)}
            atoms.append(a)
        write(out, atoms, format="extxyz")
        return "extxyz"
    if fmt == "json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([s.as_dict() for s in structures]))
        return "json"
    from pymatgen.io.cif import CifWriter

    out.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(structures):
        CifWriter(s).write_file(out / f"sample_{i:04d}.cif")
    return "cif-dir"


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
        typer.Option("--out", help=".extxyz, .json (list of Structure.as_dict()) or a directory."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            help="Bundled name (perov5, carbon24, mp20) or checkpoint dir (default: perov5).",
        ),
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Diffusion steps (default: config).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Sample crystal structures from the UniMat generator."""
    from genflow.model import load_generator
    from genflow.model.validity import structure_validity

    if out is not None:
        output_format(out)  # fail on a bad --out before spending time sampling
    try:
        gen = load_generator(checkpoint)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--checkpoint") from exc
    try:
        structures = gen.sample(
            n,
            composition=composition,
            elements=elements,
            n_atoms=n_atoms,
            seed=seed,
            progress=not json_out,
            num_steps=steps,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    fmt = write_structures(structures, out) if out is not None else None
    valid = [structure_validity(s)[0] for s in structures]
    summary = {
        "n": len(structures),
        "out": str(out) if out is not None else None,
        "format": fmt,
        "formulas": [s.composition.formula for s in structures],
        "structure_valid_fraction": sum(valid) / len(valid),
        "seed": seed,
        "provenance": {k: v for k, v in gen.provenance.items() if k != "config"},
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
            console.print(f"  {s.composition.formula:24s} {s.lattice.abc}")


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
    """Train (or resume) a UniMat model; checkpoints go to WORKDIR/checkpoints."""
    from genflow.model.train import main

    try:
        summary = main(config, workdir, steps=steps, progress=not json_out)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(json.dumps(summary) if json_out else f"trained to step {summary['step']}: {summary}")


def register(app: typer.Typer) -> None:
    """Add ``sample``, ``train`` and ``scan`` to the root ``genflow`` app."""
    from genflow.model.scan_cli import scan_command

    app.command("sample")(sample_command)
    app.command("train")(train_command)
    app.command("scan")(scan_command)
