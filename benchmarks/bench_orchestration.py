"""Benchmark what a campaign spends around the physics: orchestration cost per candidate.

Runs a campaign spec (default ``examples/quick.yaml``, the README's demo) in this process
with ``genflow.campaign.runner.run_campaign`` against the configured database (the embedded
SecantusDB unless ``GENFLOW_DB_URI`` is set), under a fresh campaign name, and splits its wall
time into

- **generation**: the generator's ``sample_rows`` (the UniMat sampler, JAX);
- **physics**: every MLIP relax or static — the gate's pre-relax (``prerelax_structures``)
  and each atomate2 ASE run (``AseRelaxMaker.run_ase``: relax and static jobs);
- **hull scoring**: ``ReferenceHull.score`` (pre-screen and final scores);
- **orchestration**: the rest — database round trips, flow and job creation, jobflow's
  ``run_locally`` bookkeeping (resolving references, storing outputs), gate checks and
  dedupe, candidate documents.

Database round trips are counted and timed with a pymongo ``CommandListener`` (registered
before the client exists); flow creation (``build_flows``) is timed on its own. Model loads
are counted (``CHGNet.load``, SevenNet's ``load_checkpoint``): each model should load once.
Prints orchestration seconds per candidate and the orchestration : physics ratio.

Usage: ``python benchmarks/bench_orchestration.py [--spec examples/quick.yaml] [--json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
# A fresh database per run: in a database that already holds an earlier demo's candidates the
# gate rejects every new sample as a duplicate of a stored one and no physics runs at all.
os.environ.setdefault("GENFLOW_DB_NAME", f"bench_orchestration_{os.getpid()}_{int(time.time())}")

import pymongo.monitoring

REPO = Path(__file__).resolve().parents[1]


class Timers:
    """Wall seconds and call counts per category, from any thread."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._depth = threading.local()

    def wrap(self, category: str, fn: Any) -> Any:
        """``fn`` timed under ``category`` (nested calls of one category count once)."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, category, 0)
            setattr(self._depth, category, depth + 1)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                setattr(self._depth, category, depth)
                if depth == 0:
                    with self._lock:
                        self.seconds[category] += time.perf_counter() - t0
                        self.calls[category] += 1

        return timed


class RoundTrips(pymongo.monitoring.CommandListener):
    """Every database command: count and server round-trip time."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.by_command: dict[str, int] = defaultdict(int)

    def started(self, event: pymongo.monitoring.CommandStartedEvent) -> None:
        self.by_command[event.command_name] += 1

    def succeeded(self, event: pymongo.monitoring.CommandSucceededEvent) -> None:
        self.count += 1
        self.seconds += event.duration_micros / 1e6

    def failed(self, event: pymongo.monitoring.CommandFailedEvent) -> None:
        self.count += 1
        self.seconds += event.duration_micros / 1e6


def instrument(timers: Timers) -> None:
    """Patch the physics, generation, scoring, flow-building and model-loading entry points."""
    import chgnet.model
    import sevenn.util
    from atomate2.ase.jobs import AseRelaxMaker

    import genflow.campaign.runner as runner
    import genflow.workflows.gate.prerelax as prerelax
    import genflow.workflows.generate as generate
    from genflow.hull.reference import ReferenceHull

    prerelax.prerelax_structures = timers.wrap("physics", prerelax.prerelax_structures)
    AseRelaxMaker.run_ase = timers.wrap("physics", AseRelaxMaker.run_ase)
    ReferenceHull.score = timers.wrap("hull scoring", ReferenceHull.score)
    runner.build_flows = timers.wrap("flow creation", runner.build_flows)
    chgnet.model.CHGNet.load = timers.wrap("load CHGNet", chgnet.model.CHGNet.load)
    sevenn.util.load_checkpoint = timers.wrap("load SevenNet", sevenn.util.load_checkpoint)
    make = generate._generator

    def generator(*args: Any) -> Any:
        gen = make(*args)
        if not getattr(gen, "_bench_timed", False):
            gen.sample_rows = timers.wrap("generation", gen.sample_rows)
            gen._bench_timed = True
        return gen

    generate._generator = generator


def run(spec_path: Path) -> dict[str, Any]:
    """Run the spec once, instrumented; the measured split as a dict."""
    trips = RoundTrips()
    pymongo.monitoring.register(trips)  # before any client is created
    timers = Timers()
    instrument(timers)

    from genflow.campaign.runner import run_campaign
    from genflow.campaign.spec import load_spec
    from genflow.core.store import connect

    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    stores = connect()
    t_connect = time.perf_counter() - t0
    spec = load_spec(spec_path)
    name = f"{spec.name}-orch-{int(time.time())}"
    t0 = time.perf_counter()
    result = run_campaign(spec, name=name, stores=stores)
    total = time.perf_counter() - t0
    n = stores.candidates.count_documents({"campaign": name})
    s = dict(timers.seconds)
    physics = s.get("physics", 0.0)
    measured = physics + s.get("generation", 0.0) + s.get("hull scoring", 0.0)
    orchestration = total - measured
    return {
        "spec": str(spec_path),
        "campaign": name,
        "candidates": n,
        "wall_seconds": round(total, 2),
        "connect_seconds": round(t_connect, 2),
        "seconds": {k: round(v, 2) for k, v in s.items()},
        "calls": dict(timers.calls),
        "db_round_trips": trips.count,
        "db_seconds": round(trips.seconds, 2),
        "db_commands": dict(trips.by_command),
        "orchestration_seconds": round(orchestration, 2),
        "orchestration_per_candidate_s": round(orchestration / max(n, 1), 3),
        "physics_per_candidate_s": round(physics / max(n, 1), 3),
        "db_round_trips_per_candidate": round(trips.count / max(n, 1), 1),
        "orchestration_to_physics": round(orchestration / physics, 3) if physics else None,
        "failed_jobs": len(result.failed_jobs),
        "load_average": [load_start, os.getloadavg()[0]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=REPO / "examples" / "quick.yaml")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with contextlib.redirect_stdout(sys.stderr):  # model banners: stdout may be --json
        d = run(args.spec)
    if args.json:
        print(json.dumps(d, indent=2))
        return
    s = d["seconds"]
    print(f"{d['spec']}: {d['candidates']} candidates in {d['wall_seconds']} s "
          f"(load average {d['load_average'][0]:.1f} -> {d['load_average'][1]:.1f}, "
          f"{os.cpu_count()} cores; connect {d['connect_seconds']} s before)")  # fmt: skip
    print("  " + ", ".join(f"{k} {v} s ({d['calls'][k]} calls)" for k, v in sorted(s.items())))
    print(f"  orchestration {d['orchestration_seconds']} s = "
          f"{d['orchestration_per_candidate_s']} s/candidate "
          f"({d['db_round_trips_per_candidate']} database round trips/candidate, "
          f"{d['db_seconds']} s in the database for {d['db_round_trips']} commands); physics "
          f"{d['physics_per_candidate_s']} s/candidate; orchestration : physics = "
          f"{d['orchestration_to_physics']}")  # fmt: skip


if __name__ == "__main__":
    main()
