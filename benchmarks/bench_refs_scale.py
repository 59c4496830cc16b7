"""Benchmark the references collection at 10^6 documents: import, novelty lookup, memory.

Runs against a fresh SecantusDB server (``genflow.core.embedded.ensure_server``) on a
WiredTiger directory (``--storage``, default a temporary one; ``:memory:`` works for small
``--n``). Steps, all in one run:

1. **Pipeline import** of ``--n-real`` real rows (bundled MP-20, written as MatterGen's
   ``alex_mp_20`` CSV of CIFs) through ``genflow.workflows.reference_sources.import_references``:
   CSV read, CIF parse, fingerprint (the gate's function), insert. Docs/s of the whole path.
2. **Store import** up to ``--n`` documents: the real documents of step 1 copied with new ids
   and, past the first copy, formula/chemsys tags no candidate asks for (so every formula
   bucket a candidate reads keeps its MP-20 size while the index holds ``--n`` keys), in
   batches as ``refs add`` does (``stored_ref_ids(probe=True)``, then ``insert_references``).
   Docs/s, and ms of the pre-parse check per batch of new ids.
3. **Resume**: ``--n-resume`` stored ids asked again as a re-run does before parsing
   (all stored, so the probe is followed by the batch's ``$in``). Ids/s.
4. **Novelty lookup per candidate**, the gate's own path (``reference_index`` of the
   candidate's formula from the collection, then ``StructureIndex.find``), on
   ``--n-lookup`` real structures rattled 0.02 Å (each finds its reference): ms per candidate
   with the ``reduced_formula`` index, then with that index dropped (a collection scan per
   lookup, on ``--n-scan`` candidates), and the ratio.

Peak memory: this process (``ru_maxrss``) and the server (``VmHWM``).

Usage: ``python benchmarks/bench_refs_scale.py [--n 1000000] [--quick] [--json]``
(``--quick``: ``--n 10000``).

Measured (2 shared cores, load 8-13, WiredTiger on disk): at 10^6 documents, store import
592 docs/s, pipeline (CSV, CIF parse, fingerprint, insert) 42 docs/s, pre-parse check 90 ms
per batch of 1000 new ids, resume 734 ids/s, lookup 9.9 ms per candidate (p95 30 ms; database
read 3.6 ms), peak memory 0.5 GB here, 2.4 GB server. The index-dropped scan was run at 10^5
(``--n-scan 2``): 76 s per lookup, 3466x the indexed 22 ms (database read alone 9048x), server
peak 3.5 GB; at 10^6 it would need ~30 GB of server memory, so ``--n-scan 0`` there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _server_hwm_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _probe_ms(collection, batch) -> float:
    """ms of the check an import makes before parsing a batch of new ids."""
    from genflow.core.references import stored_ref_ids

    t0 = time.perf_counter()
    stored_ref_ids(collection, "scale", (d["ref_id"] for d in batch), probe=True)
    return (time.perf_counter() - t0) * 1e3


def _real_rows(n: int) -> pd.DataFrame:
    from genflow.model.data import bundled_paths

    frames = [pd.read_csv(p, usecols=["material_id", "cif"]) for p in bundled_paths("mp_20")]
    df = pd.concat(frames).drop_duplicates("material_id")
    return df.head(n).reset_index(drop=True)


def _lookup_ms(collection, probes) -> tuple[list[float], list[float]]:
    """ms per candidate through the gate's path (formula bucket from the database, plus the
    bundled set, then ``find``), and ms of the database read alone."""
    from genflow.core.references import references_for_formulas
    from genflow.workflows.references import reference_index

    total, db, found = [], [], 0
    for ref_id, structure in probes:
        formula = structure.composition.reduced_formula
        t0 = time.perf_counter()
        index = reference_index([formula], collection)
        hit = index.find(structure)
        total.append((time.perf_counter() - t0) * 1e3)
        found += hit is not None and hit.endswith(f"/{ref_id}")
        t0 = time.perf_counter()
        references_for_formulas(collection, [formula])
        db.append((time.perf_counter() - t0) * 1e3)
    if found != len(probes):
        print(f"warning: {len(probes) - found} of {len(probes)} probes missed their reference")
    return total, db


def main() -> dict:
    """Run the benchmark; print and return its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="documents in the collection")
    ap.add_argument("--n-real", type=int, default=2000, help="real rows through the pipeline")
    ap.add_argument("--n-resume", type=int, default=20_000, help="ids re-imported (skipped)")
    ap.add_argument("--n-lookup", type=int, default=200, help="candidates looked up (index)")
    ap.add_argument(
        "--n-scan",
        type=int,
        default=3,
        help="candidates looked up with the index dropped (0: skip; a SecantusDB scan holds "
        "every document in memory, ~2.7 GB per 10^5)",
    )
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--storage", default=None, help="WiredTiger dir or :memory:")
    ap.add_argument("--quick", action="store_true", help="--n 10000 --n-real 500")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n, args.n_real, args.n_resume, args.n_lookup = 10_000, 500, 5_000, 50
    from pymatgen.core import Structure
    from pymongo import MongoClient

    from genflow.core.embedded import ensure_server, free_port, server_pid, stop_server
    from genflow.core.references import insert_references, stored_ref_ids
    from genflow.core.store import connect
    from genflow.workflows.reference_sources import import_references
    from genflow.workflows.references import bundled_in_memory

    tmp = Path(tempfile.mkdtemp(prefix="bench_refs_"))
    storage = args.storage or str(tmp / "db")
    port = free_port()
    uri = ensure_server(storage, port, run_dir=tmp, timeout=120)
    pid = server_pid(port, tmp)
    res: dict = {"n": args.n, "storage": "memory" if storage == ":memory:" else "disk"}
    try:
        stores = connect(uri=uri, db_name="bench_refs")  # creates genflow's indexes
        # A scan of 10^6 documents keeps SecantusDB (one lock) from answering pymongo's
        # heartbeat for minutes: long timeouts, or the client cancels and retries forever.
        client = MongoClient(uri, tz_aware=True, connectTimeoutMS=3_600_000,
                             serverSelectionTimeoutMS=3_600_000)  # fmt: skip
        coll = client["bench_refs"]["references"]
        bundled_in_memory()  # the gate reads the bundled set once per process: not timed

        # 1. pipeline import of real rows (CSV of CIFs, as alex_mp_20 publishes)
        real = _real_rows(args.n_real)
        csv = tmp / "alex_mp_20_like.csv"
        real.to_csv(csv, index=False)
        t0 = time.perf_counter()
        summary = import_references(coll, csv, "real", "csv", batch_size=args.batch,
                                    progress=False)  # fmt: skip
        dt = time.perf_counter() - t0
        res["pipeline_docs"] = summary.inserted
        res["pipeline_docs_per_s"] = summary.inserted / dt
        base = list(coll.find({"source": "real"}, {"_id": 0, "added_at": 0}))

        # 2. store import up to n documents (copies; formula tags past the first copy)
        n_copies = max(0, args.n - len(base))
        t0 = time.perf_counter()
        inserted_ids: list[str] = []
        fresh_ms: list[float] = []
        done, k = 0, 0
        batch: list[dict] = []

        def flush() -> int:
            fresh_ms.append(_probe_ms(coll, batch))
            room = args.n_resume - len(inserted_ids)
            inserted_ids.extend(d["ref_id"] for d in batch[: max(room, 0)])
            n = insert_references(coll, batch).inserted
            batch.clear()
            return n

        while done + len(batch) < n_copies:
            for doc in base:
                if done + len(batch) >= n_copies:
                    break
                tag = "" if k == 0 else f"#{k}"
                batch.append({**doc, "source": "scale", "ref_id": f"{doc['ref_id']}~{k}",
                              "reduced_formula": doc["reduced_formula"] + tag,
                              "chemsys": doc["chemsys"] + tag})  # fmt: skip
                if len(batch) == args.batch:
                    done += flush()
            k += 1
        if batch:
            done += flush()
        dt = time.perf_counter() - t0
        res["store_docs"] = done
        res["store_docs_per_s"] = done / dt if dt else None
        res["n_total"] = coll.estimated_document_count()

        res["fresh_batch_check_ms"] = statistics.median(fresh_ms) if fresh_ms else None

        # 3. resume: stored ids asked again as a re-run does before parsing (probe, then $in)
        t0 = time.perf_counter()
        skipped = sum(
            len(stored_ref_ids(coll, "scale", inserted_ids[i : i + args.batch], probe=True))
            for i in range(0, len(inserted_ids), args.batch)
        )
        dt = time.perf_counter() - t0
        res["resume_skipped"] = skipped
        res["resume_ids_per_s"] = skipped / dt if dt else None

        # 4. novelty lookup per candidate, with and without the reduced_formula index
        probes = []
        for ref_id, cif in real.sample(min(args.n_lookup, len(real)), random_state=1).itertuples(
            index=False
        ):
            s = Structure.from_str(cif, fmt="cif")
            s.perturb(0.02, seed=len(probes))
            probes.append((ref_id, s))
        bucket = [coll.count_documents({"reduced_formula": p[1].composition.reduced_formula})
                  for p in probes]  # fmt: skip
        res["bucket_mean"] = statistics.mean(bucket)
        with_index, db_index = _lookup_ms(coll, probes)
        res["lookup_ms_index_median"] = statistics.median(with_index)
        res["lookup_ms_index_p95"] = float(np.percentile(with_index, 95))
        res["db_read_ms_index_median"] = statistics.median(db_index)
        res["peak_rss_mib_server_before_scan"] = _server_hwm_mib(pid)
        if args.n_scan > 0:  # SecantusDB holds a scan's documents in memory: ~27 KB each
            name = next(n for n, info in coll.index_information().items()
                        if [k for k, _ in info["key"]] == ["reduced_formula"])  # fmt: skip
            coll.drop_index(name)
            without, db_scan = _lookup_ms(coll, probes[: args.n_scan])
            res["lookup_ms_scan_median"] = statistics.median(without)
            res["scan_over_index"] = res["lookup_ms_scan_median"] / res["lookup_ms_index_median"]
            res["db_read_ms_scan_median"] = statistics.median(db_scan)
            res["db_scan_over_index"] = (
                res["db_read_ms_scan_median"] / res["db_read_ms_index_median"]
            )
        res["peak_rss_mib_bench"] = _rss_mib()
        res["peak_rss_mib_server"] = _server_hwm_mib(pid)
        stores.close()
        client.close()
    finally:
        stop_server(port, tmp)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for key, value in res.items():
            print(f"{key:28s} {value:.4g}" if isinstance(value, float) else f"{key:28s} {value}")
    return res


if __name__ == "__main__":
    main()
