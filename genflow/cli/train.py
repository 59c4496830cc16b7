"""``genflow train CONFIG``: train (or resume) a UniMat or StructRepDiff model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["train_command"]


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
