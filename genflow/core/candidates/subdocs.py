"""Sub-documents of a candidate: generator provenance, gate, MLIP, DFT and hull-score results.

Exported by :mod:`genflow.core.candidates`; import them from there. Every model tolerates extra
keys (other rooms may record more) and sanitises numpy values so documents encode to BSON.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from monty.json import jsanitize
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "GateResult",
    "GeneratorProvenance",
    "HullScoreDoc",
    "PrerelaxDoc",
    "RelaxDoc",
    "VerdictDoc",
    "utcnow",
]

#: The three novelty verdicts of a relaxed candidate (:class:`VerdictDoc`).
NOVELTY_VERDICTS = ("novel", "known", "unverified")


def utcnow() -> datetime:
    """Return the current UTC time truncated to milliseconds (MongoDB's date precision)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _aware(value: datetime) -> datetime:
    # pymongo returns naive UTC datetimes unless the client is tz_aware.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Doc(BaseModel):
    """Base for sub-documents: tolerate extra keys other rooms add, keep them JSON/BSON-safe."""

    model_config = ConfigDict(extra="allow", use_enum_values=True)

    @model_validator(mode="before")
    @classmethod
    def _sanitize(cls, data: Any) -> Any:
        # numpy scalars/arrays from engines would not encode to BSON.
        return jsanitize(data, strict=False, allow_bson=True) if isinstance(data, dict) else data


class GeneratorProvenance(_Doc):
    """Which generator produced the sample, so a hit can be traced to its checkpoint."""

    model_name: str = Field(..., description="Generator name, e.g. 'unimat'.")
    checkpoint_hash: str = Field(..., description="Content hash of the checkpoint used.")
    seed: int | None = Field(None, description="Sampling seed.")
    sample_index: int | None = Field(None, description="Index of the sample in its batch.")
    conditioning: dict[str, Any] = Field(
        default_factory=dict, description="Conditioning: composition, elements, n_atoms, ..."
    )


class GateResult(_Doc):
    """Outcome of the cheap gate checks (the workflows room may add keys)."""

    valid: bool | None = Field(None, description="Structure validity (distances, cell).")
    validity_reason: str | None = None
    smact_valid: bool | None = Field(None, description="SMACT charge neutrality + electroneg.")
    duplicate_of: str | None = Field(None, description="candidate_id this one duplicates.")
    novel: bool | None = Field(None, description="Matches no reference (None: unchecked).")
    novelty_match: str | None = Field(
        None, description="Key of the matching reference, 'source/ref_id' (core.references)."
    )
    novelty_ref_id: str | None = Field(None, description="Id of the matching reference.")
    novelty_source: str | None = Field(None, description="Source of the matching reference.")
    fingerprint: dict | None = Field(
        None, description="Lattice fingerprint for the dedupe prefilter (workflows.fingerprint)."
    )


class PrerelaxDoc(_Doc):
    """MLIP pre-relax and pre-screen (``genflow.workflows.mlips``: model and energy scale)."""

    model: str | None = Field("CHGNet", description="Force field (and checkpoint) name.")
    energy_per_atom: float | None = Field(
        None, description="eV/atom of the pre-relaxed cell, MP2020 scale."
    )
    correction_per_atom: float | None = Field(
        None, description="MP2020 correction (eV/atom) added to a raw-PBE model's energy."
    )
    method: str | None = Field(None, description="'batched', 'torch-sim' or 'atomate2'.")
    e_d: float | None = Field(None, description="Pre-screen E_d (eV/atom) on `hull`.")
    hull: str | None = None
    job_uuid: str | None = Field(None, description="jobflow uuid of the pre-relax job.")
    structure: dict | None = Field(None, description="Pre-relaxed structure (pymatgen dict).")


class RelaxDoc(_Doc):
    """Relax+static result; task docs live in the JobStore under ``task_uuids``."""

    engine: str = Field(..., description="'vasp', 'mlip' or 'gpaw'.")
    energy_per_atom: float | None = Field(
        None, description="eV/atom; MP2020-compatible when `mp_compatible`."
    )
    mp_compatible: bool = Field(False, description="Energy went through MP2020 corrections.")
    converged: bool = Field(..., description="Relaxation and static converged.")
    task_uuid: str | None = Field(None, description="jobflow uuid of the job giving the energy.")
    task_uuids: list[str] = Field(default_factory=list, description="All relax/static job uuids.")
    structure: dict | None = Field(None, description="Final relaxed structure (pymatgen dict).")
    error: str | None = None
    compatibility_note: str | None = Field(None, description="Why not MP-compatible, if not.")
    correction_per_atom: float | None = Field(
        None, description="MP2020 correction plus POTCAR offsets applied (eV/atom)."
    )
    potcar_scale: str = Field(
        "mp",
        description="POTCAR scale the engine computed on: 'mp', 'gnome' (PBE_54 Ga/Ge/Li/Mg/Na) "
        "or 'mixed'; `energy_per_atom` is always moved onto MP's.",
    )
    pp_offsets: dict[str, float] = Field(
        default_factory=dict,
        description="Element → GNoME POTCAR offset subtracted (eV per atom of the compound).",
    )


class HullScoreDoc(_Doc):
    """One hull's score of the candidate (mirrors ``genflow.hull.HullScore``), eV/atom."""

    e_d: float | None = None
    e_form: float | None = None
    is_stable: bool | None = None
    is_metastable: bool | None = None
    decomposition: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    composition_known: bool | None = Field(
        None, description="The reference holds an entry of the reduced composition."
    )
    binaries_known: dict[str, bool] = Field(
        default_factory=dict, description="'A-B' → the reference has an entry of that binary."
    )
    novelty: str | None = Field(
        None,
        description="Hull coverage of the composition: 'known composition' or 'composition "
        "absent from hull' (genflow.hull.coverage); the novelty verdict is `verdict.novelty`.",
    )
    implausible: bool | None = Field(
        None,
        description="True: E_d below the physical window (hull.records.apply_window), scored "
        "but never a hit. Stored as true or null, never false: the hit filter's "
        "`implausible: null` is then an equality the hits index serves.",
    )
    coverage: str | None = Field(
        None,
        description="'thin': the reference lacks a binary of the system that data, not "
        "chemistry, left out (hull.coverage.thin_binaries); else 'ok'.",
    )
    coverage_missing: list[str] = Field(
        default_factory=list,
        description="What makes coverage thin, e.g. 'no binary Te–Yb compound in mp2021'.",
    )
    audit: dict | None = Field(
        None,
        description="Hit audit (workflows.hit_audit): verdict 'hull_gap_suspected' or "
        "'confirmed', the engine, the local-hull E_d and the phase that beats the hit.",
    )
    round: int = Field(0, description="Hull round scored against (0: the reference itself).")

    @field_validator("implausible")
    @classmethod
    def _true_or_none(cls, value: bool | None) -> bool | None:
        return True if value else None

    @classmethod
    def from_score(cls, score: Any) -> HullScoreDoc:
        """Build from a ``HullScore`` dataclass, a dict or another model."""
        if isinstance(score, BaseModel):
            return cls.model_validate(score.model_dump())
        if isinstance(score, dict):
            return cls.model_validate(score)
        return cls.model_validate(dataclasses.asdict(score))


class VerdictDoc(_Doc):
    """Novelty, uniqueness and structure type of the *relaxed* candidate (``workflows.verdicts``).

    The gate's ``novel``/``duplicate_of`` judge the generated cell (a cheap filter); these
    judge the relaxed one, against the references and every earlier relaxed candidate, and
    are the verdicts a hit shows.
    """

    novelty: str | None = Field(
        None,
        description="'novel' (none of `novelty_compared` references of its reduced formula "
        "from `novelty_sources` matches), 'known' (`novelty_ref_id` matches) or 'unverified' "
        "(no structure compared but the composition is known: `novelty_ref_id` names the "
        "hull entry).",
    )
    novelty_reason: str | None = Field(None, description="The verdict in one sentence.")
    novelty_ref_id: str | None = Field(
        None, description="Matching reference ('known') or hull entry ('unverified')."
    )
    novelty_source: str | None = Field(
        None, description="Reference source of the match, or the hull of the entry."
    )
    novelty_compared: int = Field(0, description="Reference structures of its formula compared.")
    novelty_sources: list[str] = Field(
        default_factory=list, description="Reference sources searched (the named set)."
    )
    novelty_hull: str | None = Field(
        None, description="Hull asked whether the composition is known."
    )
    rediscovery_of: str | None = Field(
        None,
        description="Hull entry whose energy (within REDISCOVERY_EV) and cell size it repeats.",
    )
    duplicate_of: str | None = Field(
        None, description="Earlier candidate it relaxed into the same crystal as (not unique)."
    )
    geometry: str = Field("relaxed", description="Which cell was matched: 'relaxed'.")
    fingerprint: dict | None = Field(None, description="Dedupe fingerprint of the relaxed cell.")
    spacegroup_generated: str | None = Field(None, description="e.g. 'P1 (1)', as generated.")
    spacegroup_relaxed: str | None = Field(None, description="e.g. 'P4mm (99)', relaxed.")
    prototype: str | None = Field(None, description="AFLOW prototype label of the relaxed cell.")
    prototype_name: str | None = Field(None, description="Its mineral / common name.")

    @property
    def unique(self) -> bool:
        """True unless it relaxed into an earlier candidate's crystal."""
        return self.duplicate_of is None
