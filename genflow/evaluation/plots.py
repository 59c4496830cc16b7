"""PNG plots of evaluations and reports (matplotlib, Agg backend: no display needed).

Each function takes plain numbers, writes one PNG and returns its path; an empty input still
writes a figure that says "no data", so a caller never links to a missing file (the morning
report draws only the plots it has data for). Histograms that compare sets show fractions of
each set, so sets of different sizes compare; categories (compositions) sit on a categorical
axis; every colour bar says what its colour counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "bar_chart",
    "e_d_histograms",
    "per_composition_delta",
    "periodic_table_heatmap",
    "site_count_histogram",
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no data: {what}", ha="center", va="center", transform=ax.transAxes)


def e_d_histograms(sets: Mapping[str, Sequence[float]], path: Path, *, hull: str = "") -> Path:
    """E_d histograms, one per set, on shared bins (Yang et al. 2023, Fig. 6).

    Each set's bars are fractions of its own scored rows (they sum to 1), so a set of 10 and
    one of 10,000 compare; the legend gives each n. A set without scored rows draws no bars
    and says so in the legend.
    """
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    values = [np.asarray(v, dtype=float) for v in sets.values()]
    values = [v[np.isfinite(v)] for v in values]
    finite = np.concatenate(values) if values else np.zeros(0)
    if finite.size:
        lo, hi = float(np.percentile(finite, 1)), float(np.percentile(finite, 99))
        bins = np.linspace(min(lo, -0.05), max(hi, 0.05) + 1e-9, 40)
        for name, v in zip(sets, values, strict=True):
            if not v.size:
                ax.plot([], [], " ", label=f"{name}: no scored rows")
                continue
            weights = np.full(v.size, 1.0 / v.size)  # fractions: each set sums to 1
            ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, alpha=0.5, weights=weights,
                    label=f"{name} (n={v.size})")  # fmt: skip
        ax.axvline(0.0, color="k", lw=1, label="E_d = 0 (stable below)")
        ax.axvline(0.025, color="k", lw=1, ls="--", label="25 meV/atom (metastable below)")
        ax.legend(fontsize=8)
    else:
        _empty(ax, "no scored rows")
    ax.set_xlabel(f"E_d vs {hull} hull (eV/atom)" if hull else "E_d (eV/atom)")
    ax.set_ylabel("fraction of the set's scored rows")
    return _save(fig, path)


def per_composition_delta(
    deltas: Mapping[str, float], path: Path, *, label_a: str = "A", label_b: str = "B"
) -> Path:
    """Per-composition E_f^A - E_f^B, sorted (Yang et al. 2023, Figs. 5 and 8).

    ``deltas`` maps each matched composition to its difference; the compositions are the
    categories of the x axis (every k-th labelled when there are more than 40).
    """
    plt = _pyplot()
    items = sorted(deltas.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(max(6.0, min(14.0, 0.25 * len(items) + 2)), 4))
    if items:
        names, d = [k for k, _ in items], [v for _, v in items]
        colors = ["tab:green" if x < 0 else "tab:red" for x in d]
        ax.bar(names, d, color=colors, width=0.8)  # categorical: one bar per composition
        ax.axhline(0.0, color="k", lw=1)
        step = -(-len(names) // 40)
        ax.set_xticks(range(0, len(names), step), names[::step], rotation=90, fontsize=7)
        ax.set_xlabel("composition held by both sets (sorted by difference)")
    else:
        _empty(ax, "no matched compositions")
    ax.set_ylabel("E_f(A) - E_f(B) (eV/atom)")
    ax.set_title(f"A = {label_a}, B = {label_b}; green: A lower", fontsize=9)
    return _save(fig, path)


def bar_chart(counts: Mapping[str, float], path: Path, *, title: str, ylabel: str = "") -> Path:
    """A horizontal bar chart (campaign funnel, reject reasons, throughput)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, max(2.5, 0.4 * len(counts) + 1)))
    if counts:
        names = list(counts)[::-1]
        ax.barh(names, [counts[n] for n in names], color="tab:blue")
        for i, n in enumerate(names):
            ax.text(counts[n], i, f" {counts[n]:g}", va="center")
    else:
        _empty(ax, title)
    ax.set_title(title)
    ax.set_xlabel(ylabel)
    return _save(fig, path)


