"""Benchmark: ``hits``, ``status``, ``trace`` and dedupe reads on 10^6 candidates, with and
without genflow's indexes, in one run.

A fresh SecantusDB server (``:memory:`` by default, ``--storage DIR`` for the on-disk store, or
``--uri``) gets ``--n`` candidate documents in one database without secondary indexes (insert
rate without indexes); the four reads are timed there, then :func:`genflow.core.store.
ensure_indexes` builds genflow's indexes (build time), the same reads are timed again, and
``--extra`` more documents measure the insert rate with the indexes in place. The ratios
compare the two timings of each read in the same run.

Documents are real :class:`~genflow.core.candidates.Candidate` documents (a scored NaCl cell,
~3 kB) copied with varied ids, campaigns (10), states (60 % scored, 20 % rejected, 10 % relaxed,
10 % gated), reduced formulas (5000) and E_d (about 7 % hits on ``mp2021``). The reads are
genflow's own functions: ``find_hits`` (``genflow hits --campaign``), ``stage_counts``
(``genflow campaign status``), ``trace_hit`` (``genflow trace``) and the dedupe gate's
``earlier_candidates_filter``.

    python benchmarks/bench_db_scale.py --n 100000      # minutes
    python benchmarks/bench_db_scale.py --storage DIR --plain-limit 60   # 10^6, under an hour

Memory: a read SecantusDB answers by scanning decodes every document of the collection before
it filters (about 10 kB of Python objects per 3 kB document here), so at 10^6 one scan holds
several GB until its ``maxTimeMS`` (``--plain-limit``) stops it. The reads run one at a time
and the next waits until the server answers a point lookup again; keep ``--plain-limit`` short
on a small box (at 10^6 and 60 s the server peaked at 16 GB).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pymongo
import pymongo.errors
from pymatgen.core import Lattice, Structure

from genflow.campaign.hits import find_hits, trace_hit
from genflow.campaign.status import stage_counts
from genflow.core.candidates import Candidate
from genflow.core.candidates import CandidateKey as K
from genflow.core.candidates.subdocs import RelaxDoc
from genflow.core.embedded import ensure_server, free_port, stop_server
from genflow.core.store import connect, ensure_indexes
from genflow.workflows.gate.dedupe import earlier_candidates_filter

N_CAMPAIGNS = 10
N_FORMULAS = 5000
BATCH = 5000


def template() -> dict:
    """One scored candidate document (the shape every generated row copies)."""
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0] * 3, [0.5] * 3])
    prov = {"model_name": "unimat", "checkpoint_hash": "bench", "conditioning": {}}
    c = Candidate.from_structure(s, "bench-0", prov, seed=0, index=0)
    c = c.transition("gated").transition(
        "relaxed",
        relax=RelaxDoc(engine="mlip", converged=True, energy_per_atom=-3.4, task_uuid="t-0"),
    )
    return c.with_scores({"mp2021": {"e_d": 0.1, "e_form": -2.0}}, 0.0).to_mongo()


def documents(start: int, n: int, base: dict, rng: np.random.Generator) -> list[dict]:
    """``n`` varied copies of ``base`` numbered from ``start``."""
    states = rng.choice(["scored", "rejected", "relaxed", "gated"], n, p=[0.6, 0.2, 0.1, 0.1])
    e_d = rng.normal(0.15, 0.1, n)
    t0 = base[K.CREATED_AT]
    out = []
    for j in range(n):
        i = start + j
        doc = copy.copy(base)
        state = str(states[j])
        at = t0 + timedelta(seconds=i)
        doc.update(
            candidate_id=f"gf-bench-{i:08d}",
            campaign=f"bench-{i % N_CAMPAIGNS}",
            reduced_formula=f"Na{1 + i % N_FORMULAS}Cl",
            state=state,
            created_at=at,
            state_at={"generated": at, state: at},
        )
        if state == "scored":
            hit = bool(e_d[j] < 0)
            doc[K.SCORES] = {"mp2021": {"e_d": float(e_d[j]), "e_form": -2.0, "error": None}}
            doc[K.IS_HIT] = {"mp2021": hit}
            doc[K.HIT_HULLS] = ["mp2021"] if hit else []
        else:
            doc[K.SCORES], doc[K.IS_HIT], doc[K.HIT_HULLS] = {}, {}, []
            if state == "rejected":
                doc[K.REJECT_REASON] = "duplicate: bench"
                doc.pop(K.RELAX, None)
            elif state == "gated":
                doc.pop(K.RELAX, None)
        out.append(doc)
    return out


def insert(coll, start: int, n: int, base: dict, rng: np.random.Generator) -> float:
    """Insert ``n`` documents in batches; return seconds spent in the database."""
    spent = 0.0
    for lo in range(start, start + n, BATCH):
        docs = documents(lo, min(BATCH, start + n - lo), base, rng)
        t0 = time.perf_counter()
        coll.insert_many(docs, ordered=False)
        spent += time.perf_counter() - t0
    return spent


def timed(fn: Callable[[], object], repeat: int, limit_s: float | None = None) -> float | str:
    """Median seconds of ``repeat`` calls, or the error that stopped the read (as text).

    A read without its index may be stopped after ``limit_s`` or fail outright: an in-memory
    sort of a big campaign's scored candidates exceeds the server's sort memory, or the server
    drops the connection.
    """
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            with pymongo.timeout(limit_s):
                fn()
        except pymongo.errors.PyMongoError as exc:
            # pymongo reports a read stopped at the limit as a timeout, or as a cancelled
            # operation when the limit fell while its connection was being checked out
            if exc.timeout or (limit_s and time.perf_counter() - t0 >= limit_s):
                return f"> {limit_s:g} s (stopped)"
            return f"failed after {time.perf_counter() - t0:.1f} s: {type(exc).__name__}: {exc}"
        except Exception as exc:
            return f"failed after {time.perf_counter() - t0:.1f} s: {type(exc).__name__}: {exc}"
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def reads(stores, n: int) -> dict[str, Callable[[], object]]:
    """The four reads, on one campaign / one candidate / one formula bucket."""
    cid = f"gf-bench-{n // 2:08d}"
    return {
        "hits": lambda: find_hits(stores, hull="mp2021", max_ed=0.0, campaign="bench-3"),
        "status": lambda: stage_counts(stores, "bench-3"),
        "trace": lambda: trace_hit(stores, cid),
        "dedupe": lambda: list(stores.candidates.find(earlier_candidates_filter(["Na7Cl"]))),
    }


def _settle(stores, limit_s: float = 1800.0) -> None:
    """Wait until the server answers a ping and an ``_id`` point lookup again (after a stopped
    read). Not ``find_one({})``: SecantusDB answers that by decoding the whole collection
    before the limit applies, which at 10^6 documents took the server past the box's memory."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            stores.client.admin.command("ping")
            stores.candidates.find_one({"_id": 0}, {"_id": 1})
            return
        except pymongo.errors.PyMongoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(5)


