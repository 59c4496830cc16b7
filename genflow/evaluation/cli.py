"""``genflow eval`` (proxy, csp, compare) and ``genflow baseline random``.

Every command prints a table, or JSON with ``--json``; heavy imports stay inside commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["baseline_app", "eval_app", "register"]

eval_app = typer.Typer(help="Evaluate generated sets: proxy metrics, CSP, head-to-head.")
baseline_app = typer.Typer(help="Baseline generators (random structure search).")
console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ProcOpt = Annotated[
    int | None, typer.Option("--processes", min=1, help="Featurisation processes (default: all).")
]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="Use the first N rows.")]


def _emit(result: dict[str, Any], title: str, json_out: bool, skip: tuple[str, ...] = ()) -> None:
    from genflow.core.jsonsafe import finite_or_none

    if json_out:
        typer.echo(json.dumps(finite_or_none(result), indent=1, default=str))
        return
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value")
    for key, value in result.items():
        if key in skip:
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        table.add_row(key, str(value))
    Console().print(table)


def _load(source: str, limit: int | None):
    from genflow.evaluation.sets import load_set

    try:
        return load_set(source, limit=limit)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


@eval_app.command("proxy")
def proxy_cmd(
    samples: Annotated[
        str, typer.Argument(help="Generated structures (any format genflow reads).")
    ],
    reference: Annotated[
        str, typer.Option("--reference", help="Reference set: a file or e.g. perov_5:test.")
    ],
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="COV cutoffs: perovskite, carbon or mp20 (default: "
            "from the reference name, else mp20).",
        ),
    ] = None,
    energies: Annotated[
        str,
        typer.Option(
            "--energies",
            help="Energies for the energy Wasserstein and S.U.N.: none, file (what the inputs "
            "carry) or mlip[:MODEL] (an MLIP on samples and reference, default CHGNet; cached).",
        ),
    ] = "none",
    relax_steps: Annotated[
        int, typer.Option("--relax-steps", min=0, help="MLIP FIRE steps (0: single point).")
    ] = 0,
    hull: Annotated[
        str, typer.Option("--hull", help="Hull for S.U.N.'s E_d (mp2021, gnome, a file).")
    ] = "mp2021",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Structures per MLIP call (memory).")
    ] = 8,
    limit: LimitOpt = None,
    reference_limit: Annotated[
        int | None, typer.Option("--reference-limit", min=1, help="Use the first N references.")
    ] = None,
    processes: ProcOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """CDVAE proxy metrics (validity, COV, Wasserstein), uniqueness, novelty, S.U.N."""
    from genflow.evaluation.energies import parse_energy_source
    from genflow.evaluation.proxy import proxy_metrics

    try:
        kind, model = parse_energy_source(energies)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--energies") from exc
    s, r = _load(samples, limit), _load(reference, reference_limit)
    extra = _energies(s, r, kind, model, relax_steps, hull, batch_size, progress=not json_out)
    s, r = extra.pop("samples"), extra.pop("reference")
    result = proxy_metrics(s, r, dataset=dataset, processes=processes, progress=not json_out,
                           **extra)  # fmt: skip
    _emit(result, f"proxy metrics: {s.name} vs {r.name}", json_out)


def _energies(
    s, r, kind: str, model: str | None, steps: int, hull: str, batch_size: int, *, progress: bool
):
    """Sets with the chosen energies, plus ``proxy_metrics``' energy keyword arguments."""
    import dataclasses

    from genflow.evaluation.energies import hull_e_d, mlip_energies

    out: dict[str, Any] = {"samples": s, "reference": r}
    if kind == "none":
        return out
    if kind == "mlip":
        e_s, e_r = (
            mlip_energies(x.structures, model=model, steps=steps, batch_size=batch_size,
                          progress=progress, description=f"MLIP energies ({what})")
            for x, what in ((s, "samples"), (r, "reference"))
        )  # fmt: skip
        out["samples"] = dataclasses.replace(s, energies=tuple(e_s))
        out["reference"] = dataclasses.replace(r, energies=tuple(e_r))
        how = f"relax of {steps} FIRE steps" if steps else "single point"
        out["energy_source"] = f"MLIP {e_s.label} ({how}, MP2020 scale)"
    elif not any(e is not None for e in s.energies):
        console.print(f"[red]error:[/red] --energies file: {s.name} carries no energies")
        raise typer.Exit(2)
    try:
        out["e_d"] = hull_e_d(s.structures, out["samples"].energies, hull)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/red] --hull {hull}: {exc}")
        raise typer.Exit(2) from exc
    out["sun_hull"] = hull
    return out


