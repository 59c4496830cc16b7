"""Bounded retries across a database outage, and reads that resume where they broke."""

from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError

from genflow.core.retry import retry_call


def test_retry_call_waits_out_connection_failures_then_returns() -> None:
    calls, waits = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise AutoReconnect("connection refused")
        return "ok"

    assert retry_call(flaky, what="probe", sleep=waits.append) == "ok"
    assert len(calls) == 4 and waits == [0.5, 1.0, 2.0]  # back-off doubles


def test_retry_call_gives_up_after_its_budget_naming_the_operation() -> None:
    def down() -> None:
        raise AutoReconnect("connection refused")

    with pytest.raises(AutoReconnect, match="insert candidates: database unreachable"):
        retry_call(down, what="insert candidates", budget_s=0.0, sleep=lambda s: None)


def test_other_errors_are_not_retried() -> None:
    calls = []

    def dup() -> None:
        calls.append(1)
        raise DuplicateKeyError("E11000")

    with pytest.raises(DuplicateKeyError):
        retry_call(dup, what="insert", sleep=lambda s: None)
    assert len(calls) == 1


class _BreaksOnce:
    """A collection whose ``find`` fails once, after the first page was served."""

    def __init__(self, collection) -> None:
        self._collection, self.finds = collection, 0

    def find(self, *args, **kwargs):
        self.finds += 1
        if self.finds == 2:
            raise AutoReconnect("server restarted")
        return self._collection.find(*args, **kwargs)


def test_iter_candidates_resumes_after_a_broken_page(stores) -> None:
    from pymatgen.core import Lattice, Structure

    from genflow.core.candidates import Candidate, insert_candidates, iter_candidates

    prov = {"model_name": "m", "checkpoint_hash": "h", "conditioning": {}}
    cands = [
        Candidate.from_structure(
            Structure(Lattice.cubic(4 + i / 10), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
            "resume", prov, seed=0, index=i,
        )
        for i in range(5)
    ]  # fmt: skip
    insert_candidates(stores.candidates, cands)
    flaky = _BreaksOnce(stores.candidates)
    got = [c.candidate_id for c in iter_candidates(flaky, "resume", batch_size=2)]
    assert got == [c.candidate_id for c in cands]  # each once, in insertion order
    assert flaky.finds >= 4  # pages of 2, one failed attempt, one empty last page
