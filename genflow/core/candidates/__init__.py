"""The candidate document, the contract between the rooms: one home for everything about it.

======================  ==========================================================================
module                  holds
======================  ==========================================================================
``record``              :class:`Candidate` (pydantic), its states and legal transitions
``subdocs``             the sub-documents: provenance, gate, pre-relax, relax, hull scores
``keys``                :class:`CandidateKey`, every stored field path, and the path builders
``hits``                hit rule (:func:`is_hit`, :func:`hit_filter`), S.U.N. (:func:`sun_flags`)
``queries``             MongoDB filters, projections and sorts over the ``candidates`` collection
``reads``               reads of the collection (one candidate, pages, counts, failures)
``repository``          writes (inserts, state changes, scores, hit flags, audits)
``ids``                 deterministic ``candidate_id``
======================  ==========================================================================

Import from the package (``from genflow.core.candidates import Candidate, CandidateKey``).
"""

from genflow.core.candidates.hits import (
    MSUN_MAX_ED,
    SUN_MAX_ED,
    SunFlags,
    hit_filter,
    hit_threshold,
    is_hit,
    sun_counts,
    sun_filter,
    sun_flags,
)
from genflow.core.candidates.ids import ID_PREFIX, canonical_structure, make_candidate_id
from genflow.core.candidates.keys import (
    HULL_GAP_SUSPECTED,
    CandidateKey,
    get_path,
    hit_path,
    score_key,
    score_path,
    score_round_path,
    state_at_path,
)
from genflow.core.candidates.queries import (
    HIT_ROW_FIELDS,
    HIT_ROW_PROJECTION,
    by_id,
    by_ids,
    e_d_sort,
    hits_index_keys,
    scored_hits_filter,
    scored_on_filter,
)
from genflow.core.candidates.reads import (
    count_states,
    failure_counts,
    failures,
    get_candidate,
    iter_candidates,
    resolve_candidate_id,
    throughput,
)
from genflow.core.candidates.record import (
    ALLOWED_TRANSITIONS,
    Candidate,
    CandidateState,
    StateChange,
    allowed_sources,
    check_transition,
)
from genflow.core.candidates.repository import (
    InsertSummary,
    Rescore,
    StateUpdate,
    TransitionSummary,
    insert_candidates,
    insert_new,
    record_audit,
    record_rescores,
    record_scores,
    record_verdicts,
    reopen_for_rerun,
    transition,
    update_states,
)
from genflow.core.candidates.subdocs import (
    GateResult,
    GeneratorProvenance,
    HullScoreDoc,
    PrerelaxDoc,
    RelaxDoc,
    VerdictDoc,
    utcnow,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "HIT_ROW_FIELDS",
    "HIT_ROW_PROJECTION",
    "HULL_GAP_SUSPECTED",
    "ID_PREFIX",
    "MSUN_MAX_ED",
    "SUN_MAX_ED",
    "Candidate",
    "CandidateKey",
    "CandidateState",
    "GateResult",
    "GeneratorProvenance",
    "HullScoreDoc",
    "InsertSummary",
    "PrerelaxDoc",
    "RelaxDoc",
    "Rescore",
    "StateChange",
    "StateUpdate",
    "SunFlags",
    "TransitionSummary",
    "VerdictDoc",
    "allowed_sources",
    "by_id",
    "by_ids",
    "canonical_structure",
    "check_transition",
    "count_states",
    "e_d_sort",
    "failure_counts",
    "failures",
    "get_candidate",
    "get_path",
    "hit_filter",
    "hit_path",
    "hit_threshold",
    "hits_index_keys",
    "insert_candidates",
    "insert_new",
    "is_hit",
    "iter_candidates",
    "make_candidate_id",
    "record_audit",
    "record_rescores",
    "record_scores",
    "record_verdicts",
    "reopen_for_rerun",
    "resolve_candidate_id",
    "score_key",
    "score_path",
    "score_round_path",
    "scored_hits_filter",
    "scored_on_filter",
    "state_at_path",
    "sun_counts",
    "sun_filter",
    "sun_flags",
    "throughput",
    "transition",
    "update_states",
    "utcnow",
]
