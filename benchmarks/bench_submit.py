"""Benchmark: submitting 10^4 candidates in bulk vs one round trip each (target ≤ 5 ms each).

Runs against a fresh SecantusDB server (``:memory:`` by default, or ``--storage DIR`` for the
on-disk default) or ``--uri`` (e.g. a production MongoDB). Candidates are real
:class:`genflow.core.candidates.Candidate` documents (perturbed rock-salt cells, ~3 kB each) written
through :func:`genflow.core.candidates.insert_candidates` (unordered ``insert_many`` batches on
the unique ``candidate_id`` index) into the indexed ``candidates`` collection. The slow path
(the same insert, one ``insert_one`` round trip per candidate) is timed on a subsample and
extrapolated per candidate; the ratio compares the two in the same run. A re-submission of the
whole batch checks that nothing is duplicated.

    python benchmarks/bench_submit.py            # 10^4 candidates, journaled writes
    python benchmarks/bench_submit.py -n 2000 --no-journal
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure
from pymongo.errors import DuplicateKeyError

from genflow.core.candidates import Candidate, insert_candidates
from genflow.core.embedded import ensure_server, free_port, stop_server
from genflow.core.store import connect


def make_candidates(n: int, campaign: str) -> list[Candidate]:
    """Return ``n`` distinct candidates (8-atom NaCl cells with seeded noise)."""
    rng = np.random.default_rng(0)
    base = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0] * 3, [0.5] * 3]
    )
    prov = {
        "model_name": "unimat",
        "checkpoint_hash": "bench",
        "conditioning": {"chemsys": "Cl-Na"},
    }
    out = []
    for i in range(n):
        coords = base.frac_coords + rng.normal(0, 0.01, base.frac_coords.shape)
        s = Structure(base.lattice, base.species, coords)
        out.append(Candidate.from_structure(s, campaign, prov, seed=i // 100, index=i % 100))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="candidates in the bulk path")
    parser.add_argument("--slow", type=int, default=300, help="subsample for one-by-one path")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--uri", default=None, help="existing server (skips SecantusDB start)")
    parser.add_argument("--storage", default=None, help="SecantusDB dir (default :memory:)")
    parser.add_argument("--no-journal", action="store_true", help="w:1 j:false (faster, less safe)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="genflow-bench-"))
    port = None
    uri = args.uri
    if uri is None:
        port = free_port()
        uri = ensure_server(args.storage or ":memory:", port, run_dir=run_dir)
    if args.no_journal:
        uri = uri.replace("journal=true", "journal=false")
    try:
        t0 = time.perf_counter()
        cands = make_candidates(args.n + args.slow, "bench")
        t_make = time.perf_counter() - t0
        bulk, slow = cands[: args.n], cands[args.n :]
        with connect(uri=uri, db_name=f"bench_{int(time.time())}") as stores:
            coll = stores.candidates
            t0 = time.perf_counter()
            summary = insert_candidates(coll, bulk, batch_size=args.batch_size)
            t_bulk = time.perf_counter() - t0
            assert summary.inserted == args.n, summary

            t0 = time.perf_counter()
            for c in slow:  # the baseline: the same insert, one round trip per candidate
                with contextlib.suppress(DuplicateKeyError):
                    coll.insert_one(c.to_mongo())
            t_one = time.perf_counter() - t0

            t0 = time.perf_counter()
            again = insert_candidates(coll, bulk, batch_size=args.batch_size)
            t_again = time.perf_counter() - t0
            assert again.inserted == 0 and again.existing == args.n, again
            assert coll.count_documents({}) == args.n + args.slow
            doc_kb = len(json.dumps(bulk[0].to_mongo(), default=str)) / 1024
            stores.client.drop_database(stores.db_name)
    finally:
        if port is not None:
            stop_server(port, run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)

    ms_bulk = 1000 * t_bulk / args.n
    ms_one = 1000 * t_one / args.slow
    result = {
        "n": args.n,
        "journal": not args.no_journal,
        "doc_kb": round(doc_kb, 2),
        "build_ms_per_candidate": round(1000 * t_make / len(cands), 3),
        "bulk_ms_per_candidate": round(ms_bulk, 3),
        "one_by_one_ms_per_candidate": round(ms_one, 3),
        "one_by_one_extrapolated_s": round(ms_one * args.n / 1000, 1),
        "speedup": round(ms_one / ms_bulk, 2),
        "resubmit_ms_per_candidate": round(1000 * t_again / args.n, 3),
        "target_ms": 5.0,
        "meets_target": ms_bulk <= 5.0,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.n} candidates (~{doc_kb:.1f} kB each, journal={not args.no_journal})")
    print(f"  bulk insert      : {ms_bulk:8.3f} ms/candidate  ({t_bulk:.1f} s total)")
    print(f"  one round trip   : {ms_one:8.3f} ms/candidate  (subsample {args.slow}, "
          f"extrapolated {ms_one * args.n / 1000:.1f} s for {args.n})")  # fmt: skip
    print(f"  ratio one/bulk   : {ms_one / ms_bulk:8.2f}x")
    print(f"  re-submission    : {1000 * t_again / args.n:8.3f} ms/candidate, 0 duplicates")
    print(f"  target ≤ 5 ms    : {'met' if ms_bulk <= 5.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
