"""Reading candidate energies and writing scores (CSV, JSON, extxyz, pymatgen entry JSON).

Every input row becomes a ``CandidateRow``; a row that cannot be read keeps its place with
an ``error`` so the output has one row per input row, in input order.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from genflow.core.chem import CompositionError, formula, parse_composition
from genflow.core.structure_io import read_file_text, read_structures
from genflow.hull.keys import HullColumn
from genflow.hull.records import HullScore, apply_window, implausible_window

if TYPE_CHECKING:
    from genflow.hull.reference import ReferenceHull

__all__ = [
    "PROGRESS_ROWS",
    "CandidateRow",
    "read_candidates",
    "read_table",
    "score_candidates",
    "write_scores",
]

#: Inputs longer than this get a progress bar (:func:`score_candidates`).
PROGRESS_ROWS = 2000


@dataclass(frozen=True)
class CandidateRow:
    """One input row: a composition and its energy per atom (eV/atom), or why it is unusable."""

    composition: Any
    energy_per_atom: float
    error: str | None = None


#: Columns holding formulas: read as text, never as missing values.
_FORMULA_COLUMNS = frozenset({"composition", "formula", "pretty_formula", "reduced_formula"})
#: pandas' default missing-value strings (``read_csv`` ``na_values``).
_NA_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or JSON table (records, columns, or pymatgen entry dicts) into a DataFrame.

    pymatgen ``ComputedEntry``/``ComputedStructureEntry`` dicts become rows with
    ``composition`` (formula), ``energy`` (corrected total, eV) and ``material_id``.
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if ".json" in suffixes:
        text = read_file_text(path)
        data = json.loads(text)
        if isinstance(data, list) and data and isinstance(data[0], dict) and "@class" in data[0]:
            return pd.DataFrame([_entry_row(d) for d in data])
        return pd.DataFrame(data)
    if ".csv" in suffixes:
        return _read_csv(path)
    raise ValueError(f"{path}: unsupported file type (expected .csv or .json, optionally .gz)")


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV table; a ragged line (a field count unlike the header's) is a row with an error.

    pandas rejects a whole file for one ragged line, so the lines are split by the csv module
    first: the good ones go to pandas, each ragged one keeps its place as a row whose
    ``error`` quotes the line back.
    """
    text = read_file_text(path)
    lines = text.splitlines()
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise ValueError(f"{path}: empty CSV file")
    good, bad, kept = io.StringIO(), {}, 0
    writer = csv.writer(good)
    writer.writerow(header)
    order: list[int | None] = []  # per data row: its index among the good rows, or None
    for fields in reader:
        if not fields:  # a blank line
            continue
        if len(fields) != len(header):
            line = lines[reader.line_num - 1] if reader.line_num <= len(lines) else ",".join(fields)
            bad[len(order)] = (
                f"line {reader.line_num}: {len(fields)} fields, header has {len(header)}: "
                f"{line[:200]!r}"
            )
            order.append(None)
            continue
        writer.writerow(fields)
        order.append(kept)
        kept += 1
    # pandas reads the formula "NaN" (sodium nitride) as a missing value: formula columns
    # keep their text, every other column pandas' usual missing-value markers.
    na = {c: _NA_VALUES for c in header if c not in _FORMULA_COLUMNS}
    table = pd.read_csv(io.StringIO(good.getvalue()), keep_default_na=False, na_values=na)
    if not bad:
        return table
    records = table.to_dict("records")
    error = str(HullColumn.error)
    rows = [{error: bad[i]} if at is None else records[at] for i, at in enumerate(order)]
    return pd.DataFrame(rows, columns=[*table.columns, *([error] if error not in table else [])])


def _entry_row(d: dict) -> dict:
    """Row of a pymatgen entry dict; unreadable dicts keep their place with the reason."""
    from monty.json import MontyDecoder

    try:
        entry = MontyDecoder().process_decoded(d)
        return {
            HullColumn.composition: formula(entry.composition),
            HullColumn.energy: float(entry.energy),  # includes the entry's own corrections
            HullColumn.material_id: entry.entry_id,
        }
    except Exception as exc:  # any malformed dict: keep the row, record why
        return {
            HullColumn.composition: None,
            HullColumn.energy: math.nan,
            HullColumn.error: f"bad entry: {exc}",
        }


