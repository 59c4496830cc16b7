"""``genflow gate``: the gate alone on any generator's output, without writing anything.

Every record of every input (any format :func:`genflow.core.structure_io.read_structures`
reads: CIF folders and zips, JSON, extxyz, POSCAR, CSV, ``eval_gen.pt``) becomes one row with
its verdict, the stage that decided it and why (the matched reference's id and source, the
duplicate partner, the validity problem). Duplicates are searched within the inputs; novelty
runs against the DB's ``references`` collection when a database is configured
(``GENFLOW_DB_URI``), else against the bundled reference set in memory. Nothing is written.

An input that cannot be read at all (a missing path, a folder without structure files, a file
that cannot be opened, is binary where text was expected, is nested too deeply, is over
``MAX_INPUT_MB``) is a row too, flagged ``unreadable``; the command exits non-zero only for
those. A file whose name says no structure format (``notes.txt``, ``README``) is a row with
verdict ``skipped`` and its reason, never silently left out; it does not change the exit status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genflow.core.structure_io import StructureRow, format_of, read_structures
from genflow.core.structure_io.rows import error_row

__all__ = ["gate_inputs"]

_UNREADABLE = ("unreadable file", "unknown structure format")


_SKIPPED = "skipped"


def _skipped_row(file: Path, key: str) -> StructureRow:
    suffix = file.suffix or "(none)"
    reason = (
        f"skipped: no structure format for extension {suffix!r} (want .cif, .json, .extxyz, "
        "POSCAR, .csv, .parquet, .pt, .zip or .gz of them)"
    )
    return error_row(key, reason, source=str(file), stage=_SKIPPED)


def _read(paths: Iterable[str | Path], column: str | None = None) -> list[StructureRow]:
    rows: list[StructureRow] = []
    for path in map(Path, paths):
        if path.is_file() and format_of(path.name) is None:
            rows.append(_skipped_row(path, path.name))
            continue
        try:
            rows.extend(read_structures(path, column=column))
        except (OSError, ValueError) as exc:
            rows.append(error_row(str(path), f"unreadable file: {exc}", source=str(path)))
        if path.is_dir():  # the folder's other files: each a skipped row, with why
            others = sorted(p for p in path.rglob("*") if p.is_file() and not format_of(p.name))
            rows.extend(_skipped_row(p, p.relative_to(path).as_posix()) for p in others)
    return rows


def _unreadable(row: StructureRow) -> bool:
    return not row.ok and any(marker in (row.error or "") for marker in _UNREADABLE)


def _row(rec: Any, raw: StructureRow) -> dict[str, Any]:
    verdict = "pass" if rec.passed else "reject"
    if raw.stage == _SKIPPED:
        verdict = _SKIPPED
    if rec.passed and rec.novel is False:
        verdict = "known"  # novelty "flag": kept, but it is a known material
    return {
        "key": rec.key,
        "verdict": verdict,
        "stage": rec.stage,
        "reason": rec.reason,
        "formula": rec.formula,
        "duplicate_of": rec.duplicate_of,
        "novel": rec.novel,
        "reference_id": rec.novelty_ref_id,
        "reference_source": rec.novelty_source,
        "e_per_atom_prerelax": rec.prerelax.energy_per_atom if rec.prerelax else None,
        "source": raw.source,
        "unreadable": _unreadable(raw),
    }


def _references(formulas: set[str], use_db: bool | None) -> tuple[list[dict], list[str], str]:
    """Reference documents of ``formulas``, the sources searched, and where they came from."""
    from genflow.core.settings import get_settings
    from genflow.workflows.references import reference_docs, reference_set_sizes

    if use_db is None:
        use_db = bool(get_settings().DB_URI)
    if not use_db:
        return reference_docs(formulas), list(reference_set_sizes()), "bundled (in memory)"
    from genflow.core.store import connect

    with connect() as stores:
        docs = reference_docs(formulas, stores.references)
        return docs, list(reference_set_sizes(stores.references)), f"database {stores.db_name}"


def _novelty_fields(
    rec: Any, structure: Any, docs: list[dict], sources: list[str], hull: Any
) -> dict[str, Any]:
    """The three-valued novelty verdict of a passed row (``workflows.verdicts``), judged on
    the pre-relaxed cell when there is one, else on the input cell."""
    from genflow.hull.coverage import composition_entry
    from genflow.workflows.verdicts import novelty_verdict

    if rec.prerelax is not None and rec.prerelax.structure is not None:
        structure, geometry = rec.prerelax.structure, "prerelaxed"
    else:
        geometry = "as given"
    formula = structure.composition.reduced_formula
    compared = [d["ref_id"] for d in docs if d["reduced_formula"] == formula]
    fields = novelty_verdict(
        formula,
        match=rec.novelty_match,
        compared=len(compared),
        compared_ids=compared,
        sources=sources,
        entry=composition_entry(hull, formula),
        hull=hull.name,
        energy_per_atom=rec.prerelax.energy_per_atom if rec.prerelax else None,
        n_sites=len(structure.get_primitive_structure()),
        geometry=geometry,
    )
    return {**fields, "novelty_geometry": geometry}


def gate_inputs(
    paths: Iterable[str | Path],
    *,
    prerelax: bool = False,
    novelty: str = "reject",
    smact: bool = True,
    min_distance: float = 0.5,
    use_db: bool | None = None,
    column: str | None = None,
    novelty_hull: str = "mp2021",
) -> dict[str, Any]:
    """Gate every record of ``paths``; return ``{"rows", "summary", "references"}``.

    Parameters
    ----------
    paths
        Files, folders or archives.
    prerelax
        Also run the MLIP pre-relax on the survivors.
    novelty
        ``"reject"``, ``"flag"`` or ``"off"``.
    use_db
        References from the configured database (default: when ``GENFLOW_DB_URI`` is set).
    column
        The structure column of CSV / parquet tables (None: found by its content).
    novelty_hull
        Hull asked whether a composition is known: each passed row carries ``novelty``
        ``novel`` / ``known`` / ``unverified`` with its reason (``workflows.verdicts``).
    """
    from genflow.workflows.gate.records import GateRecord, GateStage
    from genflow.workflows.gate.run import run_gate
    from genflow.workflows.references import index_references

    raw = _read(paths, column)
    good = [(r.key, r.structure) for r in raw if r.ok]
    refs, where, docs, sources, hull = None, None, [], [], None
    if novelty != "off" and good:
        from genflow.hull.loaders import load_hull

        formulas = {s.composition.reduced_formula for _, s in good}
        docs, sources, where = _references(formulas, use_db)
        refs, hull = index_references(docs), load_hull(novelty_hull)
    gated = iter(
        run_gate(
            good,
            min_distance=min_distance,
            smact=smact,
            references=refs,
            novelty=novelty if refs is not None else "off",
            prerelax=prerelax,
        )
    )
    rows = []
    for r in raw:
        if r.ok:
            rec = next(gated)
        elif r.stage == _SKIPPED:
            rec = GateRecord(key=r.key, passed=False, reason=r.reason)
        else:
            stage = GateStage.ELEMENTS if r.stage == "elements" else GateStage.PARSE
            rec = GateRecord(key=r.key).reject(stage, r.reason or "unreadable")
        row = _row(rec, r)
        if hull is not None and rec.passed:
            row.update(_novelty_fields(rec, r.structure, docs, sources, hull))
        rows.append(row)
    by_stage = Counter(row["stage"] for row in rows if row["verdict"] == "reject")
    summary = {
        "n_in": len(rows),
        "n_pass": sum(row["verdict"] in ("pass", "known") for row in rows),
        "n_known": sum(row["verdict"] == "known" for row in rows),
        "novelty": dict(Counter(row["novelty"] for row in rows if row.get("novelty"))),
        "reference_sources": sources,
        "n_rejected": sum(by_stage.values()),
        "rejected_by_stage": dict(sorted(by_stage.items())),
        "n_unreadable": sum(row["unreadable"] for row in rows),
        "n_skipped": sum(row["verdict"] == _SKIPPED for row in rows),
    }
    return {"rows": rows, "summary": summary, "references": where}
