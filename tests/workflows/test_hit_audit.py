"""Hit audit: a hull gap (rocksalt YbN: the bundled hull has no Yb–N compound) is flagged,
naming the phase that beats it; a real hit is not. Campaigns audit by default."""

from __future__ import annotations

import pytest
from verdict_data import ff_doc, gated, rocksalt

from genflow.campaign.flows import campaign_maker
from genflow.campaign.spec import CampaignSpec
from genflow.hull import load_hull
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


def test_metastable_hit_on_an_intact_hull_is_not_a_gap():
    """A hit above the hull (a metastable hit, hit_threshold > 0) whose hull the audit's own
    phases do not lower keeps its E_d: ``confirmed``, not ``hull_gap_suspected``."""
    phases = [
        {"name": "Mg", "composition": "Mg", "energy_per_atom": -1.6, "source": "hull"},
        {"name": "O2", "composition": "O2", "energy_per_atom": -4.95, "source": "hull"},
        {"name": "MgO [mp2021]", "composition": "MgO", "energy_per_atom": -6.0, "source": "hull"},
        {"name": "MgO rocksalt [mlip:CHGNet]", "composition": "Mg4O4", "energy_per_atom": -5.995},
    ]
    meta = local_verdict("MgO", -5.95, phases)
    assert meta["verdict"] == "confirmed" and meta["reference_e_d"] == pytest.approx(0.05)
    # the same hit where the reference lacks MgO: the audit's rocksalt beats it, a gap
    gap = local_verdict("MgO", -5.95, [p for p in phases if p["name"] != "MgO [mp2021]"])
    assert gap["verdict"] == HULL_GAP_SUSPECTED
    assert gap["beaten_by"] == "MgO rocksalt [mlip:CHGNet]"


def _default_spec(**score) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {"name": "audit-default", "generator": {"kind": "structures", "structures": ["x.cif"]},
         "hulls": ["mp2021"], "engine": "mlip", "score": score}
    )  # fmt: skip