def read_candidates(path: str | Path) -> tuple[list[CandidateRow], pd.DataFrame]:
    """Read candidate compositions and energies per atom.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.json`` with ``composition`` and ``energy_per_atom`` (eV/atom) or total
        ``energy`` (eV); a JSON list of pymatgen ``ComputedStructureEntry`` dicts (their
        corrected energy is used); or ``.extxyz``/``.xyz`` frames with an energy
        (calculator result, ``info['energy']`` or ``info['energy_per_atom']``).

    Returns
    -------
    rows : list of CandidateRow
        One per input row/frame, in input order.
    table : pandas.DataFrame
        The input columns (kept in the output file next to the scores).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} does not exist")
    if path.suffix.lower() in (".extxyz", ".xyz"):
        return _read_extxyz(path)
    table = read_table(path)
    if HullColumn.composition not in table:
        raise ValueError(
            f"{path}: no {HullColumn.composition!r} column (have {list(table.columns)})"
        )
    per_atom = HullColumn.energy_per_atom in table
    if not per_atom and HullColumn.energy not in table:
        raise ValueError(
            f"{path}: needs {HullColumn.energy_per_atom!r} (eV/atom) or {HullColumn.energy!r} (eV)"
        )
    rows = []
    energy_col = HullColumn.energy_per_atom if per_atom else HullColumn.energy
    errors = table[HullColumn.error] if HullColumn.error in table else [None] * len(table)
    for comp, energy, err in zip(
        table[HullColumn.composition], table[energy_col], errors, strict=True
    ):
        if isinstance(err, str) and err:
            rows.append(CandidateRow(comp, math.nan, err))
            continue
        e = _to_float(energy)
        if math.isnan(e) and isinstance(energy, str) and energy.strip().lower() != "nan":
            # text that is no number is the user's typo: quote it back, never call it "nan"
            rows.append(CandidateRow(comp, e, f"{energy_col}: not a number: {energy[:80]!r}"))
            continue
        if not per_atom and math.isfinite(e):
            # A malformed composition is reported when the row is scored.
            with contextlib.suppress(CompositionError):
                e /= sum(a for _, a in parse_composition(comp))
        rows.append(CandidateRow(comp, e))
    return rows, table


def _read_extxyz(path: Path) -> tuple[list[CandidateRow], pd.DataFrame]:
    rows, records = [], []
    for row in read_structures(path):
        if not row.ok:
            rows.append(CandidateRow(None, math.nan, row.error))
            records.append({HullColumn.composition: None, HullColumn.energy_per_atom: math.nan})
            continue
        comp, info = row.structure.composition, row.structure.properties
        energy, error = math.nan, None
        if "energy_per_atom" in info:
            energy = _to_float(info["energy_per_atom"])
        elif "energy" in info:
            energy = _to_float(info["energy"]) / comp.num_atoms
        else:
            error = f"{row.key}: no energy (calculator, info['energy'] or info['energy_per_atom'])"
        rows.append(CandidateRow(formula(comp), energy, error))
        records.append({HullColumn.composition: formula(comp), HullColumn.energy_per_atom: energy})
    return rows, pd.DataFrame(records)


def score_candidates(
    rows: Sequence[CandidateRow],
    reference: ReferenceHull,
    *,
    progress: bool = False,
    implausible_below: float | None = None,
) -> list[HullScore]:
    """One score per row of :func:`read_candidates`, in input order.

    Readable rows are scored on ``reference`` in one batch; a row with an ``error`` keeps its
    place as a failed score carrying that reason. ``progress`` shows a bar only for inputs
    longer than :data:`PROGRESS_ROWS`. A score with E_d below ``implausible_below``
    (eV/atom; default the ``IMPLAUSIBLE_E_D`` setting) is kept but marked ``implausible``,
    with ``is_stable``/``is_metastable`` None (:func:`genflow.hull.records.apply_window`).
    """
    good = [i for i, r in enumerate(rows) if r.error is None]
    scored = reference.score(
        [rows[i].composition for i in good],
        [rows[i].energy_per_atom for i in good],
        progress=progress and len(rows) > PROGRESS_ROWS,
    )
    scores: list[HullScore] = [HullScore.failed(r.error or "") for r in rows]
    below = implausible_window(implausible_below)  # the setting read once, not per row
    for i, s in zip(good, scored, strict=True):
        scores[i] = apply_window(s, below)
    return scores


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def write_scores(
    path: str | Path, scores: Sequence[HullScore], table: pd.DataFrame | None = None
) -> None:
    """Write one row per score (input order): input columns, then the score columns.

    CSV holds ``decomposition`` as a JSON string; JSON is a list of records.
    """
    path = Path(path)
    out = pd.DataFrame([s.as_row() for s in scores])
    out.columns = [str(c) for c in out.columns]
    if table is not None:
        keep = table.drop(columns=[c for c in table.columns if c in out.columns], errors="ignore")
        out = pd.concat([keep.reset_index(drop=True), out], axis=1)
    if path.suffix.lower() == ".json":
        path.write_text(out.to_json(orient="records", indent=1))
        return
    out[str(HullColumn.decomposition)] = out[str(HullColumn.decomposition)].map(json.dumps)
    out.to_csv(path, index=False)
