"""The candidate document: one generated crystal and everything genflow learns about it.

Every room reads and writes this one schema (pydantic v2). A candidate moves through

``generated → gated → prerelaxed → relaxed → scored``, and any non-terminal state may go to
``rejected`` (with ``reject_reason``). ``gated → relaxed`` is allowed for campaigns without an
MLIP pre-relax. One way back: ``genflow campaign rerun`` reopens a candidate rejected by its
relaxation, ``rejected → gated`` (:data:`RERUN_TRANSITIONS`, history kept); pipeline jobs never
undo a rejection. Re-applying the current state is a no-op, so a rerun job (FireWorks lost-run
rerun) can repeat its transition safely; anything else raises ``ValueError``.

``candidate_id`` is deterministic (:mod:`genflow.core.candidates.ids`), so re-submitting a
campaign inserts nothing twice.

>>> from pymatgen.core import Lattice, Structure
>>> s = Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> prov = {"model_name": "unimat", "checkpoint_hash": "abc123", "conditioning": {}}
>>> c = Candidate.from_structure(s, "demo", prov, seed=0, index=3)
>>> c.state, c.reduced_formula, c.chemsys
('generated', 'NaCl', 'Cl-Na')
>>> c.candidate_id == Candidate.from_structure(s, "demo", prov, seed=0, index=3).candidate_id
True
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

from monty.json import jsanitize
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from genflow.core.candidates.hits import is_hit
from genflow.core.candidates.ids import make_candidate_id
from genflow.core.candidates.keys import CandidateKey as K
from genflow.core.candidates.keys import score_key
from genflow.core.candidates.subdocs import (
    GateResult,
    GeneratorProvenance,
    HullScoreDoc,
    PrerelaxDoc,
    RelaxDoc,
    VerdictDoc,
    _aware,
    utcnow,
)
from genflow.core.chem import formula

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "ALLOWED_TRANSITIONS",
    "RERUN_TRANSITIONS",
    "Candidate",
    "CandidateState",
    "StateChange",
    "allowed_sources",
    "check_transition",
]

_SUBDOCS = (K.GATE, K.PRERELAX, K.RELAX, K.VERDICT)


class CandidateState(StrEnum):
    """Life-cycle states of a candidate (stored as these strings)."""

    GENERATED = "generated"
    REJECTED = "rejected"
    GATED = "gated"
    PRERELAXED = "prerelaxed"
    RELAXED = "relaxed"
    SCORED = "scored"


S = CandidateState
ALLOWED_TRANSITIONS: dict[CandidateState, frozenset[CandidateState]] = {
    S.GENERATED: frozenset({S.GATED, S.REJECTED}),
    S.GATED: frozenset({S.PRERELAXED, S.RELAXED, S.REJECTED}),
    S.PRERELAXED: frozenset({S.RELAXED, S.REJECTED}),
    S.RELAXED: frozenset({S.SCORED, S.REJECTED}),
    S.SCORED: frozenset(),
    S.REJECTED: frozenset(),
}
#: Reopened by a rerun only (``repository.reopen_for_rerun``), never by a pipeline job: kept out
#: of ALLOWED_TRANSITIONS so a repeated gate job cannot move a rejected candidate back.
RERUN_TRANSITIONS: dict[CandidateState, CandidateState] = {S.REJECTED: S.GATED}


def allowed_sources(target: CandidateState | str) -> list[str]:
    """Return the states a candidate may be in to move to ``target`` (including ``target``)."""
    target = CandidateState(target)
    return [str(target)] + [str(s) for s, dests in ALLOWED_TRANSITIONS.items() if target in dests]


def check_transition(
    candidate_id: str, current: CandidateState | str, target: CandidateState | str
):
    """Raise ``ValueError`` unless ``current → target`` is legal (or ``current == target``)."""
    current, target = CandidateState(current), CandidateState(target)
    if current != target and target not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none (terminal state)"
        raise ValueError(
            f"candidate {candidate_id}: illegal state transition {current} → {target} "
            f"(allowed from {current}: {allowed})"
        )


class StateChange(BaseModel):
    """One entry of a candidate's state history."""

    model_config = ConfigDict(use_enum_values=True)

    state: CandidateState
    at: datetime
    note: str | None = None

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _aware(value)


