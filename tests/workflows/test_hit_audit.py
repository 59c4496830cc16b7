"""Hit audit: a hull gap (rocksalt MgO) is flagged, naming the phase that beats it; a real hit
is not."""

from __future__ import annotations

import pytest
from verdict_data import ff_doc, gated, rocksalt

from genflow.workflows.hit_audit import (
    AUDIT_COLLECTION,
    AUDIT_TOLERANCE,
    HULL_GAP_SUSPECTED,
    _mlip_relaxer,
    audit_hits,
    local_verdict,
)
from genflow.workflows.prototypes import decorations
from genflow.workflows.score import record_and_score


def test_local_verdict_names_the_phase_that_beats_the_hit():
    phases = [
        {"name": "Mg", "composition": "Mg", "energy_per_atom": -1.6},
        {"name": "O2", "composition": "O2", "energy_per_atom": -4.95},
        {"name": "MgO rocksalt [mlip:CHGNet]", "composition": "Mg4O4", "energy_per_atom": -6.0},
    ]
    gap = local_verdict("MgO", -5.995, phases)
    assert gap["verdict"] == HULL_GAP_SUSPECTED
    assert gap["beaten_by"] == "MgO rocksalt [mlip:CHGNet]"
    real = local_verdict("MgO", -6.05, phases)
    assert real["verdict"] == "confirmed" and real["beaten_by"] is None


def test_decorations_only_for_binaries_the_hull_lacks():
    names = [d.name for d in decorations(["Mg", "O"])]
    assert names[:2] == ["MgO rocksalt", "MgO CsCl"] and "MgO wurtzite" in names
    assert decorations(["Mg", "O"], known=lambda c: c == {"Mg": 1, "O": 1}) == []


@pytest.mark.slow
def test_rocksalt_mgo_gap_flagged_real_hit_confirmed(stores, require_module):
    require_module("chgnet")
    relax = _mlip_relaxer("CHGNet")
    mgo, nacl = rocksalt("Mg", "O", 4.21), rocksalt("Na", "Cl", 5.64)
    e_mgo = relax(mgo.copy())
    # a stand-in for a genuine discovery: 50 meV/atom below every Na-Cl phase CHGNet finds
    e_nacl = relax(nacl.copy()) - 0.05
    c_mgo, c_nacl = gated(stores, mgo, "mgo"), gated(stores, nacl, "nacl")
    results = {
        c_mgo.candidate_id: {"output": ff_doc(mgo, e_mgo)},
        c_nacl.candidate_id: {"output": ff_doc(nacl, e_nacl)},
    }
    out = record_and_score(stores, results, hulls=["mp2021"], engine="mlip")
    assert sorted(out["hits"]["mp2021"]) == sorted([c_mgo.candidate_id, c_nacl.candidate_id])

    summary = audit_hits(stores, "mp2021", relax=relax)
    assert summary["audited"] == 2 and summary["flagged_ids"] == [c_mgo.candidate_id]
    mgo_doc = stores.candidates.find_one({"candidate_id": c_mgo.candidate_id})
    score = mgo_doc["scores"]["mp2021"]
    assert score["e_d"] < -2.0  # far "below" the bundled hull, which has no Mg-O compound
    assert score["novelty"] == "composition absent from hull"
    assert score["binaries_known"] == {"Mg-O": False}
    audit = score["audit"]
    assert audit["verdict"] == HULL_GAP_SUSPECTED and audit["engine"] == "mlip:CHGNet"
    assert audit["beaten_by"].startswith("MgO rocksalt")
    nacl_audit = stores.candidates.find_one({"candidate_id": c_nacl.candidate_id})["scores"]
    assert nacl_audit["mp2021"]["audit"]["verdict"] == "confirmed"
    # the local hull keeps MP's own NaCl (about 25 meV/atom below CHGNet's): still confirmed
    assert nacl_audit["mp2021"]["audit"]["local_e_d"] < -AUDIT_TOLERANCE
    # cached per (chemical system, engine, hull): a second audit relaxes nothing
    assert stores.db[AUDIT_COLLECTION].count_documents({}) == 2
    again = audit_hits(stores, "mp2021", relax=lambda s: pytest.fail("relaxed again"),
                       candidate_ids=[c_mgo.candidate_id])  # fmt: skip
    assert again["flagged"] == 1
