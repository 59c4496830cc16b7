"""The one hit rule: ``is_hit`` (Python) and ``hit_filter`` (MongoDB) agree, and every field
path comes from ``CandidateKey``."""

from __future__ import annotations

import math

import pytest

from genflow.core.candidates import (
    Candidate,
    CandidateKey,
    HullScoreDoc,
    get_path,
    hit_filter,
    hit_path,
    hit_threshold,
    is_hit,
    score_key,
    score_path,
    score_round_path,
    scored_hits_filter,
    state_at_path,
)
from genflow.core.settings import get_settings

THRESHOLD = 0.0
# (e_d, error): boundary values either side of the threshold, non-finite values, None
SCORES = [
    (-0.1, None),
    (-1e-12, None),
    (0.0, None),
    (-0.0, None),
    (1e-12, None),
    (0.5, None),
    (-1e300, None),
    (math.nan, None),
    (math.inf, None),
    (-math.inf, None),
    (None, None),
    (-0.2, "hull failed"),
    (None, "no composition"),
    (-2.0, "implausible"),  # scored, E_d below the physical window: marked, never a hit
]


def _score(e_d, error) -> dict:
    """The stored score of a ``SCORES`` row, as the repository writes it (HullScoreDoc)."""
    if error == "implausible":
        return HullScoreDoc(e_d=e_d, implausible=True).model_dump()
    return {"e_d": e_d} if error is None else {"e_d": e_d, "error": error}


def test_is_hit_and_hit_filter_agree_in_the_database(stores):
    coll = stores.db["hit_rule"]
    docs = []
    for i, (e_d, error) in enumerate(SCORES):
        docs.append({"i": i, "scores": {"mp2021": _score(e_d, error)}})
    docs.append({"i": len(SCORES), "scores": {"gnome": {"e_d": -1.0}}})  # no mp2021 score
    coll.insert_many(docs)
    found = {d["i"] for d in coll.find(hit_filter("mp2021", THRESHOLD), {"i": 1})}
    expected = {
        d["i"] for d in docs if "mp2021" in d["scores"] and is_hit(d["scores"]["mp2021"], THRESHOLD)
    }
    assert found == expected == {0, 1, 6}


@pytest.mark.parametrize("campaign", [None, "c"])
def test_the_hits_index_finds_what_is_hit_finds(stores, campaign):
    """The same scores as candidates, through the compound hits index (``hits_index_keys``)
    the embedded server walks: boundaries, ±0, NaN, ±inf, None and errors as in Python."""
    docs = [
        {"candidate_id": f"gf-{i}", "campaign": "c", "state": "scored",
         "scores": {"mp2021": _score(e_d, error)}}
        for i, (e_d, error) in enumerate(SCORES)
    ]  # fmt: skip
    docs.append({"candidate_id": "gf-other", "campaign": "d", "state": "scored",
                 "scores": {"mp2021": {"e_d": -0.3, "error": None}}})  # fmt: skip
    stores.candidates.insert_many(docs)
    query = scored_hits_filter("mp2021", THRESHOLD, campaign=campaign)
    plan = stores.db.command("explain", {"find": "candidates", "filter": query})
    assert plan["queryPlanner"]["winningPlan"]["inputStage"]["stage"] == "IXSCAN"
    found = {d["candidate_id"] for d in stores.candidates.find(query)}
    expected = {
        d["candidate_id"]
        for d in docs
        if campaign in (None, d["campaign"]) and is_hit(d["scores"]["mp2021"], THRESHOLD)
    }
    assert found == expected == {"gf-0", "gf-1", "gf-6"} | ({"gf-other"} if not campaign else set())


def test_an_implausible_mark_is_stored_true_or_null():
    """``implausible`` is stored as true or null (never false), so the hit filter's
    ``implausible: null`` equality is the rule's ``not implausible``."""
    assert HullScoreDoc(e_d=-0.1, implausible=False).model_dump()["implausible"] is None
    assert HullScoreDoc.from_score({"e_d": -3.0, "implausible": True}).implausible is True
    assert is_hit({"e_d": -0.1, "implausible": False}, THRESHOLD)
    assert not is_hit({"e_d": -0.1, "implausible": True}, THRESHOLD)


