"""The queries of ``hits``, ``status``, ``trace``, ``failures``, dedupe and novelty have their
indexes, and SecantusDB's ``explain`` shows an index scan wherever its planner can use one
(issue 22).

The filters are built by the same functions the commands use, on a database whose indexes
``connect`` created (``genflow.core.store.ensure_indexes``). SecantusDB's planner (unlike
MongoDB's) picks an index only when *every* predicate is an equality or one range on the
index's leading fields: a predicate no index covers, ``$ne``, ``$nin`` or ``$or`` makes it
scan the collection (``test_secantusdb_planner_limit`` pins this). The hits query is built for
it: its null predicates are equalities of the compound hits index
(``genflow.core.candidates.hits_index_keys``), so ``genflow hits`` is an index scan there,
with or without ``--campaign``. The dedupe read is the formula ``$in`` alone (the rest of
its selection is applied to what it returns), an index scan on both servers. For the
failures query (``$or``) the test
checks that the index MongoDB would use exists (the leading equality/range field heads an
index); ``benchmarks/bench_db_scale.py`` shows what that costs on the embedded server. A control
query on an unindexed field shows the check can fail (``COLLSCAN``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from genflow.campaign.status import stage_counts, stage_pipeline
from genflow.core.candidates import CandidateKey as K
from genflow.core.candidates import get_path, is_hit
from genflow.core.candidates.queries import by_id, e_d_sort, hits_index_keys, scored_hits_filter
from genflow.core.candidates.reads import failures_filter
from genflow.workflows.gate.dedupe import earlier_candidates_filter

pytestmark = pytest.mark.usefixtures("stores")


def _plan(coll, query: dict[str, Any], sort: list | None = None) -> dict:
    cmd: dict[str, Any] = {"find": coll.name, "filter": query}
    if sort:
        cmd["sort"] = dict(sort)
    out = coll.database.command("explain", cmd)
    return out["queryPlanner"]["winningPlan"]


def _count_plan(coll, query: dict[str, Any]) -> dict:
    out = coll.database.command("explain", {"count": coll.name, "query": query})
    return out["queryPlanner"]["winningPlan"]


def _stages(plan: dict) -> str:
    return json.dumps(plan, default=str)


def _index_heads(coll) -> set[str]:
    return {info["key"][0][0] for info in coll.index_information().values()}


def _indexed(coll, query: dict, lead: str, sort: list | None = None, count: bool = False) -> str:
    """IXSCAN, or SecantusDB's scan of a query with a null/negation predicate whose leading
    field ``lead`` heads an index (what MongoDB's planner uses); returns which."""
    plan = _stages(_count_plan(coll, query) if count else _plan(coll, query, sort))
    if "IXSCAN" in plan:
        return "IXSCAN"
    assert _has_negation(query), (query, plan)  # a plain query must be an index scan
    assert lead in _index_heads(coll), (lead, query)
    return "COLLSCAN (SecantusDB planner), index present"


def _has_negation(query: Any) -> bool:
    if isinstance(query, dict):
        return any(
            k in ("$ne", "$nin", "$or", "$not") or v is None or _has_negation(v)
            for k, v in query.items()
        )
    if isinstance(query, list):
        return any(_has_negation(v) for v in query)
    return False


@pytest.fixture
def filled(stores):
    """A few candidate, reference and job documents (the plans need collections, not volume)."""
    docs = [
        {
            K.CANDIDATE_ID.value: f"gf-{i}",
            K.CAMPAIGN.value: f"c{i % 2}",
            K.STATE.value: ["scored", "rejected", "gated"][i % 3],
            K.REDUCED_FORMULA.value: f"Na{i}Cl",
            K.STRUCTURE.value: {"x": i},
            # E_d from -1 up; every 4th score errored, every 5th candidate a relaxed duplicate
            "scores": {"mp2021": {"e_d": 0.1 * i - 1.0, "error": "boom" if i % 4 == 3 else None}},
            **({"verdict": {"duplicate_of": "gf-0"}} if i % 5 == 1 else {}),
        }
        for i in range(30)
    ]
    stores.candidates.insert_many(docs)
    stores.db["references"].insert_many(
        [{"source": "mp_20", "ref_id": f"mp-{i}", "reduced_formula": f"Na{i}Cl"} for i in range(5)]
    )
    stores.db["outputs"].insert_many([{"uuid": f"u{i}", "index": 1} for i in range(5)])
    return stores


def test_hits_query_is_an_index_scan_of_the_hits_index(filled) -> None:
    """``genflow hits`` (and ``--campaign``) walks the compound hits index on SecantusDB: the
    plan names it, and the documents found are the hits the Python rule finds."""
    coll = filled.candidates
    for campaign in (None, "c1"):
        query = scored_hits_filter("mp2021", 0.0, campaign=campaign)
        plan = _plan(coll, query, e_d_sort("mp2021"))
        assert "IXSCAN" in _stages(plan) and "COLLSCAN" not in _stages(plan), plan
        keys = dict(hits_index_keys("mp2021", by_campaign=campaign is not None))
        assert f'"keyPattern": {json.dumps(keys)}' in _stages(plan)
        found = [d[K.CANDIDATE_ID] for d in coll.find(query).sort(e_d_sort("mp2021"))]
        expected = [
            d[K.CANDIDATE_ID]
            for d in sorted(coll.find(), key=lambda d: get_path(d, "scores.mp2021.e_d"))
            if d[K.STATE] == "scored"
            and campaign in (None, d[K.CAMPAIGN])
            and is_hit(d["scores"]["mp2021"], 0.0, duplicate_of=get_path(d, K.DUPLICATE_OF))
        ]
        assert found == expected and found, (campaign, found)


def test_hits_variants_still_have_their_index(filled) -> None:
    """``--since`` (a second range) and ``hide_gaps`` (``$ne``) fall outside what SecantusDB
    plans on one index; the E_d index MongoDB uses for them exists."""
    from datetime import UTC, datetime

    since = datetime(2020, 1, 1, tzinfo=UTC)
    for query in (
        scored_hits_filter("mp2021", 0.0, scored_since=since),
        scored_hits_filter("mp2021", 0.0, campaign="c1", hide_gaps=True),
    ):
        assert "scores.mp2021.e_d" in _index_heads(filled.candidates)
        assert next(iter(query)) == "scores.mp2021.e_d"  # the clause looked up first


def test_status_counts_use_the_campaign_index(filled) -> None:
    cmd = {"aggregate": "candidates", "pipeline": stage_pipeline("c1"), "cursor": {}}
    out = filled.db.command("explain", cmd)
    assert "IXSCAN" in _stages(out) and "COLLSCAN" not in _stages(out)
    # 15 of c1: states cycle scored, rejected, gated; none has a relax result
    assert stage_counts(filled, "c1") == {
        "generated": 15, "gated": 15, "rejected_at_gate": 5, "relaxed": 0, "scored": 5,
    }  # fmt: skip


def test_trace_reads_use_the_id_indexes(filled) -> None:
    assert "IXSCAN" in _stages(_plan(filled.candidates, by_id("gf-3")))
    assert "IXSCAN" in _stages(_plan(filled.db["outputs"], {"uuid": "u1"}))
    assert "IXSCAN" in _stages(_plan(filled.campaigns, {"name": "c1"}))


def test_failures_query_uses_the_campaign_index(filled) -> None:
    _indexed(filled.candidates, failures_filter("c1"), K.CAMPAIGN)


def test_dedupe_and_novelty_reads_use_the_formula_indexes(filled) -> None:
    query = earlier_candidates_filter(["Na3Cl", "Na4Cl"])
    assert "IXSCAN" in _stages(_plan(filled.candidates, query))
    assert "IXSCAN" in _stages(_plan(filled.candidates, {K.REDUCED_FORMULA.value: "Na3Cl"}))
    refs = {"reduced_formula": {"$in": ["Na1Cl", "Na2Cl"]}}
    assert "IXSCAN" in _stages(_plan(filled.db["references"], refs))


def test_an_unindexed_field_is_a_collection_scan(filled) -> None:
    plan = _plan(filled.candidates, {K.NSITES.value: 2})
    assert "COLLSCAN" in _stages(plan) and "IXSCAN" not in _stages(plan)


def test_secantusdb_planner_limit(filled) -> None:
    """Pinned: a range the index covers is an index scan; adding a null predicate no index
    leads with makes it a collection scan (why the hits index carries the hit rule's null
    fields). If SecantusDB lifts this, the failures plan above becomes IXSCAN."""
    e_d = {"scores.mp2021.e_d": {"$lt": 0.0}}
    assert "IXSCAN" in _stages(_plan(filled.candidates, e_d))
    with_null = {**e_d, "scores.mp2021.error": None}
    assert "COLLSCAN" in _stages(_plan(filled.candidates, with_null))