def _ptable_position(z: int, row: int, group: int) -> tuple[int, int]:
    """(row, column) of an element on the 18-column table; f-block rows 8-9 below it."""
    if 57 <= z <= 71:
        return 8, z - 57 + 3
    if 89 <= z <= 103:
        return 9, z - 89 + 3
    return row, group


def periodic_table_heatmap(
    counts: Mapping[str, float], path: Path, *, title: str, label: str = "count"
) -> Path:
    """Element counts on a periodic table (hits per element); elements with 0 stay grey.

    ``label`` names what the colour bar counts (e.g. "hits containing the element").
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from pymatgen.core.periodic_table import Element

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    top = max(counts.values(), default=0)
    norm, cmap = Normalize(0, max(top, 1)), colormaps["viridis"]
    for z in range(1, 104):
        el = Element.from_Z(z)
        r, c = _ptable_position(z, el.row, el.group)
        n = counts.get(el.symbol, 0)
        ax.add_patch(plt.Rectangle((c - 0.5, -r - 0.5), 0.95, 0.95,
                                   color=cmap(norm(n)) if n else "0.9"))  # fmt: skip
        ax.text(c - 0.02, -r, el.symbol, ha="center", va="center", fontsize=7,
                color="white" if n and norm(n) < 0.6 else "black")  # fmt: skip
    ax.set_xlim(0.4, 18.6)
    ax.set_ylim(-9.6, -0.4)
    ax.set_aspect("equal")
    ax.axis("off")
    if top:
        bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6)
        bar.set_label(label)
    else:
        _empty(ax, title)
    ax.set_title(title)
    return _save(fig, path)


def site_count_histogram(hists: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """Sites per sample, one bar series per set (fractions from
    :func:`genflow.evaluation.atom_counts.site_histogram`): a generator that puts the wrong
    number of atoms in its samples shows up as bars away from the reference's."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    counts = sorted({int(k) for h in hists.values() for k in h if k != "unreadable"})
    if counts and hists:
        x = np.arange(counts[0], counts[-1] + 1)
        width = 0.8 / len(hists)
        for j, (name, h) in enumerate(hists.items()):
            ax.bar(x + (j - (len(hists) - 1) / 2) * width, [h.get(str(c), 0.0) for c in x],
                   width=width, label=name)  # fmt: skip
        ax.legend()
        ax.set_xlabel("sites per structure")
        ax.xaxis.get_major_locator().set_params(integer=True)
    else:
        _empty(ax, "no structures")
    ax.set_ylabel("fraction of structures")
    return _save(fig, path)


def atoms_along_sampler(
    steps: Sequence[Mapping[str, float]], levels: Sequence[Mapping[str, float]], path: Path
) -> Path:
    """``genflow eval denoiser-gap``: atoms in x̂ against log-SNR, network vs exact denoiser,
    along the sampler (lines) and on noised training crystals (markers), with the data's
    count; where the network's line leaves the exact one is where it loses or adds atoms."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    if steps:
        lam = [s["logsnr"] for s in steps]
        ax.plot(lam, [s["net_atoms"] for s in steps], "-", color="C0", label="network, sampling")
        ax.plot(lam, [s["exact_atoms"] for s in steps], "-", color="C1", label="exact, sampling")
    if levels:
        lam = [r["logsnr"] for r in levels]
        ax.plot(lam, [r["net_atoms"] for r in levels], "o", color="C0", label="network, training")
        ax.plot(lam, [r["exact_atoms"] for r in levels], "s", color="C1", label="exact, training")
        ax.axhline(levels[0]["data_atoms"], color="grey", ls=":", label="data")
    if not (steps or levels):
        _empty(ax, "nothing measured")
    else:
        ax.legend(fontsize="small")
    ax.set_xlabel("log-SNR (noisy → clean)")
    ax.set_ylabel("atoms per structure in x̂")
    return _save(fig, path)
