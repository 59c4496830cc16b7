"""``genflow eval proxy|csp|compare|denoiser-gap``: evaluate generated sets against references.

Every command prints a table, or JSON with ``--json``; heavy imports stay inside commands.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from genflow.cli._common import ColumnOpt, err_console, print_finite_json, print_metrics
from genflow.cli.denoiser_gap import denoiser_gap_cmd

__all__ = ["app", "load_set_or_exit"]

app = typer.Typer(help="Evaluate generated sets: proxy metrics, CSP, head-to-head.")
app.command("denoiser-gap")(denoiser_gap_cmd)
console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ProcOpt = Annotated[
    int | None, typer.Option("--processes", min=1, help="Featurisation processes (default: all).")
]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="Use the first N rows.")]


def _emit(result: dict[str, Any], title: str, json_out: bool, skip: tuple[str, ...] = ()) -> None:
    if json_out:
        print_finite_json(result)
        return
    print_metrics(title, result, skip=skip)


def load_set_or_exit(source: str, limit: int | None, column: str | None = None):
    """The set at ``source`` (a file or e.g. ``perov_5:test``); an unreadable one exits 2."""
    from genflow.evaluation.sets import load_set

    try:
        return load_set(source, limit=limit, column=column)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command("proxy")
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
    column: ColumnOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the sites-per-sample plot.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """CDVAE proxy metrics (validity, COV, Wasserstein), sites per sample, uniqueness, novelty,
    S.U.N."""
    from genflow.evaluation.energies import hull_e_d, parse_energy_source, with_mlip_energies
    from genflow.evaluation.proxy import proxy_metrics

    try:
        kind, model = parse_energy_source(energies)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--energies") from exc
    s = load_set_or_exit(samples, limit, column)
    r = load_set_or_exit(reference, reference_limit)
    unreadable = s.unreadable  # said before the slow part, and kept through the MLIP step
    if unreadable.n_unreadable and not json_out:
        err_console.print(f"[yellow]{s.name}:[/yellow] " + "\n".join(unreadable.lines()))
    extra: dict[str, Any] = {}  # proxy_metrics' energy keyword arguments
    if kind != "none":
        if kind == "mlip":
            s, r, extra["energy_source"] = with_mlip_energies(
                s, r, model=model, steps=relax_steps, batch_size=batch_size, progress=not json_out
            )
        elif not any(e is not None for e in s.energies):
            console.print(f"[red]error:[/red] --energies file: {s.name} carries no energies")
            raise typer.Exit(2)
        try:
            extra["e_d"] = hull_e_d(s.structures, s.energies, hull)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            console.print(f"[red]error:[/red] --hull {hull}: {exc}")
            raise typer.Exit(2) from exc
        extra["sun_hull"] = hull
    result = proxy_metrics(s, r, dataset=dataset, processes=processes, progress=not json_out,
                           **extra)  # fmt: skip
    result["unreadable"] = dataclasses.asdict(unreadable)  # n_rows, n_unreadable, first
    if out is not None:
        from genflow.evaluation.plots import site_count_histogram

        result["plots"] = {"sites_per_sample": str(site_count_histogram(
            {s.name: result["sites_hist"], r.name: result["sites_hist_reference"]},
            out / "sites_per_sample.png"))}  # fmt: skip
    _emit(result, f"proxy metrics: {s.name} vs {r.name}", json_out, skip=("unreadable",))


@app.command("csp")
def csp_cmd(
    samples: Annotated[str, typer.Argument(help="Predictions (k per test composition).")],
    truth: Annotated[str, typer.Option("--truth", help="True structures, e.g. mp_20:test.")],
    k: Annotated[int | None, typer.Option("--k", min=1, help="Best of the first k.")] = None,
    limit: LimitOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Match rate and RMSE, best of k (DiffCSP protocol)."""
    from genflow.evaluation.csp import csp_metrics

    s, t = load_set_or_exit(samples, None), load_set_or_exit(truth, limit)
    result = csp_metrics(s, t, k=k, progress=not json_out)
    _emit(result, "CSP metrics", json_out, skip=("rows",))


@app.command("compare")
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

        ref = load_set_or_exit(reference, None)
        result["proxy"] = {
            side: proxy_metrics(load_set_or_exit(str(p), None), ref, processes=processes,
                                progress=not json_out)
            for side, p in (("a", a), ("b", b))
        }  # fmt: skip
    if out is not None:
        result["plots"] = {
            "e_d_histogram": str(e_d_histograms({sa.name: sa.e_d, sb.name: sb.e_d},
                                                out / "e_d_histogram.png", hull=hull)),
            "per_composition_delta_e_form": str(per_composition_delta(
                {r["formula"]: r["delta"] for r in result["per_composition"]},
                out / "delta_e_form.png",
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
