"""Frozen gate records: one :class:`GateRecord` per input row, failures kept as rows.

A rejected record names its :class:`GateStage` and reason; the record of a passed row carries
every check's result, named as in ``genflow.core.candidates.GateResult``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pymatgen.core import Structure

__all__ = ["GateRecord", "GateStage", "PrerelaxResult"]


class GateStage(StrEnum):
    """Gate stages; a rejected record names the one that rejected it."""

    PARSE = "parse"
    ELEMENTS = "elements"
    VALIDITY = "validity"
    SMACT = "smact"
    DUPLICATE = "duplicate"
    NOVELTY = "novelty"
    PRERELAX = "prerelax"
    PRESCREEN = "prescreen"


@dataclass(frozen=True)
class PrerelaxResult:
    """MLIP pre-relaxation of one structure (energies in eV/atom, MP2020 scale).

    ``correction_per_atom`` is the MP2020 correction added to a raw-PBE model's energy (0 for
    CHGNet). ``error`` is set (the other fields None) when the force field failed on it.
    """

    structure: Structure | None = None
    energy_per_atom: float | None = None
    converged: bool | None = None
    n_steps: int | None = None
    forcefield: str | None = None
    forcefield_version: str | None = None
    error: str | None = None
    method: str | None = None
    correction_per_atom: float | None = None


@dataclass(frozen=True)
class GateRecord:
    """Gate outcome of one input row.

    Attributes
    ----------
    key
        The row's key (candidate id).
    passed
        Survived every stage that ran.
    stage, reason
        Stage that rejected the row and why (None if passed).
    formula
        Reduced formula (None if unparseable).
    structure
        Parsed structure (the pre-relaxed one after ``prerelax``).
    valid, validity_reason, smact_valid, duplicate_of, novel, novelty_match, novelty_ref_id,
    novelty_source
        Per-check results, named as in ``genflow.core.candidates.GateResult`` (None = not run).
    prerelax
        The CHGNet pre-relaxation, if it ran.
    e_d, hull
        Pre-screen decomposition energy (eV/atom) and the hull it was computed on.
    fingerprint
        Dedupe fingerprint (``genflow.workflows.gate.fingerprint.fingerprint``), if computed.
    """

    key: str
    passed: bool = True
    stage: str | None = None
    reason: str | None = None
    formula: str | None = None
    structure: Structure | None = None
    valid: bool | None = None
    validity_reason: str | None = None
    smact_valid: bool | None = None
    duplicate_of: str | None = None
    novel: bool | None = None
    novelty_match: str | None = None
    novelty_ref_id: str | None = None
    novelty_source: str | None = None
    prerelax: PrerelaxResult | None = None
    e_d: float | None = None
    hull: str | None = None
    fingerprint: dict | None = None

    def reject(self, stage: GateStage, reason: str, **changes: Any) -> GateRecord:
        """Return a rejected copy."""
        return dataclasses.replace(self, passed=False, stage=str(stage), reason=reason, **changes)

    def gate_doc(self) -> dict[str, Any]:
        """Fields of ``genflow.core.candidates.GateResult`` (plus stage and reason)."""
        names = ("valid", "validity_reason", "smact_valid", "duplicate_of", "novel",
                 "novelty_match", "novelty_ref_id", "novelty_source", "fingerprint", "stage",
                 "reason")  # fmt: skip
        return {name: getattr(self, name) for name in names}