def _progress(what: str, figures: dict) -> None:
    """One line per phase as it ends, so a long run leaves figures even if stopped later."""
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {what}: {figures}",
          flush=True)  # fmt: skip


def _row(plain: float | str, indexed: float | str) -> dict:
    ms = {k: round(1000 * v, 2) if isinstance(v, float) else v for k, v in
          (("no_index", plain), ("indexed", indexed))}  # fmt: skip
    both = isinstance(plain, float) and isinstance(indexed, float)
    ms["ratio"] = round(plain / indexed, 1) if both and indexed > 0 else None
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="candidate documents")
    parser.add_argument("--extra", type=int, default=20_000, help="inserts timed with indexes")
    parser.add_argument("--repeat", type=int, default=3, help="indexed timings per read (median)")
    parser.add_argument(
        "--repeat-plain", type=int, default=1, help="timings per read without indexes (scans)"
    )
    parser.add_argument(
        "--plain-limit",
        type=float,
        default=120.0,
        help="stop a read after this many s (SecantusDB scans some indexed reads too)",
    )
    parser.add_argument("--uri", default=None, help="existing server (skips SecantusDB start)")
    parser.add_argument("--storage", default=None, help="SecantusDB dir (default :memory:)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="genflow-bench-"))
    port, uri = None, args.uri
    if uri is None:
        port = free_port()
        uri = ensure_server(args.storage or ":memory:", port, run_dir=run_dir)
    # A read stopped by --plain-limit raises a timeout, which genflow's reads would wait out
    # as a database outage (retry_call, minutes): here it is the figure, not an outage.
    import genflow.core.retry as retry

    retry.retry_call.__kwdefaults__["budget_s"] = 0.0
    rng = np.random.default_rng(0)
    base = template()
    result: dict = {"n": args.n, "load_before": os.getloadavg()}
    try:
        db_name = f"bench_scale_{int(time.time())}"
        with connect(uri=uri, db_name=db_name, create_indexes=False) as stores:
            coll = stores.candidates
            t_ins = insert(coll, 0, args.n, base, rng)
            result["insert_per_s_no_index"] = round(args.n / t_ins)
            _progress("inserted without indexes", result)
            plain = {}
            for k, f in reads(stores, args.n).items():
                plain[k] = timed(f, args.repeat_plain, args.plain_limit)
                # SecantusDB goes on with a read the client stopped until its maxTimeMS
                # check; until it answers again, pymongo cancels new operations (the next
                # read, the index build below) as if the server were down.
                _settle(stores)
            _progress("reads without indexes (s)", plain)
            t0 = time.perf_counter()
            ensure_indexes(stores.db)
            result["index_build_s"] = round(time.perf_counter() - t0, 1)
            _progress("indexes built", result)
            indexed = {
                k: timed(f, args.repeat, args.plain_limit) for k, f in reads(stores, args.n).items()
            }
            _progress("reads with indexes (s)", indexed)
            t_extra = insert(coll, args.n, args.extra, base, rng)
            result["insert_per_s_indexed"] = round(args.extra / t_extra)
            stores.client.drop_database(db_name)
    finally:
        if port is not None:
            stop_server(port, run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
    result["load_after"] = os.getloadavg()
    result["reads_ms"] = {k: _row(plain[k], indexed[k]) for k in plain}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.n} candidates; load average {result['load_before']} → {result['load_after']}")
    print(f"  insert, no secondary indexes : {result['insert_per_s_no_index']:>9} docs/s")
    print(f"  insert, genflow's indexes    : {result['insert_per_s_indexed']:>9} docs/s")
    print(f"  index build                  : {result['index_build_s']:>9} s")
    for k, row in result["reads_ms"].items():
        print(
            f"  {k:<7} no index {row['no_index']}  indexed {row['indexed']}  ratio {row['ratio']}"
        )


if __name__ == "__main__":
    main()
