"""Sites per structure in the morning report (issue 24): the campaign's against its other sets'.

A generator can put the wrong number of atoms in its samples and still pass the gate (12 % of
Perov-5 samples had 5 sites, 85 % of MP-20 samples were empty), so the report shows the
distribution of sites per generated structure (as generated: the candidate's stored count,
before any relaxation) next to that of every other set that holds structures or compositions
with counts, and next to the generator checkpoint's training set where the campaign names a
checkpoint. The numbers come from :mod:`genflow.evaluation.atom_counts`; a set without counts
is listed with the reason.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from genflow.evaluation.atom_counts import count_histogram, count_metrics
from genflow.evaluation.report_sets import ReportSet

__all__ = ["TRAINING_ROWS", "sites_table", "training_set"]

#: Rows read per file of a checkpoint's training set (its first ones): 1,000 put each bin's
#: share within about ±0.03 (two standard errors, rows in no particular order). Measured on
#: a shared 2-core machine at load ≈ 5: perov_5 2,000 rows 4 s, mp_20 3,204 rows 12 s, while
#: every row of mp_20 (9,344) took 297 s wall: too long for a nightly report.
TRAINING_ROWS = 1000


def training_set(
    stores: Any, name: str, rows: int | None = TRAINING_ROWS
) -> tuple[ReportSet | None, str]:
    """The training set of campaign ``name``'s generator checkpoint (its ``meta.json``
    ``data.source``) as a set with site counts, its first ``rows`` rows per file (None: all);
    ``(None, why)`` where the campaign samples no checkpoint or the set cannot be read here.
    The second value describes the set (or says why there is none)."""
    from genflow.campaign.spec_blocks import GeneratorSettings
    from genflow.model.registry import CHECKPOINT_KINDS, checkpoint_training_set

    doc = stores.campaigns.find_one({"name": name}, {"spec.generator": 1}) or {}
    try:
        gen = GeneratorSettings.model_validate((doc.get("spec") or {}).get("generator") or {})
    except ValueError as exc:  # a checkpoint folder gone since the campaign ran
        return None, f"the campaign's generator settings do not load here: {exc}"
    if gen.kind not in CHECKPOINT_KINDS:
        return None, f"generator kind {gen.kind!r} samples no trained checkpoint"
    checkpoint = gen.checkpoint or CHECKPOINT_KINDS[gen.kind]
    source = checkpoint_training_set(checkpoint)
    if source is None:
        return None, f"checkpoint {checkpoint!r} names no training set (meta.json data.source)"
    try:
        sites = _training_sites(source, rows)
    except (OSError, ValueError) as exc:
        return None, f"training set {source!r} of checkpoint {checkpoint!r} not readable: {exc}"
    label = f"{source} (training set)"
    first = f"the first {rows} rows of each file" if rows else "every row"
    return ReportSet(label, "training", sites=sites), (
        f"{source}, as checkpoint {checkpoint!r} names it, {first} ({len(sites)} structures)"
    )


@lru_cache(maxsize=8)
def _training_sites(source: str, rows: int | None) -> tuple[int, ...]:
    """Site counts of a training set's first ``rows`` rows per file. Cached: the data does not
    change under a running process, and every report (each ``genflow web`` view) would
    otherwise parse the same CIFs again (4-12 s). A read that fails is not cached."""
    from genflow.model.data import load_dataset

    return tuple(len(s) for s in load_dataset(source, limit=rows).structures)


def sites_table(sets: list[ReportSet]) -> dict[str, Any]:
    """Sites per structure of each set with counts, the first set (the campaign) against each
    other: ``rows`` (set, kind, n, hist, mean, empty and unreadable share; for the others the
    total variation distance to the campaign's distribution, the share of the campaign's rows
    whose count the set holds, and for a fixed-count set the campaign's exact share) and
    ``skipped`` (set → why it has no counts)."""
    campaign = sets[0]
    mine = list(campaign.sites or ())
    rows, skipped = [], {}
    for s in sets:
        if s.sites is None:
            skipped[s.name] = s.sites_note or "no site counts"
            continue
        hist = count_histogram(s.sites)
        readable = [c for c in s.sites if c is not None]
        row: dict[str, Any] = {
            "set": s.name, "kind": s.kind, "n": len(s.sites), "hist": hist,
            "mean": sum(readable) / len(readable) if readable else None,
            "empty_share": hist.get("0", 0.0) if hist else None,
            "unreadable_share": hist.get("unreadable", 0.0) if hist else None,
            "tvd": None, "campaign_in_set_share": None, "campaign_exact_share": None,
        }  # fmt: skip
        if s is not campaign and readable and mine:
            m = count_metrics(mine, readable)
            row["tvd"] = m["sites_tvd"]
            row["campaign_in_set_share"] = m["sites_in_reference_share"]
            row["campaign_exact_share"] = m["sites_exact_share"]
        rows.append(row)
    return {"campaign": campaign.name, "rows": rows, "skipped": skipped}