@eval_app.command("csp")
def csp_cmd(
    samples: Annotated[str, typer.Argument(help="Predictions (k per test composition).")],
    truth: Annotated[str, typer.Option("--truth", help="True structures, e.g. mp_20:test.")],
    k: Annotated[int | None, typer.Option("--k", min=1, help="Best of the first k.")] = None,
    limit: LimitOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Match rate and RMSE, best of k (DiffCSP protocol)."""
    from genflow.evaluation.csp import csp_metrics

    result = csp_metrics(_load(samples, None), _load(truth, limit), k=k, progress=not json_out)
    _emit(result, "CSP metrics", json_out, skip=("rows",))


@eval_app.command("compare")
def compare_cmd(
    a: Annotated[Path, typer.Argument(help="Set A: compositions + energies (csv/json/extxyz).")],
    b: Annotated[Path, typer.Argument(help="Set B: same formats as A.")],
    hull: Annotated[str, typer.Option("--hull", help="Reference hull (mp2021, gnome, ...).")] = (
        "mp2021"
    ),
    reference: Annotated[
        str | None, typer.Option("--reference", help="Also proxy metrics against this set.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the PNG plots.")] = None,
    processes: ProcOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """# stable / metastable, ΔE_f and E_f reduction rate of A vs B on one hull, plus plots."""
    from genflow.evaluation.compare import compare_sets, score_file
    from genflow.evaluation.plots import e_d_histograms, per_composition_delta
    from genflow.hull import load_hull

    try:
        ref_hull = load_hull(hull)
        sa, sb = score_file(a, ref_hull), score_file(b, ref_hull)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    result = compare_sets(sa, sb, hull_name=hull)
    if reference is not None:
        from genflow.evaluation.proxy import proxy_metrics

        ref = _load(reference, None)
        result["proxy"] = {
            side: proxy_metrics(_load(str(p), None), ref, processes=processes,
                                progress=not json_out)
            for side, p in (("a", a), ("b", b))
        }  # fmt: skip
    if out is not None:
        result["plots"] = {
            "e_d_histogram": str(e_d_histograms({sa.name: sa.e_d, sb.name: sb.e_d},
                                                out / "e_d_histogram.png", hull=hull)),
            "per_composition_delta_e_form": str(per_composition_delta(
                [r["delta"] for r in result["per_composition"]], out / "delta_e_form.png",
                label_a=sa.name, label_b=sb.name)),
        }  # fmt: skip
    if json_out:
        _emit(result, "", True)
        return
    flat = {f"{side}.{k}": v for side in ("a", "b") for k, v in result[side].items()}
    flat.update({k: v for k, v in result.items() if k not in ("a", "b", "per_composition",
                                                             "proxy", "plots")})  # fmt: skip
    for side, metrics in result.get("proxy", {}).items():
        flat.update({f"{side}.{k}": v for k, v in metrics.items() if isinstance(v, float)})
    flat.update({f"plot.{k}": v for k, v in result.get("plots", {}).items()})
    _emit(flat, f"{sa.name} vs {sb.name} on {hull}", False)


@baseline_app.command("random")
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
    from genflow.model.cli import sample_structures

    structures, _ = sample_structures("random", None, n, compositions=composition, seed=seed)
    write_structures(structures, out)
    _emit({"n": len(structures), "compositions": composition, "out": str(out)},
          "random search", json_out)  # fmt: skip


def register(app: typer.Typer) -> None:
    """Attach ``eval``, ``baseline`` and ``report`` to the root app; give ``genflow nightly
    --report`` its writer."""
    import genflow.campaign.cli as campaign_cli
    from genflow.evaluation.report import write_nightly_report
    from genflow.evaluation.report_cli import report_cmd

    campaign_cli.REPORT_WRITER = write_nightly_report
    app.add_typer(eval_app, name="eval", help="Evaluate generated sets against references.")
    app.add_typer(baseline_app, name="baseline", help="Baseline generators.")
    app.command("report")(report_cmd)
