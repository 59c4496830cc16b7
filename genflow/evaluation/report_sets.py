"""The sets a morning report compares: campaigns, imported files, reference splits.

Every set reduces to rows per hull — (reduced formula, E_d, E_f) in eV/atom, None where a row
was not scored — so one code path fills Table 2 (ΔE_f and the E_f reduction rate for every
pair of sets, :func:`genflow.hull.metrics.compare_formation_energies`) and Table 3 (# stable
and # metastable per set per hull, :func:`genflow.hull.metrics.count_below`) of Yang et al.
2023. A campaign's rows are its candidates as the store holds them (failed ones count as
unscored rows); a file is scored on each hull (:func:`genflow.evaluation.compare.score_file`);
a reference split is MP-20's, whose MP formation energies are put on the hull's scale through
its own elemental references.

Each set also carries its sites per structure where it has them (issue 24): a campaign's
stored count per candidate, a split's per structure, a file's per structure it holds (or per
composition with counts, :func:`file_site_counts`); ``sites`` is None, with ``sites_note``
saying why, where the set has none.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genflow.hull.keys import METASTABLE_THRESHOLD, STABLE_THRESHOLD
from genflow.hull.metrics import compare_formation_energies, count_below

__all__ = [
    "ReportSet",
    "campaign_set",
    "file_site_counts",
    "load_report_set",
    "pair_tables",
    "reduced_or_none",
    "set_table",
]

Row = tuple[str | None, float | None, float | None]  # reduced formula, E_d, E_f (eV/atom)


@dataclass(frozen=True)
class ReportSet:
    """One set of a report: ``kind`` is ``campaign``, ``file`` or ``reference``."""

    name: str
    kind: str
    rows: dict[str, list[Row]] = field(default_factory=dict)  # hull → rows
    #: sites per structure, one per row (None: a row without a structure); None: no counts
    sites: tuple[int | None, ...] | None = None
    sites_note: str | None = None  # why ``sites`` is None

    def e_d(self, hull: str) -> list[float]:
        """Finite E_d of the scored rows on ``hull`` (eV/atom)."""
        return [e for _, e, _ in self.rows.get(hull, []) if e is not None and math.isfinite(e)]

    def n_stable(self, hull: str) -> int:
        """Rows with E_d < 0 on ``hull`` (Eq. 5)."""
        return count_below(self.e_d(hull), STABLE_THRESHOLD)

    def e_form_pairs(self, hull: str) -> list[tuple[str, float]]:
        """(reduced formula, E_f) of the rows with a finite E_f on ``hull``."""
        return [(f, ef) for f, _, ef in self.rows.get(hull, [])
                if f and ef is not None and math.isfinite(ef)]  # fmt: skip


def campaign_set(stores: Any, name: str, hulls: list[str]) -> ReportSet:
    """Every candidate of campaign ``name``: its score on each hull, or None if unscored (or
    implausible, as ``genflow hull score`` never counts one: ``hull.records.apply_window``),
    and its generated structure's site count (before relaxation; None: no structure read)."""
    from genflow.core.candidates import CandidateKey as K
    from genflow.core.candidates import get_path, score_path

    paths = {h: score_path(h) for h in hulls}
    projection = [K.FORMULA.value, K.NSITES.value, *paths.values()]
    docs = list(stores.candidates.find({K.CAMPAIGN.value: name}, projection))
    rows: dict[str, list[Row]] = {h: [] for h in hulls}
    for doc in docs:
        formula = reduced_or_none(doc.get(K.FORMULA))
        for h in hulls:
            score = get_path(doc, paths[h], {})
            if score.get(K.IMPLAUSIBLE):
                score = {}
            rows[h].append((formula, score.get(K.E_D), score.get(K.E_FORM)))
    sites = tuple(get_path(doc, K.NSITES) for doc in docs)
    return ReportSet(name, "campaign", rows, sites)


def reduced_or_none(formula: str | None) -> str | None:
    """Reduced formula of ``formula``; None when there is none or it does not parse."""
    from genflow.core.chem import CompositionError, parse_composition, reduced_formula

    if not formula:
        return None
    try:
        return reduced_formula(parse_composition(formula))
    except CompositionError:
        return None


def _file_set(path: Path, hulls: dict[str, Any]) -> ReportSet:
    from genflow.evaluation.compare import score_file

    rows = {}
    for h, hull in hulls.items():
        scored = score_file(path, hull)
        rows[h] = [(s.formula and reduced_or_none(s.formula), s.e_d if s.ok else None,
                    s.e_form if s.ok else None) for s in scored.scores]  # fmt: skip
    return ReportSet(path.name, "file", rows, *file_site_counts(path))


_NO_COUNTS = "a reduced formula does not say how many sites the cell had"


def file_site_counts(path: Path) -> tuple[tuple[int | None, ...] | None, str | None]:
    """Sites per row of a file: per structure where it holds structures, else per composition
    where its compositions carry counts; ``(None, why)`` where it has neither.

    A composition column counts as cell compositions only if at least one formula is not
    reduced (``Na2Cl2``): a file of reduced formulas only (``NaCl``) does not say whether a
    row's cell held 2 sites or 8.
    """
    from genflow.evaluation.sets import load_set

    try:
        structures = load_set(path)
    except (OSError, ValueError):
        structures = None
    if structures is not None and structures.ok:
        return tuple(None if s is None else len(s) for s in structures.structures), None
    return _composition_counts(path)


