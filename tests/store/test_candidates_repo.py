"""Candidate storage on a real wire-protocol server: bulk idempotency, concurrency, states."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymongo.errors import DuplicateKeyError, OperationFailure

from genflow.core.candidates import (
    Candidate,
    StateUpdate,
    count_states,
    failure_counts,
    failures,
    get_candidate,
    hits_index_keys,
    insert_candidates,
    iter_candidates,
    record_scores,
    throughput,
    transition,
    update_states,
)
from genflow.core.store import connect, ensure_indexes

pytestmark = pytest.mark.timeout(300)

PROV = {"model_name": "unimat", "checkpoint_hash": "sha256:abc", "conditioning": {}}


def make_batch(campaign: str, start: int, stop: int) -> list[Candidate]:
    """Distinct candidates with ids fixed by (campaign, index): workers can overlap ranges."""
    out = []
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        coords = [[0, 0, 0], (0.5 + rng.normal(0, 0.01, 3)).tolist()]
        s = Structure(Lattice.cubic(4.2 + 0.001 * (i % 7)), ["Na", "Cl"], coords)
        out.append(Candidate.from_structure(s, campaign, PROV, seed=i // 50, index=i % 50))
    return out


def _worker(uri: str, db_name: str, start: int, stop: int, parity: int, barrier, queue) -> None:
    """Child process: insert an overlapping range, then move its own candidates on."""
    with connect(uri=uri, db_name=db_name) as stores:
        batch = make_batch("race", start, stop)
        barrier.wait(timeout=120)
        inserted = 0
        for k in range(0, len(batch), 25):  # many small batches interleave with the other writer
            inserted += insert_candidates(stores.candidates, batch[k : k + 25]).inserted
        mine = [c.candidate_id for c in batch if c.provenance.sample_index % 2 == parity]
        summary = update_states(stores.candidates, [StateUpdate(cid, "gated") for cid in mine])
        queue.put((inserted, summary.updated, len(summary.errors)))


def test_bulk_insert_is_idempotent(stores) -> None:
    batch = make_batch("c1", 0, 120)
    first = insert_candidates(stores.candidates, batch, batch_size=50)
    assert (first.inserted, first.existing) == (120, 0)
    transition(stores.candidates, batch[0].candidate_id, "gated", gate={"valid": True})
    # Re-submitting the same candidates plus new ones: only the new ones go in, and the
    # progress of stored ones is not reset.
    again = insert_candidates(
        stores.candidates, [*make_batch("c1", 0, 120), *make_batch("c1", 120, 130)]
    )
    assert (again.inserted, again.existing) == (10, 120)
    assert stores.candidates.count_documents({}) == 130
    dupes = list(
        stores.candidates.aggregate(
            [{"$group": {"_id": "$candidate_id", "n": {"$sum": 1}}}, {"$match": {"n": {"$gt": 1}}}]
        )
    )
    assert dupes == []
    assert get_candidate(stores.candidates, batch[0].candidate_id).state == "gated"
    assert get_candidate(stores.candidates, batch[1].candidate_id) == batch[1]


def test_two_processes_writing_concurrently_lose_nothing(stores, mongo_uri: str) -> None:
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(mongo_uri, stores.db_name, a, b, par, barrier, queue))
        for a, b, par in ((0, 300, 0), (150, 451, 1))
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(r[0] for r in results) == 451  # every id inserted exactly once overall
    assert stores.candidates.count_documents({}) == 451
    assert len(stores.candidates.distinct("candidate_id")) == 451
    # Both workers' state changes landed (they gate disjoint halves of the overlap).
    gated = stores.candidates.count_documents({"state": "gated"})
    assert gated == sum(r[1] for r in results)
    assert all(r[2] == 0 for r in results)
    expected = {
        c.candidate_id for c in make_batch("race", 0, 300) if c.provenance.sample_index % 2 == 0
    }
    expected |= {
        c.candidate_id for c in make_batch("race", 150, 451) if c.provenance.sample_index % 2 == 1
    }
    assert {d["candidate_id"] for d in stores.candidates.find({"state": "gated"})} == expected


def test_state_updates_are_validated_in_bulk(stores) -> None:
    a, b, c, d = make_batch("c2", 0, 4)
    insert_candidates(stores.candidates, [a, b, c, d])
    summary = update_states(
        stores.candidates,
        [
            StateUpdate(a.candidate_id, "gated", {"gate": {"valid": True}}),
            StateUpdate(b.candidate_id, "scored", {"scores": {"mp2021": {"e_d": 0.1}}}),
            StateUpdate(c.candidate_id, "rejected", {"reject_reason": "smact: not charge neutral"}),
            StateUpdate("gf-missing", "gated"),
            StateUpdate(
                a.candidate_id, "prerelaxed", {"prerelax.energy_per_atom": -3.1}, note="chgnet"
            ),
        ],
    )
    assert summary.updated == 3
    assert set(summary.errors) == {b.candidate_id, "gf-missing"}
    assert "generated → scored" in summary.errors[b.candidate_id]
    assert "not found" in summary.errors["gf-missing"]
    doc = get_candidate(stores.candidates, a.candidate_id)
    assert doc.state == "prerelaxed" and doc.prerelax.energy_per_atom == -3.1 and doc.gate.valid
    assert [h.state for h in doc.history] == ["generated", "gated", "prerelaxed"]
    assert doc.history[-1].note == "chgnet"
    # Idempotent rerun: same target again refreshes fields without a new history entry.
    transition(stores.candidates, a.candidate_id, "prerelaxed", **{"prerelax.e_d": 0.02})
    again = get_candidate(stores.candidates, a.candidate_id)
    assert len(again.history) == 3 and again.prerelax.e_d == 0.02
    with pytest.raises(ValueError, match=r"rejected → gated"):
        transition(stores.candidates, c.candidate_id, "gated")
    with pytest.raises(ValueError, match=r"needs fields\['reject_reason'\]"):
        update_states(stores.candidates, [StateUpdate(d.candidate_id, "rejected")])
    with pytest.raises(ValueError, match="invalid relax"):
        transition(stores.candidates, a.candidate_id, "relaxed", relax={"engine": "vasp"})
    assert get_candidate(stores.candidates, a.candidate_id).state == "prerelaxed"


def test_counts_failures_and_iteration(stores) -> None:
    batch = make_batch("c3", 0, 10)
    insert_candidates(stores.candidates, [*batch, *make_batch("other", 0, 3)])
    reasons = ["min_distance: 0.31 Å < 0.5 Å", "min_distance: 0.2 Å < 0.5 Å", "smact: not neutral"]
    update_states(
        stores.candidates,
        [
            StateUpdate(c.candidate_id, "rejected", {"reject_reason": r})
            for c, r in zip(batch, reasons, strict=False)
        ],
        strict=True,
    )
    update_states(stores.candidates, [StateUpdate(c.candidate_id, "gated") for c in batch[3:]])
    transition(
        stores.candidates,
        batch[3].candidate_id,
        "relaxed",
        relax={"engine": "vasp", "converged": False, "error": "custodian: max errors"},
    )
    counts = count_states(stores.candidates, "c3")
    assert counts == {
        "generated": 0,
        "rejected": 3,
        "gated": 6,
        "prerelaxed": 0,
        "relaxed": 1,
        "scored": 0,
    }
    assert count_states(stores.candidates)["generated"] == 3
    rows = failures(stores.candidates, "c3")
    assert {r["reason"] for r in rows} == {*reasons, "custodian: max errors"}
    assert failure_counts(stores.candidates, "c3") == {"min_distance": 2, "smact": 1}
    gated = list(iter_candidates(stores.candidates, "c3", "gated"))
    assert [c.candidate_id for c in gated] == [c.candidate_id for c in batch[4:]]
    assert len(list(iter_candidates(stores.candidates, state=["gated", "relaxed"]))) == 7
    assert len(list(iter_candidates(stores.candidates, "other"))) == 3
    # 7 reached "gated" just now (one has moved on since): 7 per 24 h; none in a past window.
    assert throughput(stores.candidates, "c3", "gated") == pytest.approx(7 / 24)
    past = datetime.now(UTC) - timedelta(days=3)
    assert throughput(stores.candidates, "c3", "gated", now=past) == 0
    with pytest.raises(KeyError, match="gf-nope"):
        get_candidate(stores.candidates, "gf-nope")


def test_record_scores_marks_hits(stores) -> None:
    a, b = make_batch("c4", 0, 2)
    insert_candidates(stores.candidates, [a, b])
    dft = {"engine": "vasp", "converged": True, "energy_per_atom": -3.3, "mp_compatible": True}
    for c in (a, b):
        transition(stores.candidates, c.candidate_id, "gated")
        transition(stores.candidates, c.candidate_id, "relaxed", relax=dft)
    summary = record_scores(
        stores.candidates,
        {
            a.candidate_id: {"mp2021": {"e_d": -0.02}, "gnome": {"e_d": 0.03}},
            b.candidate_id: {"mp2021": {"e_d": float("nan"), "error": "no Xx in hull"}},
        },
        hit_threshold=0.0,
    )
    assert summary.updated == 2 and not summary.errors
    ca, cb = (get_candidate(stores.candidates, c.candidate_id) for c in (a, b))
    assert ca.state == "scored" and ca.hit_hulls == ["mp2021"]
    assert ca.is_hit == {"mp2021": True, "gnome": False}
    assert cb.scores["mp2021"].e_d is None and cb.hit_hulls == []  # NaN never matches ranges
    # A later, better GNoME score adds the hull; a worse MP score removes it.
    record_scores(
        stores.candidates,
        {a.candidate_id: {"gnome": {"e_d": -0.01}, "mp2021": {"e_d": 0.5}}},
        hit_threshold=0.0,
    )
    ca = get_candidate(stores.candidates, a.candidate_id)
    assert ca.hit_hulls == ["gnome"] and ca.scores["mp2021"].e_d == 0.5
    assert [h.state for h in ca.history].count("scored") == 1


def test_indexes_exist_and_are_idempotent(stores) -> None:
    info = stores.candidates.index_information()
    assert info["candidate_id_1"]["unique"]
    keys = {tuple(k for k, _ in v["key"]) for v in info.values()}
    for wanted in [
        ("campaign", "state"),
        ("state",),
        ("reduced_formula",),
        ("chemsys",),
        ("created_at",),
        ("scores.mp2021.e_d",),
        ("scores.gnome.e_d",),
        *(tuple(k for k, _ in hits_index_keys(h, by_campaign=c))
          for h in ("mp2021", "gnome") for c in (False, True)),
    ]:  # fmt: skip
        assert wanted in keys
    assert stores.campaigns.index_information()["name_1"]["unique"]
    jobs = stores.db["outputs"].index_information()
    assert jobs["uuid_1_index_1"]["unique"]
    assert ensure_indexes(stores.db) == []  # second run creates nothing and does not error
    # An index someone created without background=True: SecantusDB rejects re-creating it
    # with the flag (IndexKeySpecsConflict), so ensure_indexes must match on keys and skip it.
    stores.candidates.drop_index("chemsys_1")
    stores.candidates.create_index("chemsys")
    with pytest.raises(OperationFailure):
        stores.candidates.create_index("chemsys", background=True)
    assert ensure_indexes(stores.db) == []
    stores.candidates.drop_index("chemsys_1")
    assert ensure_indexes(stores.db) == ["candidates:chemsys"]
    # maggma's own ensure_index and FireWorks' (background=True) tuneup coexist with ours.
    assert stores.job_store.ensure_index("uuid")
    stores.launchpad.tuneup(bkground=True)
    with connect(uri=stores.uri, db_name=stores.db_name) as again:
        assert again.launchpad.fireworks.index_information()["fw_id_1"]["unique"]


def test_unique_campaign_names(stores) -> None:
    stores.campaigns.insert_one({"name": "nightly-2025-01-01"})
    with pytest.raises(DuplicateKeyError):
        stores.campaigns.insert_one({"name": "nightly-2025-01-01"})