def test_default_campaign_flags_gap_hits_not_ordinary_ones(stores, monkeypatch):
    """A campaign spec without ``score.audit`` audits its hits: rocksalt YbN, stable on the
    bundled hull only because it has no Yb–N compound (coverage thin), is flagged; NaCl 50
    meV/atom below MP's hull, on an intact Na–Cl hull, is a hit and is not. The MLIP is a
    stand-in here: rocksalt YbN (the candidate's structure) lies 0.5 eV/atom below the hull,
    every other phase 20 meV/atom above MP's hull (the slow test below uses CHGNet)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    assert _default_spec(audit=False).score.audit is False
    score = campaign_maker(_default_spec()).score_maker
    assert score.audit is True and score.hulls == ("mp2021",)

    hull = load_hull("mp2021")
    e_hull = hull.score(["YbN", "NaCl"], [0.0, 0.0]).e_hull
    mp_hull = dict(zip(["YbN", "NaCl"], e_hull.tolist(), strict=True))
    ybn, nacl = rocksalt("Yb", "N", 4.78), rocksalt("Na", "Cl", 5.64)
    e_ybn = mp_hull["YbN"] - 0.5  # rocksalt YbN: a Yb–N compound the hull cannot see

    def stand_in(structure):
        if StructureMatcher().fit(structure, ybn):
            return e_ybn
        formula = structure.composition.reduced_formula
        return float(hull.score([formula], [0.0]).e_hull[0]) + 0.02  # an MLIP near MP

    relaxer_calls = []
    monkeypatch.setattr(
        "genflow.workflows.hit_audit._mlip_relaxer", lambda ff: relaxer_calls.append(ff) or stand_in
    )
    c_ybn, c_nacl = gated(stores, ybn, "ybn"), gated(stores, nacl, "nacl")
    results = {
        c_ybn.candidate_id: {"output": ff_doc(ybn, e_ybn)},
        c_nacl.candidate_id: {"output": ff_doc(nacl, mp_hull["NaCl"] - 0.05)},
    }
    out = record_and_score(  # the score job's call, with the spec's settings
        stores, results, hulls=list(score.hulls), engine=score.engine, audit=score.audit,
        force_field=score.force_field, hit_threshold=score.hit_threshold,
    )  # fmt: skip
    assert relaxer_calls == ["CHGNet"]
    assert sorted(out["hits"]["mp2021"]) == sorted([c_ybn.candidate_id, c_nacl.candidate_id])
    audit = out["audits"]["mp2021"]
    assert audit["flagged_ids"] == [c_ybn.candidate_id] and audit["confirmed"] == 1
    assert audit["relaxed"] > 0 and audit["seconds_per_hit"] >= 0
    docs = {d["candidate_id"]: d["scores"]["mp2021"] for d in stores.candidates.find()}
    ybn_score, nacl_score = docs[c_ybn.candidate_id], docs[c_nacl.candidate_id]
    assert ybn_score["audit"]["verdict"] == HULL_GAP_SUSPECTED
    assert ybn_score["audit"]["beaten_by"].startswith("YbN rocksalt")
    assert ybn_score["coverage"] == "thin"
    assert ybn_score["coverage_missing"] == ["no binary N–Yb compound in mp2021"]
    assert nacl_score["audit"]["verdict"] == "confirmed" and nacl_score["coverage"] == "ok"
    # genflow hits: the coverage beside the verdict (table column, --json fields)
    from genflow.campaign.hits import find_hits
    from genflow.campaign.view import hits_table

    hits = {h.candidate_id: h for h in find_hits(stores, "mp2021", max_ed=0.0)}
    assert hits[c_ybn.candidate_id].as_dict()["coverage"] == "thin"
    assert hits[c_ybn.candidate_id].coverage_missing == ["no binary N–Yb compound in mp2021"]
    assert hits[c_nacl.candidate_id].coverage == "ok"
    table = hits_table([h.as_dict() for h in hits.values()])
    cells = {c.header: c._cells for c in table.columns}
    rows = dict(zip(cells["audit"], cells["cover"], strict=True))
    assert rows == {"GAP?": "thin", "ok": ""}


def test_decorations_only_for_binaries_the_hull_lacks():
    names = [d.name for d in decorations(["Mg", "O"])]
    assert names[:2] == ["MgO rocksalt", "MgO CsCl"] and "MgO wurtzite" in names
    assert decorations(["Mg", "O"], known=lambda c: c == {"Mg": 1, "O": 1}) == []


@pytest.mark.slow
def test_rocksalt_ybn_gap_flagged_real_hit_confirmed(stores, require_module):
    """The bundled hull has no Yb–N compound (GNoME's snapshot has no Yb compound at all and
    MP-20 no Yb–N row), so rocksalt YbN, MP's own ground state, scores far below it."""
    require_module("chgnet")
    relax = _mlip_relaxer("CHGNet")
    ybn, nacl = rocksalt("Yb", "N", 4.78), rocksalt("Na", "Cl", 5.64)
    e_ybn = relax(ybn.copy())
    # a stand-in for a genuine discovery: 50 meV/atom below every Na-Cl phase CHGNet finds
    e_nacl = relax(nacl.copy()) - 0.05
    c_ybn, c_nacl = gated(stores, ybn, "ybn"), gated(stores, nacl, "nacl")
    results = {
        c_ybn.candidate_id: {"output": ff_doc(ybn, e_ybn)},
        c_nacl.candidate_id: {"output": ff_doc(nacl, e_nacl)},
    }
    out = record_and_score(stores, results, hulls=["mp2021"], engine="mlip")
    assert sorted(out["hits"]["mp2021"]) == sorted([c_ybn.candidate_id, c_nacl.candidate_id])

    summary = audit_hits(stores, "mp2021", relax=relax)
    assert summary["audited"] == 2 and summary["flagged_ids"] == [c_ybn.candidate_id]
    ybn_doc = stores.candidates.find_one({"candidate_id": c_ybn.candidate_id})
    score = ybn_doc["scores"]["mp2021"]
    assert score["e_d"] < -0.5  # far "below" the bundled hull, which has no Yb-N compound
    assert score["novelty"] == "composition absent from hull"
    assert score["binaries_known"] == {"N-Yb": False}
    assert score["coverage"] == "thin"
    audit = score["audit"]
    assert audit["verdict"] == HULL_GAP_SUSPECTED and audit["engine"] == "mlip:CHGNet"
    assert audit["beaten_by"].startswith("YbN rocksalt")
    assert audit["local_e_d"] > -AUDIT_TOLERANCE and audit["reference_e_d"] == score["e_d"]
    nacl_audit = stores.candidates.find_one({"candidate_id": c_nacl.candidate_id})["scores"]
    assert nacl_audit["mp2021"]["audit"]["verdict"] == "confirmed"
    assert nacl_audit["mp2021"]["coverage"] == "ok"
    # the local hull keeps MP's own NaCl (about 25 meV/atom below CHGNet's): still confirmed
    assert nacl_audit["mp2021"]["audit"]["local_e_d"] < -AUDIT_TOLERANCE
    # cached per (chemical system, engine, hull): a second audit relaxes nothing
    assert stores.db[AUDIT_COLLECTION].count_documents({}) == 2
    again = audit_hits(stores, "mp2021", relax=lambda s: pytest.fail("relaxed again"),
                       candidate_ids=[c_ybn.candidate_id])  # fmt: skip
    assert again["flagged"] == 1 and again["relaxed"] == 0