def _composition_counts(path: Path) -> tuple[tuple[int | None, ...] | None, str | None]:
    from genflow.core.chem import CompositionError, to_composition
    from genflow.hull.io import read_candidates

    try:
        rows, _ = read_candidates(path)
    except (OSError, ValueError) as exc:
        return None, f"no structures, and no compositions read: {exc}"
    counts: list[int | None] = []
    multiple = False  # some formula is a multiple of its reduced one: the column holds cells
    for row in rows:
        try:
            comp = to_composition(row.composition)
        except CompositionError:
            counts.append(None)
            continue
        n = comp.num_atoms
        multiple |= n > comp.reduced_composition.num_atoms + 1e-6
        counts.append(round(n) if abs(n - round(n)) < 1e-6 else None)
    if not multiple:
        return None, f"no structures and only reduced formulas ({_NO_COUNTS})"
    return tuple(counts), None


def _split_set(name: str, hulls: dict[str, Any], limit: int | None) -> ReportSet:
    """MP-20 split rows: E = E_f(MP) + Σ x_i μ_i on each hull, then scored there."""
    from genflow.model.data import load_dataset

    ds = load_dataset(name, limit=limit)
    e_form = ds.properties.get("formation_energy_per_atom")
    if e_form is None:
        raise ValueError(
            f"{name}: no formation_energy_per_atom column (only mp_20 splits carry MP's "
            "formation energies; give a file with energies instead)"
        )
    comps = [s.composition for s in ds.structures]
    rows = {}
    for h, hull in hulls.items():
        offset = -hull.formation_energy(comps, [0.0] * len(comps))  # Σ x_i μ_i per row
        scores = hull.score(
            comps, [float(ef) + float(o) for ef, o in zip(e_form, offset, strict=True)]
        )
        rows[h] = [(reduced_or_none(c.formula), s.e_d if s.ok else None, s.e_form if s.ok else None)
                   for c, s in zip(comps, scores, strict=True)]  # fmt: skip
    return ReportSet(name, "reference", rows, tuple(len(s) for s in ds.structures))


def load_report_set(
    stores: Any, source: str, hulls: list[str], *, limit: int | None = None
) -> ReportSet:
    """A campaign in the store, else a file of compositions + energies, else an MP-20 split.

    Raises
    ------
    ValueError
        When ``source`` is none of these.
    """
    if stores.campaigns.find_one({"name": source}, {"_id": 1}) is not None:
        return campaign_set(stores, source, hulls)
    from genflow.evaluation.sets import dataset_of
    from genflow.hull import load_hull

    path = Path(source)
    if not path.exists() and not dataset_of(source):
        raise ValueError(f"{source}: not a campaign in the store, a file, or a bundled split")
    loaded = {h: load_hull(h) for h in hulls}
    if path.exists():
        return _file_set(path, loaded)
    return _split_set(source, loaded, limit)


def set_table(sets: list[ReportSet], hulls: list[str]) -> list[dict[str, Any]]:
    """Table 3: per set and hull, rows, scored rows, # stable (E_d < 0), # metastable."""
    import numpy as np

    out = []
    for s, h in itertools.product(sets, hulls):
        e_d = s.e_d(h)
        out.append({
            "set": s.name, "kind": s.kind, "hull": h, "n_rows": len(s.rows.get(h, [])),
            "n_scored": len(e_d), "n_stable": count_below(e_d, STABLE_THRESHOLD),
            "n_metastable": count_below(e_d, METASTABLE_THRESHOLD),
            "median_e_d": float(np.median(e_d)) if e_d else math.nan,
        })  # fmt: skip
    return out


def pair_tables(
    sets: list[ReportSet], hulls: list[str]
) -> tuple[list[dict[str, Any]], dict[tuple[str, str, str], dict[str, float]]]:
    """Table 2 for every pair (A before B in the argument order) on each hull, plus the
    per-composition E_f^A(c) - E_f^B(c) of each pair, ``{composition: difference}`` in
    increasing order (Figs. 5 and 8)."""
    from genflow.hull.metrics import lowest_e_form_per_composition

    table, deltas = [], {}
    for (a, b), h in itertools.product(itertools.combinations(sets, 2), hulls):
        pa, pb = a.e_form_pairs(h), b.e_form_pairs(h)
        row = compare_formation_energies(pa, pb)
        row.pop("matching", None)
        table.append({"a": a.name, "b": b.name, "hull": h, **row})
        best_a, best_b = lowest_e_form_per_composition(pa), lowest_e_form_per_composition(pb)
        matched = set(best_a) & set(best_b)
        deltas[(a.name, b.name, h)] = dict(
            sorted(((c, best_a[c] - best_b[c]) for c in matched), key=lambda kv: (kv[1], kv[0]))
        )
    return table, deltas