class Candidate(BaseModel):
    """A generated crystal and its gate, MLIP, DFT and hull results (one MongoDB document)."""

    model_config = ConfigDict(use_enum_values=True, validate_assignment=True, validate_default=True)

    candidate_id: str
    campaign: str
    provenance: GeneratorProvenance
    structure: dict | None = Field(None, description="Generated structure (pymatgen dict).")
    raw_input: str | None = Field(None, description="Unparseable input kept for the record.")
    formula: str | None = None
    reduced_formula: str | None = None
    chemsys: str | None = Field(None, description="Sorted elements joined by '-'.")
    elements: list[str] = Field(default_factory=list)
    nsites: int | None = None
    state: CandidateState = CandidateState.GENERATED
    reject_reason: str | None = None
    gate: GateResult | None = None
    prerelax: PrerelaxDoc | None = None
    relax: RelaxDoc | None = None
    verdict: VerdictDoc | None = Field(
        None, description="Novelty, uniqueness, symmetry of the relaxed cell (workflows.verdicts)."
    )
    scores: dict[str, HullScoreDoc] = Field(default_factory=dict)
    is_hit: dict[str, bool] = Field(default_factory=dict)
    hit_hulls: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    state_at: dict[str, datetime] = Field(
        default_factory=dict, description="First time each state was reached."
    )
    history: list[StateChange] = Field(default_factory=list)

    @field_validator(K.CREATED_AT.value, K.UPDATED_AT.value)
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _aware(value)

    @field_validator(K.STRUCTURE.value)
    @classmethod
    def _plain_structure(cls, value: dict | None) -> dict | None:
        # Tuples (pbc) and numpy values become lists/floats, as they come back from BSON.
        return None if value is None else jsanitize(value, strict=False)

    @field_validator(K.STATE_AT.value)
    @classmethod
    def _utc_map(cls, value: dict[str, datetime]) -> dict[str, datetime]:
        return {k: _aware(v) for k, v in value.items()}

    @field_validator(K.SCORES.value)
    @classmethod
    def _hull_keys(cls, value: dict[str, HullScoreDoc]) -> dict[str, HullScoreDoc]:
        for name in value:
            if score_key(name) != name:
                raise ValueError(f"{name!r} is not a storable hull key (use score_key)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.state == S.REJECTED and not self.reject_reason:
            raise ValueError(f"candidate {self.candidate_id}: state rejected needs reject_reason")
        if self.state in (S.RELAXED, S.SCORED) and self.relax is None:
            raise ValueError(f"candidate {self.candidate_id}: state {self.state} needs relax")
        if self.state == S.SCORED and not self.scores:
            raise ValueError(f"candidate {self.candidate_id}: state scored needs scores")
        return self

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_structure(
        cls,
        structure: Structure,
        campaign: str,
        provenance: GeneratorProvenance | dict,
        seed: int,
        index: int,
    ) -> Candidate:
        """Make a ``generated`` candidate from a generator sample.

        Parameters
        ----------
        structure
            The sampled structure.
        campaign
            Campaign name.
        provenance
            ``Generator.provenance`` (model_name, checkpoint_hash, conditioning, ...).
        seed, index
            Seed of the sampling call and the sample's index in its batch.
        """
        prov = _provenance(provenance, seed, index)
        comp = structure.composition
        elements = sorted(el.symbol for el in comp.elements)
        now = utcnow()
        return cls(
            candidate_id=make_candidate_id(campaign, structure, prov, seed, index),
            campaign=campaign,
            provenance=prov,
            structure=structure.as_dict(),
            formula=formula(comp),  # the one spelling (genflow.core.chem)
            reduced_formula=comp.reduced_formula,
            chemsys="-".join(elements),
            elements=elements,
            nsites=len(structure),
            created_at=now,
            updated_at=now,
            state_at={S.GENERATED.value: now},
            history=[StateChange(state=S.GENERATED, at=now)],
        )

    @classmethod
    def from_invalid_input(
        cls,
        raw: str,
        campaign: str,
        provenance: GeneratorProvenance | dict,
        seed: int,
        index: int,
        reason: str,
    ) -> Candidate:
        """Make a ``rejected`` candidate for input that is not even a structure (bad CIF, ...).

        The raw text is kept so the failure stays a row with its reason.
        """
        prov = _provenance(provenance, seed, index)
        now = utcnow()
        return cls(
            candidate_id=make_candidate_id(campaign, raw, prov, seed, index),
            campaign=campaign,
            provenance=prov,
            raw_input=raw,
            state=S.REJECTED,
            reject_reason=reason,
            created_at=now,
            updated_at=now,
            state_at={S.GENERATED.value: now, S.REJECTED.value: now},
            history=[
                StateChange(state=S.GENERATED, at=now),
                StateChange(state=S.REJECTED, at=now, note=reason),
            ],
        )

    # -- behaviour ----------------------------------------------------------------------------

    def pmg_structure(self) -> Structure:
        """Return the generated structure as a pymatgen ``Structure``."""
        from pymatgen.core import Structure

        if self.structure is None:
            raise ValueError(f"candidate {self.candidate_id} has no structure (raw input only)")
        return Structure.from_dict(self.structure)

    def transition(
        self, state: CandidateState | str, *, note: str | None = None, **fields: Any
    ) -> Candidate:
        """Return a copy moved to ``state`` with ``fields`` set (validated, history appended).

        Raises
        ------
        ValueError
            For an illegal transition, naming the candidate and both states.
        """
        state = CandidateState(state)
        check_transition(self.candidate_id, self.state, state)
        now = utcnow()
        data = self.model_dump()
        data.update(fields)
        data[K.UPDATED_AT] = now
        if state != self.state:
            data[K.STATE] = state
            data[K.STATE_AT] = {**self.state_at, state.value: now}
            data[K.HISTORY] = [*data[K.HISTORY], StateChange(state=state, at=now, note=note)]
        return type(self).model_validate(data)

    def with_scores(self, scores: dict[str, Any], threshold: float) -> Candidate:
        """Return a copy in state ``scored`` with per-hull scores and hit flags.

        Parameters
        ----------
        scores
            Hull name → ``HullScore`` (or dict) in eV/atom.
        threshold
            E_d (eV/atom) strictly below which a score is a hit (``HIT_THRESHOLD``).
        """
        merged = {
            **self.scores,
            **{score_key(k): HullScoreDoc.from_score(v) for k, v in scores.items()},
        }
        dup = self.verdict.duplicate_of if self.verdict is not None else None
        hits = {k: is_hit(v, threshold, duplicate_of=dup) for k, v in merged.items()}
        return self.transition(
            S.SCORED, scores=merged, is_hit=hits, hit_hulls=sorted(k for k, v in hits.items() if v)
        )

    # -- persistence --------------------------------------------------------------------------

    def to_mongo(self) -> dict[str, Any]:
        """Return the BSON-ready document (datetimes stay dates, enums become strings).

        Unset sub-documents (gate, prerelax, relax) are omitted rather than stored as null, so
        dotted updates such as ``{"$set": {"gate.valid": True}}`` can create them.
        """
        doc = self.model_dump(mode="python")
        for key in _SUBDOCS:
            if doc.get(key) is None:
                doc.pop(key, None)
        return doc

    @classmethod
    def from_mongo(cls, doc: dict[str, Any]) -> Candidate:
        """Build from a stored document (ignores Mongo's ``_id``)."""
        return cls.model_validate({k: v for k, v in doc.items() if k != "_id"})


def _provenance(
    provenance: GeneratorProvenance | dict, seed: int, index: int
) -> GeneratorProvenance:
    data = provenance.model_dump() if isinstance(provenance, BaseModel) else dict(provenance)
    data.update(seed=int(seed), sample_index=int(index))
    return GeneratorProvenance.model_validate(data)