@pytest.mark.parametrize("threshold", [-0.1, 0.0, 0.5])
def test_threshold_is_strict(threshold):
    assert not is_hit({"e_d": threshold}, threshold)
    assert is_hit({"e_d": threshold - 1e-9}, threshold)
    assert hit_filter("mp2021", threshold)["scores.mp2021.e_d"]["$lt"] == threshold


def test_hit_threshold_resolves_settings_once():
    assert hit_threshold(-0.05) == -0.05
    assert hit_threshold(0.0) == 0.0  # a zero threshold is a value, not "unset"
    assert hit_threshold() == hit_threshold(None) == get_settings().HIT_THRESHOLD


def test_paths_are_built_from_the_enum():
    """The stored document shape is the contract: these literals are what the database holds."""
    assert score_path("mp2021") == "scores.mp2021"
    assert score_path("refs/my refs.csv", CandidateKey.E_D) == "scores.my_refs.e_d"
    assert score_path("gnome", CandidateKey.AUDIT_VERDICT) == "scores.gnome.audit.verdict"
    assert hit_path("mp2021") == "is_hit.mp2021"
    assert score_round_path("mp2021", 2) == "score_rounds.mp2021.2"
    assert state_at_path("scored") == "state_at.scored"
    assert score_key("mp2021") == "mp2021"
    assert get_path({"relax": {"energy_per_atom": 0.0}}, CandidateKey.RELAX_ENERGY) == 0.0
    assert get_path({"relax": None}, CandidateKey.RELAX_ENERGY, "-") == "-"


def test_every_top_level_key_is_a_candidate_field():
    """Each top-level ``CandidateKey`` is a ``Candidate`` field (or a stored extra such as
    ``score_rounds``), and each sub-document path names a field of its model."""
    fields = set(Candidate.model_fields) | {"score_rounds"}
    relative = {CandidateKey.E_D, CandidateKey.E_FORM, CandidateKey.SCORE_ERROR,
                CandidateKey.IMPLAUSIBLE}  # fmt: skip
    relative |= {CandidateKey.AUDIT, CandidateKey.AUDIT_VERDICT, CandidateKey.ROUND}
    relative |= {CandidateKey.NOVELTY, CandidateKey.COVERAGE, CandidateKey.COVERAGE_MISSING}
    for key in CandidateKey:
        head = key.value.split(".", 1)[0]
        if key in relative:
            assert head in HullScoreDoc.model_fields, key
        else:
            assert head in fields, key
    assert set(Candidate.model_fields) <= {k.value for k in CandidateKey}


def test_score_doc_mirrors_the_hull_score():
    """The stored score (``HullScoreDoc``) keeps every field the hull engine's row has, so a
    field added to ``genflow.hull.HullScore`` cannot be silently dropped on the way in."""
    import dataclasses

    from genflow.hull import HullScore

    engine = {f.name for f in dataclasses.fields(HullScore)} - {"formula"}  # on the candidate
    assert engine <= set(HullScoreDoc.model_fields)


def test_a_relaxed_duplicate_is_no_hit_in_either_form(stores):
    """Two candidates that relax into one crystal are one hit: ``verdict.duplicate_of``."""
    coll = stores.db["hit_rule_dup"]
    coll.insert_many(
        [
            {"i": 0, "scores": {"mp2021": {"e_d": -0.1}}},
            {"i": 1, "scores": {"mp2021": {"e_d": -0.1}}, "verdict": {"duplicate_of": None}},
            {"i": 2, "scores": {"mp2021": {"e_d": -0.1}}, "verdict": {"duplicate_of": "gf-0"}},
        ]
    )
    assert {d["i"] for d in coll.find(hit_filter("mp2021", THRESHOLD))} == {0, 1}
    assert is_hit({"e_d": -0.1}, THRESHOLD) and not is_hit(
        {"e_d": -0.1}, THRESHOLD, duplicate_of="gf-0"
    )
