"""``genflow scan CHEMSYS``: enumerate a chemical system, keep SMACT-valid compositions.

With ``--sample N`` the survivors are handed to composition-conditioned sampling
(:func:`genflow.model.scan.sample_compositions`; JAX loads only then).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["scan_command"]


def scan_command(
    chemsys: Annotated[str, typer.Argument(help="Chemical system, e.g. Ba-Ti-O.")],
    max_coefficient: Annotated[
        int, typer.Option("--max-coefficient", "-k", min=1, help="Largest coefficient K.")
    ] = 4,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    sample: Annotated[
        int,
        typer.Option("--sample", min=0, help="Sample N structures per surviving composition."),
    ] = 0,
    allow_subsystems: Annotated[
        bool,
        typer.Option(
            "--allow-subsystems",
            help="Allow zero coefficients (sub-systems); default requires every element.",
        ),
    ] = False,
    checkpoint: Annotated[
        str | None,
        typer.Option("--checkpoint", help="Bundled name (perov5, carbon24, mp20) or directory."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="With --sample: write samples as a JSON list to this file."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed.")] = 0,
    oxidation_states: Annotated[
        str,
        typer.Option(
            "--oxidation-states",
            help="SMACT oxidation-state list: smact14 (CDVAE's, the default: comparable with "
            "published validity numbers) or icsd24 (SMACT's default: states seen in crystals).",
        ),
    ] = "smact14",
) -> None:
    """Enumerate CHEMSYS compositions with coefficients up to K; keep SMACT charge-neutral ones."""
    from genflow.model.scan import enumerate_compositions, sample_compositions

    console = Console()
    try:
        result = enumerate_compositions(
            chemsys,
            max_coefficient,
            require_all=not allow_subsystems,
            oxidation_states_set=oxidation_states,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="CHEMSYS") from exc
    payload = result.as_dict()
    if sample > 0:
        try:
            samples, errors = sample_compositions(
                result.formulas, sample, checkpoint=checkpoint, seed=seed, progress=not json_out
            )
        except (FileNotFoundError, ValueError) as exc:  # unknown / unbundled checkpoint
            raise typer.BadParameter(str(exc), param_hint="--checkpoint") from exc
        payload["sampled"] = len(samples)
        payload["sample_errors"] = errors
        if out is not None:
            out.write_text(json.dumps(samples))
            payload["out"] = str(out)
        elif json_out:
            payload["samples"] = samples
    if json_out:
        typer.echo(json.dumps(payload))
        return
    mode = "all elements present" if result.require_all else "sub-systems allowed"
    console.print(
        f"{payload['chemsys']} (K={max_coefficient}, {mode}): enumerated {result.enumerated} "
        f"compositions ({result.distinct} distinct reduced), "
        f"{result.charge_neutral} charge-neutral by SMACT ({oxidation_states} oxidation states)",
        highlight=False,
    )
    uncommon = result.uncommon
    for name, states in zip(result.formulas, result.oxidation_states, strict=True):
        # the states that made it neutral, so a reader can judge them (Ti-1 is rare)
        charges = " ".join(f"{el}{ox:+d}" for el, ox in states.items()) or "no charges (alloy)"
        mark = f"  * {', '.join(uncommon[name])}: state outside ICSD-24" if name in uncommon else ""
        console.print(f"  {name:<12} {charges}{mark}", highlight=False)
    if uncommon:
        console.print(
            f"* {len(uncommon)} neutral only with a state not seen in ICSD crystals "
            "(SMACT's ICSD-24 list); --oxidation-states icsd24 drops them",
            highlight=False,
        )
    if sample > 0:
        console.print(f"sampled {payload['sampled']} structures" + (f" -> {out}" if out else ""))
        for err in payload["sample_errors"]:
            console.print(f"[red]{err['composition']}: {err['error']}[/red]")
