"""The Candidate document: deterministic ids, state machine, serialisation (no database)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from genflow.core.candidates import (
    ALLOWED_TRANSITIONS,
    Candidate,
    CandidateState,
    HullScoreDoc,
    allowed_sources,
    is_hit,
    make_candidate_id,
    score_key,
)
from genflow.hull import HullScore

PROV = {
    "model_name": "unimat",
    "checkpoint_hash": "sha256:abc",
    "conditioning": {"elements": ["Na", "Cl"], "n_atoms": np.int64(2)},
    "config": {"steps": 1000},
}


@pytest.fixture
def nacl() -> Structure:
    return Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_id_is_deterministic_and_canonical(nacl: Structure) -> None:
    cid = make_candidate_id("c", nacl, PROV, seed=1, index=2)
    assert cid.startswith("gf-") and len(cid) == 3 + 24
    # Site order, periodic images and float noise below the rounding do not change the id.
    shuffled = Structure(nacl.lattice, ["Cl", "Na"], [[1.5, 0.5, -0.5], [0, 1 - 1e-9, 0]])
    assert make_candidate_id("c", shuffled, PROV, 1, 2) == cid
    assert make_candidate_id("c", nacl.as_dict(), PROV, 1, 2) == cid
    # Extra provenance keys (the full config) are not part of the identity.
    assert make_candidate_id("c", nacl, {**PROV, "config": {"steps": 5}}, 1, 2) == cid
    # Everything that does identify the sample does change it.
    moved = nacl.copy()
    moved.translate_sites([1], [0.01, 0, 0])
    different = [
        make_candidate_id("other", nacl, PROV, 1, 2),
        make_candidate_id("c", moved, PROV, 1, 2),
        make_candidate_id("c", nacl, {**PROV, "checkpoint_hash": "sha256:def"}, 1, 2),
        make_candidate_id("c", nacl, {**PROV, "model_name": "diffcsp"}, 1, 2),
        make_candidate_id("c", nacl, {**PROV, "conditioning": {}}, 1, 2),
        make_candidate_id("c", nacl, PROV, 2, 2),
        make_candidate_id("c", nacl, PROV, 1, 3),
    ]
    assert len({cid, *different}) == len(different) + 1


def test_from_structure_fields(nacl: Structure) -> None:
    c = Candidate.from_structure(nacl * (2, 1, 1), "camp", PROV, seed=7, index=3)
    assert c.state == CandidateState.GENERATED
    assert (c.formula, c.reduced_formula, c.chemsys, c.nsites) == ("Na2Cl2", "NaCl", "Cl-Na", 4)
    assert c.elements == ["Cl", "Na"]
    assert c.provenance.seed == 7 and c.provenance.sample_index == 3
    assert c.provenance.conditioning["n_atoms"] == 2  # numpy scalar sanitised
    assert c.provenance.model_extra["config"] == {"steps": 1000}
    assert c.history[0].state == "generated" and c.state_at["generated"] == c.created_at
    assert c.pmg_structure() == nacl * (2, 1, 1)


def test_transitions_follow_the_state_machine(nacl: Structure) -> None:
    c = Candidate.from_structure(nacl, "camp", PROV, 0, 0)
    g = c.transition("gated", gate={"valid": True, "smact_valid": True})
    assert (
        g.state == "gated"
        and g.gate.valid
        and [h.state for h in g.history]
        == [
            "generated",
            "gated",
        ]
    )
    assert g.transition("gated").history == g.history  # re-applying is an idempotent no-op
    with pytest.raises(ValueError, match=rf"candidate {c.candidate_id}.*generated → scored"):
        c.transition("scored")
    rej = g.transition("rejected", reject_reason="mlip_prescreen: E_d 0.4 eV/atom > 0.1")
    with pytest.raises(ValueError, match=r"rejected → gated.*terminal"):
        rej.transition("gated")
    with pytest.raises(ValueError, match="needs reject_reason"):
        g.transition("rejected")
    with pytest.raises(ValueError, match="needs relax"):
        g.transition("relaxed")
    # gated → relaxed is legal (no MLIP pre-relax); relaxed needs a DFT result.
    r = g.transition("relaxed", relax={"engine": "mlip", "converged": False, "task_uuid": "u"})
    assert r.relax.converged is False and "relaxed" in r.state_at
    assert set(allowed_sources("relaxed")) == {"relaxed", "gated", "prerelaxed"}
    for state, targets in ALLOWED_TRANSITIONS.items():
        assert CandidateState.REJECTED in targets or state in ("scored", "rejected")


def test_scores_and_hits(nacl: Structure) -> None:
    c = Candidate.from_structure(nacl, "camp", PROV, 0, 0)
    c = c.transition("gated").transition(
        "relaxed", relax={"engine": "vasp", "converged": True, "energy_per_atom": -3.4}
    )
    score = HullScore(
        e_d=-0.012,
        e_form=-2.1,
        decomposition={"NaCl": 1.0},
        is_stable=True,
        is_metastable=True,
        error=None,
    )
    bad = {"e_d": float("nan"), "error": "element Xx not in hull"}
    s = c.with_scores({"mp2021": score, "gnome": {"e_d": 0.01, "e_form": -2.0}}, threshold=0.0)
    assert s.state == "scored" and s.hit_hulls == ["mp2021"]
    assert s.is_hit == {"mp2021": True, "gnome": False}
    assert s.scores["mp2021"].decomposition == {"NaCl": 1.0}
    assert not is_hit(bad, 0.0) and not is_hit({"e_d": 0.0}, 0.0) and is_hit({"e_d": -1e-6}, 0.0)
    assert HullScoreDoc.from_score(score).e_form == -2.1
    # Re-scoring a scored candidate on another hull keeps the first hull's score.
    s2 = s.with_scores({"gnome": {"e_d": -0.5}}, threshold=0.0)
    assert s2.hit_hulls == ["gnome", "mp2021"] and len(s2.history) == len(s.history)


@pytest.mark.parametrize("name", ["mp2021", "gnome", "my_hull-2"])
def test_hull_names_ok(name: str) -> None:
    assert score_key(name) == name


@pytest.mark.parametrize(
    ("name", "key"), [("/data/hull.csv.gz", "hull_csv"), ("refs/my refs.csv", "my_refs")]
)
def test_hull_files_key_by_their_stem(name: str, key: str) -> None:
    assert score_key(name) == key


@pytest.mark.parametrize("name", ["", "$$", "/data/..."])
def test_hull_names_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="hull name"):
        score_key(name)


def test_stored_scores_need_safe_keys() -> None:
    with pytest.raises(ValueError, match="not a storable hull key"):
        Candidate.model_validate(
            {
                "candidate_id": "x",
                "campaign": "c",
                "scores": {"a.b": {"e_d": 0.1}},
                "provenance": {"model_name": "m", "checkpoint_hash": "h"},
            }
        )


def test_invalid_input_is_kept_as_a_rejected_row() -> None:
    raw = "data_broken\n_cell_length_a 4.2\nloop_\n_atom_site_label\nXx1 0 0 0\n"
    c = Candidate.from_invalid_input(raw, "camp", PROV, 0, 5, reason="parse: malformed CIF")
    assert c.state == "rejected" and c.reject_reason == "parse: malformed CIF"
    assert c.structure is None and c.raw_input == raw
    assert c.candidate_id == make_candidate_id("camp", raw, PROV, 0, 5)
    with pytest.raises(ValueError, match="no structure"):
        c.pmg_structure()


def test_nan_coordinates_still_hash(nacl: Structure) -> None:
    bad = Structure(nacl.lattice, ["Na", "Cl"], [[0, 0, 0], [math.nan, 0.5, 0.5]])
    cid = make_candidate_id("c", bad, PROV, 0, 0)
    assert (
        cid == make_candidate_id("c", bad, PROV, 0, 0) != make_candidate_id("c", nacl, PROV, 0, 0)
    )


def test_mongo_round_trip(nacl: Structure) -> None:
    c = Candidate.from_structure(nacl, "camp", PROV, 0, 0)
    doc = c.to_mongo()
    assert doc["state"] == "generated" and type(doc["state"]) is str
    assert isinstance(doc["created_at"], datetime)
    assert "relax" not in doc and "gate" not in doc  # unset sub-documents are omitted
    naive = {**doc, "_id": "x", "created_at": doc["created_at"].replace(tzinfo=None)}
    back = Candidate.from_mongo(naive)
    assert back == c and back.created_at.tzinfo == UTC
