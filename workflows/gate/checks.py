"""Gate stages ``parse`` to ``smact``: cheap per-structure checks, one record per row."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from genflow.core.structure_io import parse_one
from genflow.workflows.gate.records import GateRecord, GateStage

__all__ = ["check_structures"]


def check_structures(
    items: Sequence[tuple[str, Any]], *, min_distance: float = 0.5, smact: bool = True
) -> list[GateRecord]:
    """Stages ``parse`` to ``smact`` on ``(key, raw)`` rows; one record per row."""
    from genflow.model.validity import smact_validity, structure_validity

    records = []
    for key, raw in items:
        rec = GateRecord(key=str(key))
        row = parse_one(raw, key=str(key))
        if not row.ok:
            stage = GateStage.ELEMENTS if row.stage == "elements" else GateStage.PARSE
            records.append(rec.reject(stage, row.reason))
            continue
        structure = row.structure
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
