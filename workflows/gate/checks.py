"""Gate stages ``parse`` to ``smact``: cheap per-structure checks, one record per row."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

from pymatgen.core import Element, Structure

from genflow.workflows.gate.records import GateRecord, GateStage

__all__ = ["check_structures", "parse_structure"]


def parse_structure(raw: Any) -> tuple[Structure | None, str | None]:
    """Turn a Structure, pymatgen dict or CIF string into a Structure, or explain why not.

    Returns
    -------
    tuple
        ``(structure, None)`` or ``(None, reason)``; unknown element symbols in a dict are
        reported as such (a CIF parses them as dummy species, caught by the element check).
    """
    if isinstance(raw, Structure):
        return raw, None
    if raw is None:
        return None, "no structure (None)"
    if isinstance(raw, dict):
        symbols = {
            sp.get("element") for site in raw.get("sites", []) for sp in site.get("species", [])
        }
        if bad := sorted(str(s) for s in symbols if not Element.is_valid_symbol(str(s))):
            return None, f"unknown element(s): {', '.join(bad)}"
        try:
            return Structure.from_dict(raw), None
        except Exception as exc:  # any parse failure is a row error, not a crash
            return None, f"malformed structure dict: {type(exc).__name__}: {exc}"
    if isinstance(raw, str):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pymatgen warns per rounded coordinate
                return Structure.from_str(raw, fmt="cif"), None
        except Exception as exc:
            return None, f"malformed CIF: {type(exc).__name__}: {str(exc)[:200]}"
    return None, f"unsupported input type {type(raw).__name__}"


def check_structures(
    items: Sequence[tuple[str, Any]], *, min_distance: float = 0.5, smact: bool = True
) -> list[GateRecord]:
    """Stages ``parse`` to ``smact`` on ``(key, raw)`` rows; one record per row."""
    from genflow.model.validity import smact_validity, structure_validity

    records = []
    for key, raw in items:
        rec = GateRecord(key=str(key))
        structure, why = parse_structure(raw)
        if structure is None:
            records.append(rec.reject(GateStage.PARSE, why or "unparseable"))
            continue
        unknown = sorted({str(sp) for sp in structure.species if not isinstance(sp, Element)})
        if unknown:
            records.append(
                rec.reject(GateStage.ELEMENTS, f"unknown element(s): {', '.join(unknown)}")
            )
            continue
        rec = dataclasses.replace(
            rec, structure=structure, formula=structure.composition.reduced_formula
        )
        ok, why = structure_validity(structure, min_distance)
        rec = dataclasses.replace(rec, valid=ok, validity_reason=why)
        if not ok:
            records.append(rec.reject(GateStage.VALIDITY, why or "invalid structure"))
            continue
        if smact:
            try:
                smact_ok = smact_validity(structure.composition)
            except ValueError as exc:
                smact_ok, why = False, str(exc)
            else:
                why = f"{rec.formula} is not charge neutral (SMACT)"
            rec = dataclasses.replace(rec, smact_valid=smact_ok)
            if not smact_ok:
                records.append(rec.reject(GateStage.SMACT, why))
                continue
        records.append(rec)
    return records
