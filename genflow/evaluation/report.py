"""The morning report: a campaign (or night) from the store, against other sets, as Markdown,
one self-contained HTML file and PNG plots.

Built on :func:`genflow.campaign.status.campaign_report` (counts per stage, rejection reasons,
hits with provenance, novelty verdict and space groups, throughput); adds S.U.N. / M.S.U.N.
counts and rates per hull (:func:`genflow.campaign.hits.campaign_sun`), Table 3 (# stable /
# metastable per set per hull) and Table 2 (ΔE_f and E_f reduction rate for every pair of
sets) of Yang et al. 2023 over the campaign and any other sets
(:mod:`genflow.evaluation.report_sets`), the per-composition best of N of conditional
generation, and plots: the funnel, rejection reasons, E_d histograms of every set per hull
(Fig. 6), sorted per-composition E_f differences of every pair (Figs. 5 and 8), hits on a
periodic table and sites per generated structure against the other sets and the generator's
training set (:mod:`genflow.evaluation.report_sites`). ``report.md`` links the PNGs beside
it; ``report.html`` embeds them (:mod:`genflow.evaluation.report_render`).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from genflow.core.candidates import CandidateKey as K
from genflow.evaluation.plots import (
    bar_chart,
    e_d_histograms,
    per_composition_delta,
    periodic_table_heatmap,
    site_count_histogram,
)
from genflow.evaluation.report_render import render_html, render_markdown
from genflow.evaluation.report_sets import (
    campaign_set,
    load_report_set,
    pair_tables,
    set_table,
)
from genflow.evaluation.report_sites import TRAINING_ROWS, sites_table, training_set

__all__ = [
    "build_report",
    "conditional_table",
    "latest_nightly",
    "read_strata",
    "render_html",
    "render_markdown",
    "write_nightly_report",
]


def conditional_table(stores: Any, name: str, hull: str) -> dict[str, Any]:
    """Best of N per target composition (UniMat App. 8): N, relaxes tried and converged.

    Candidates group by their conditioning composition; a campaign without one (an import,
    unconditional sampling) groups by reduced formula. The convergence rate is converged
    relaxations over attempted ones (a relax record exists), over the whole campaign.
    """
    from genflow.core.candidates import get_path, score_key, score_path
    from genflow.evaluation.report_sets import reduced_or_none

    e_d_path = score_path(score_key(hull), K.E_D)
    slip_path = score_path(score_key(hull), K.IMPLAUSIBLE)  # never a group's best
    proj = [str(k) for k in (K.FORMULA, K.CONDITIONING, K.RELAX_CONVERGED)]
    proj += [e_d_path, slip_path]
    groups: dict[str, dict[str, Any]] = {}
    conditioned = 0
    for doc in stores.candidates.find({K.CAMPAIGN.value: name}, proj):
        target = get_path(doc, f"{K.CONDITIONING}.composition")
        conditioned += target is not None
        group = target or reduced_or_none(doc.get(K.FORMULA)) or "(no formula)"
        g = groups.setdefault(group, {"composition": group, "n": 0, "attempted": 0,
                                    "converged": 0, "best_e_d": None})  # fmt: skip
        g["n"] += 1
        relax = doc.get(K.RELAX)
        if relax is not None:
            g["attempted"] += 1
            g["converged"] += bool(get_path(doc, K.RELAX_CONVERGED))
        e_d = None if get_path(doc, slip_path) else get_path(doc, e_d_path)
        if e_d is not None and (g["best_e_d"] is None or e_d < g["best_e_d"]):
            g["best_e_d"] = float(e_d)
    rows = sorted(groups.values(), key=lambda g: (g["best_e_d"] is None, g["best_e_d"] or 0.0))
    tried = sum(g["attempted"] for g in rows)
    return {
        "hull": hull,
        "grouped_by": "target composition" if conditioned else "reduced formula (no target)",
        "rows": rows,
        "convergence_rate": sum(g["converged"] for g in rows) / tried if tried else float("nan"),
    }


def round_table(stores: Any, name: str, hulls: list[str]) -> list[dict[str, Any]]:
    """Table 3 per hull round: each candidate's score *at* round r (``score_rounds.<hull>.<r>``
    for earlier rounds, ``scores.<hull>`` for its latest), counted per (hull, round)."""
    from genflow.core.candidates import get_path, score_path, score_round_path
    from genflow.hull.keys import METASTABLE_THRESHOLD, STABLE_THRESHOLD
    from genflow.hull.metrics import count_below

    by: dict[tuple[str, int], list[float]] = {}
    for h in hulls:
        latest_path, earlier_path = score_path(h), score_round_path(h)
        query = {K.CAMPAIGN.value: name, latest_path: {"$ne": None}}
        for doc in stores.candidates.find(query, [latest_path, earlier_path]):
            latest = get_path(doc, latest_path)
            scores = {**get_path(doc, earlier_path, {}), str(latest.get(K.ROUND, 0)): latest}
            for r, sc in scores.items():  # an implausible score is never counted stable
                if sc and sc.get(K.E_D) is not None and not sc.get(K.IMPLAUSIBLE):
                    by.setdefault((h, int(r)), []).append(float(sc[K.E_D]))
    return [
        {"hull": h, "round": r, "n_scored": len(v), "n_stable": count_below(v, STABLE_THRESHOLD),
         "n_metastable": count_below(v, METASTABLE_THRESHOLD)}
        for (h, r), v in sorted(by.items())
    ]  # fmt: skip


def read_strata(path: Path) -> dict[str, tuple[str, float]]:
    """``composition → (stratum, N_s)`` from a CSV with those three columns.

    Raises
    ------
    ValueError
        The CSV is empty or lacks a ``composition``, ``stratum`` or ``size`` column.
    """
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"composition", "stratum", "size"} <= set(rows[0]):
        raise ValueError(f"{path}: want columns composition,stratum,size")
    return {r["composition"].strip(): (r["stratum"].strip(), float(r["size"])) for r in rows}


def stratified(conditional: dict[str, Any], strata: dict[str, tuple[str, float]]) -> dict:
    """App. 8's stratified convergence rate from ``composition → (stratum, N_s)``.

    Compositions of the campaign missing from ``strata`` are listed, not guessed.
    """
    from genflow.hull.metrics import stratified_convergence_rate

    per: dict[str, list[float]] = {}
    missing = []
    for row in conditional["rows"]:
        if row["composition"] not in strata:
            missing.append(row["composition"])
            continue
        stratum, size = strata[row["composition"]]
        acc = per.setdefault(stratum, [0, 0, float(size)])
        acc[0] += row["converged"]
        acc[1] += row["attempted"]
    return {"rate": stratified_convergence_rate([tuple(v) for v in per.values()]),
            "strata": {k: {"converged": v[0], "tried": v[1], "size": v[2]} for k, v in
                       per.items()}, "unassigned": missing}  # fmt: skip


def _hulls(stores: Any, name: str, report: dict[str, Any]) -> list[str]:
    doc = stores.campaigns.find_one({"name": name}, {"spec.hulls": 1}) or {}
    hulls = list((doc.get("spec") or {}).get("hulls") or [])
    return hulls or sorted({h["hull"] for h in report["hits"]}) or ["mp2021"]


def _element_counts(hits: list[dict[str, Any]]) -> Counter:
    from pymatgen.core import Composition

    counts: Counter = Counter()
    for h in {(h[K.CANDIDATE_ID], h[K.FORMULA]) for h in hits}:
        counts.update(el.symbol for el in Composition(h[1]).elements)
    return counts


def build_report(
    stores: Any,
    name: str,
    out: Path | None = None,
    *,
    others: list[str] | tuple = (),
    strata: dict[str, tuple[str, float]] | None = None,
    training_rows: int | None = TRAINING_ROWS,
) -> dict[str, Any]:
    """The report of campaign ``name`` against ``others`` (campaign names, files of
    compositions + energies, MP-20 splits) as a dict; with ``out``, also ``report.md``,
    ``report.html`` and the PNGs there. ``strata`` (composition → (stratum, N_s)) adds the
    stratified convergence rate of App. 8. ``training_rows``: rows per file of the generator
    checkpoint's training set read for the sites-per-structure table (None: all; 0: leave
    the training set out)."""
    from genflow.campaign.hits import campaign_sun
    from genflow.campaign.status import campaign_report

    report = campaign_report(stores, name)
    hulls = _hulls(stores, name, report)
    sets = [campaign_set(stores, name, hulls)]
    sets += [load_report_set(stores, o, hulls) for o in others]
    report["set_names"] = [s.name for s in sets]
    report["sets"] = set_table(sets, hulls)
    report["pairs"], deltas = pair_tables(sets, hulls)
    report["rounds"] = round_table(stores, name, hulls)
    report["sun"] = [campaign_sun(stores, name, h) for h in hulls]
    report["conditional"] = conditional_table(stores, name, hulls[0])
    if strata:
        report["conditional"]["stratified"] = stratified(report["conditional"], strata)
    funnel = {**report["stages"], f"stable on {hulls[0]}": sets[0].n_stable(hulls[0])}
    report["e_d"] = {h: sets[0].e_d(h) for h in hulls}
    training, about = (None, "left out (training_rows=0)")
    if training_rows != 0:
        training, about = training_set(stores, name, training_rows)
    report["sites"] = {**sites_table([*sets, *([training] if training else [])]),
                       "training": about}  # fmt: skip
    if out is not None:
        out = Path(out)
        _draw_plots(report, sets, hulls, funnel, deltas, out)
        (out / "report.md").write_text(render_markdown(report))
        (out / "report.html").write_text(render_html(report))
        report["markdown"], report["html"] = str(out / "report.md"), str(out / "report.html")
    return report


def _draw_plots(
    report: dict[str, Any], sets: list, hulls: list[str], funnel: dict, deltas: dict, out: Path
) -> None:
    """Draw the plots that have data into ``out``; set ``report["plots"]`` (name → PNG),
    ``report["captions"]`` (name → what the plot shows) and ``report["not_drawn"]``
    (name → why: a panel without data is left out, not drawn empty)."""
    name = report["campaign"]
    threshold = "the campaign's hit threshold"
    todo: dict[str, tuple[str, str | None, Any]] = {
        # name: (caption, reason it has no data or None, drawing function)
        "funnel": (
            f"Candidates of {name} reaching each stage (generated, gated, relaxed, scored) "
            f"and stable on {hulls[0]} (E_d < 0).",
            None,
            lambda p: bar_chart(funnel, p, title="campaign funnel", ylabel="candidates"),
        ),
        "rejections": (
            "Candidates rejected at the gate or failed, per reason (the text before ':' of "
            "each reject reason).",
            None if report["failure_counts"] else "nothing was rejected",
            lambda p: bar_chart(report["failure_counts"], p, title="rejection reasons",
                                ylabel="candidates"),
        ),
        "hits_periodic_table": (
            f"Elements of the hits (E_d below {threshold}): colour = number of hits "
            "containing the element; grey: none.",
            None if report["hits"] else "no hits",
            lambda p: periodic_table_heatmap(
                _element_counts(report["hits"]), p, title="hits per element",
                label="hits containing the element"),
        ),
    }  # fmt: skip
    todo["sites_per_structure"] = _sites_panel(report)
    for h in hulls:
        per_set = {s.name: s.e_d(h) for s in sets}
        scored = any(per_set.values())  # e_d() keeps finite values only
        todo[f"e_d_{h}"] = (
            f"Decomposition energy E_d against the {h} hull of "
            + ", ".join(per_set) + ": fraction of each set's scored rows per bin "
            "(sets of different size compare); solid line E_d = 0, dashed 25 meV/atom.",
            None if scored else f"no scored rows on {h}",
            lambda p, per_set=per_set, h=h: e_d_histograms(per_set, p, hull=h),
        )  # fmt: skip
    for k, ((a, b, h), d) in enumerate(deltas.items()):
        todo[f"delta_e_form_{k}_{h}"] = (
            f"Per-composition formation-energy difference E_f({a}) − E_f({b}) on {h}, each "
            "set's lowest E_f per reduced formula, over the compositions both hold, sorted; "
            f"green: {a} lower.",
            None if d else f"{a} and {b} hold no composition in common",
            lambda p, d=d, a=a, b=b: per_composition_delta(d, p, label_a=a, label_b=b),
        )  # fmt: skip
    report["plots"], report["captions"], report["not_drawn"] = {}, {}, {}
    for key, (caption, missing, draw) in todo.items():
        if missing:
            report["not_drawn"][key] = missing
            continue
        report["plots"][key] = str(draw(out / f"{key}.png"))
        report["captions"][key] = caption


def _sites_panel(report: dict[str, Any]) -> tuple[str, str | None, Any]:
    """Caption, reason it has no data (None: it has) and drawing of the sites panel."""
    sites = report.get("sites") or {}
    name = sites.get("campaign", report["campaign"])
    hists = {r["set"]: r["hist"] for r in sites.get("rows", [])}
    drawn = set(hists.get(name) or {}) - {"unreadable"}  # the campaign has a counted row
    others = ", ".join(k for k in hists if k != name) or "no other set"
    skipped = "; ".join(f"{k}: {v}" for k, v in (sites.get("skipped") or {}).items())
    caption = (
        f"Sites per structure: fraction of each set's rows per site count, {name}'s candidates "
        f"as generated (before relaxation) against {others}; rows without a structure are not "
        "drawn (their share is in the table)."
        + (f" Not compared (no site counts): {skipped}." if skipped else "")
    )
    missing = None if drawn else f"no candidate of {name} has a structure"
    return caption, missing, lambda p: site_count_histogram(hists, p)


def latest_nightly(stores: Any, spec_name: str, *, before: str | None = None) -> str | None:
    """Name of the latest nightly campaign ``<spec_name>-YYYY-MM-DD`` in the store.

    ``before``: only nights earlier than this campaign name (``genflow nightly`` reports the
    night that has run, not the one it just submitted). None when there is none.
    """
    night = re.compile(f"{re.escape(spec_name)}-\\d{{4}}-\\d{{2}}-\\d{{2}}")
    names = sorted(
        d["name"] for d in stores.campaigns.find({}, {"name": 1}) if night.fullmatch(d["name"])
    )
    if before is not None:
        names = [n for n in names if n < before]
    return names[-1] if names else None


def write_nightly_report(
    stores: Any, spec_name: str, out: Path, *, before: str | None = None
) -> Path | None:
    """Write the latest nightly campaign's report (``report.md``, ``report.html`` and the
    PNGs) to ``out/<campaign>/``; return the path of ``report.html``, the one file to open.

    None when the spec has no nightly campaign (before ``before``) yet.
    """
    name = latest_nightly(stores, spec_name, before=before)
    if name is None:
        return None
    return Path(build_report(stores, name, Path(out) / name)["html"])
