"""Hull rounds: the issue's −0.10 / −0.05 example, stored in MongoDB."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from genflow.campaign.hits import find_hits
from genflow.core.candidates import (
    Candidate,
    CandidateState,
    GeneratorProvenance,
    StateUpdate,
    insert_candidates,
    update_states,
)
from genflow.hull import load_hull
from genflow.hull.rounds import ROUNDS_COLLECTION, fold, latest_round
from genflow.workflows.score import fold_round


def _scored(stores, index: int, e_below: float) -> tuple[str, float]:
    """A LiFeO2-like cell scored on mp2021 ``e_below`` eV/atom below it."""
    s = Structure(Lattice.cubic(4.2 + 0.01 * index), ["Li", "Fe", "O", "O"],
                  [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0]])  # fmt: skip
    prov = GeneratorProvenance(model_name="test", checkpoint_hash="rounds")
    cand = Candidate.from_structure(s, "rounds", prov, seed=0, index=index)
    insert_candidates(stores.candidates, [cand])
    hull = load_hull("mp2021")
    (probe,) = hull.score(["LiFeO2"], [0.0])
    energy = -probe.e_d + e_below  # E_hull(LiFeO2) + e_below
    (score,) = hull.score(["LiFeO2"], [energy])
    relax = {"engine": "mlip", "energy_per_atom": energy, "mp_compatible": True, "converged": True}
    update_states(stores.candidates, [StateUpdate(cand.candidate_id, CandidateState.GATED)])
    update_states(stores.candidates, [StateUpdate(cand.candidate_id, CandidateState.RELAXED,
                                                  {"relax": relax})])  # fmt: skip
    from genflow.core.candidates import record_scores

    record_scores(stores.candidates, {cand.candidate_id: {"mp2021": score}}, hit_threshold=0.0)
    return cand.candidate_id, energy


def test_fold_minus_010_and_minus_005(stores):
    first, _ = _scored(stores, 1, -0.10)
    second, _ = _scored(stores, 2, -0.05)
    assert latest_round(stores, "mp2021") == 0
    assert {h.candidate_id for h in find_hits(stores, "mp2021")} == {first, second}

    out = fold_round(stores, "mp2021", campaign="rounds")
    assert out["round"] == 1 and sorted(out["folded"]) == sorted([first, second])
    assert out["rescored"] == 2 and "rescores" not in out
    assert stores.db[ROUNDS_COLLECTION].count_documents({"hull": "mp2021"}) == 1

    docs = {d["candidate_id"]: d for d in stores.candidates.find()}
    latest = docs[second]["scores"]["mp2021"]
    assert latest["round"] == 1
    assert latest["e_d"] == pytest.approx(0.05, abs=1e-9)  # +0.05 relative to the first
    kept = docs[second]["score_rounds"]["mp2021"]["0"]
    assert kept["round"] == 0 and kept["e_d"] == pytest.approx(-0.05, abs=1e-9)
    # the first is measured without itself: 0.05 below the second, now a hull entry
    assert docs[first]["scores"]["mp2021"]["e_d"] == pytest.approx(-0.05, abs=1e-9)
    assert docs[first]["score_rounds"]["mp2021"]["0"]["e_d"] == pytest.approx(-0.10, abs=1e-9)
    assert [h.candidate_id for h in find_hits(stores, "mp2021")] == [first]
    assert fold(stores, "mp2021")["folded"] == []  # nothing new: no new round


def test_fold_returns_rescores_and_writes_no_candidate(stores):
    """The hull room scores and returns: the candidates collection is untouched by ``fold``,
    and recording its re-scores gives what the fold used to write."""
    from genflow.core.candidates import CandidateKey as K
    from genflow.core.candidates import Rescore, record_rescores, score_path

    first, _ = _scored(stores, 1, -0.10)
    second, _ = _scored(stores, 2, -0.05)
    before = {d[K.CANDIDATE_ID]: d for d in stores.candidates.find()}
    out = fold(stores, "mp2021", campaign="rounds")
    assert {d[K.CANDIDATE_ID]: d for d in stores.candidates.find()} == before
    assert out["rescored"] == len(out["rescores"]) == 2
    assert all(isinstance(r, Rescore) and r.score.round == 1 for r in out["rescores"])
    by_id = {r.candidate_id: r for r in out["rescores"]}
    assert by_id[second].score.e_d == pytest.approx(0.05, abs=1e-9)
    assert by_id[second].previous == before[second]["scores"]["mp2021"]
    assert record_rescores(stores.candidates, out["rescores"], hit_threshold=0.0) == 2
    doc = stores.candidates.find_one({K.CANDIDATE_ID: second})
    assert doc["is_hit"]["mp2021"] is False and "mp2021" not in doc["hit_hulls"]
    assert doc["score_rounds"]["mp2021"]["0"] == before[second]["scores"]["mp2021"]
    assert (
        stores.candidates.find_one({K.CANDIDATE_ID: first}, [score_path("mp2021")])["scores"][
            "mp2021"
        ]["round"]
        == 1
    )
    assert stores.candidates.find_one({K.CANDIDATE_ID: first})["hit_hulls"] == ["mp2021"]


def test_hits_show_labels_and_hide_gaps(stores):
    from genflow.campaign.view import hits_table
    from genflow.core.candidates import HULL_GAP_SUSPECTED, record_audit

    gap, _ = _scored(stores, 3, -0.20)
    record_audit(
        stores.candidates, "mp2021", gap, {"verdict": HULL_GAP_SUSPECTED, "beaten_by": "X"}
    )
    (hit,) = find_hits(stores, "mp2021")
    assert (hit.audit, hit.beaten_by, hit.hull_composition, hit.round) == (
        "hull_gap_suspected", "X", "known composition", 0,
    )  # fmt: skip
    assert find_hits(stores, "mp2021", hide_gaps=True) == []
    table = hits_table([hit.as_dict()])
    assert [c.header for c in table.columns][3:5] == ["S U N", "novelty"]
    assert table.title == "hits on mp2021 (1)"  # one hull: named once, not a column
    cells = {c.header: list(c.cells) for c in table.columns}
    assert cells["audit"] == ["GAP?"]
    assert cells["novelty"] == ["unjudged"]  # scored without a relaxed verdict
