"""``genflow campaign run`` end to end on the embedded store with the bundled checkpoint + CHGNet.

No database URI is configured: the command starts its own SecantusDB server (the README's
embedded default) under a temporary data dir, samples with the real bundled UniMat checkpoint,
gates (with the CHGNet pre-relax), relaxes with CHGNet and scores on the bundled MP-2021 hull.
``hits`` and ``campaign status`` then read the same store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genflow.core.embedded import free_port, stop_server

pytestmark = pytest.mark.slow
QUICK = Path(__file__).resolve().parents[2] / "examples" / "quick.yaml"


def _genflow(
    args: list[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "genflow.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def embedded_env(tmp_path):
    """Environment without GENFLOW_DB_URI: genflow starts the embedded server itself."""
    port = free_port()
    data_dir = tmp_path / "genflow-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENFLOW_", "JOBFLOW_"))}
    env |= {
        "GENFLOW_DATA_DIR": str(data_dir),
        "GENFLOW_EMBEDDED_PORT": str(port),
        "GENFLOW_CONFIG_FILE": str(tmp_path / "none.yaml"),
        "OMP_NUM_THREADS": "1",
    }
    yield env
    stop_server(port, data_dir)


def test_campaign_run_bundled_checkpoint_chgnet(embedded_env, tmp_path):
    spec = yaml.safe_load(QUICK.read_text())
    # The README example, shrunk to one composition so CI stays within its budget.
    spec["name"] = "cli-quick"
    spec["generator"]["n_samples"] = 2
    spec["generator"]["seed"] = 1  # seed 1: both BaTiO3 samples of the bundled checkpoint are valid
    spec["conditioning"]["compositions"] = ["BaTiO3"]
    spec["score"]["audit"] = False  # the audit (on by default) relaxes all of Ba-Ti-O: budget
    path = tmp_path / "quick-small.yaml"
    path.write_text(yaml.safe_dump(spec))

    run = _genflow(["campaign", "run", str(path), "--json"], embedded_env)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["campaign"] == "cli-quick" and not report["failed_jobs"]
    counts = report["counts"]
    assert sum(counts.values()) == 2 and counts["generated"] == 0  # every sample decided
    assert counts["scored"] >= 1, report["failures"]  # exact-composition samples mostly valid

    hits = _genflow(["hits", "--campaign", "cli-quick", "--max-ed", "10", "--json"], embedded_env)
    assert hits.returncode == 0, hits.stderr[-2000:]
    rows = json.loads(hits.stdout)
    assert len(rows) == counts["scored"]
    assert all(r["reduced_formula"] == "BaTiO3" and r["engine"] == "mlip" for r in rows)
    assert all(r["model_name"] == "unimat" and len(r["checkpoint_hash"]) >= 16 for r in rows)
    assert rows == sorted(rows, key=lambda r: r["e_d"])
    assert all(r["seed"] is not None and r["sample_index"] in (0, 1) for r in rows)
    assert all(r["conditioning"] == {"composition": "BaTiO3"} for r in rows)

    # provenance all the way: the hit's chain ends at checkpoint, seed, index, condition
    trace = _genflow(["trace", rows[0]["candidate_id"], "--json"], embedded_env)
    assert trace.returncode == 0, trace.stderr[-2000:]
    chain = json.loads(trace.stdout)
    assert chain["relax"]["task_found"] and chain["gate"]["novel"] is True
    gen = chain["generator"]
    assert (gen["seed"], gen["sample_index"]) == (rows[0]["seed"], rows[0]["sample_index"])
    assert gen["checkpoint_hash"] == rows[0]["checkpoint_hash"]
    text = _genflow(["trace", rows[0]["candidate_id"]], embedded_env).stdout
    assert f"seed {gen['seed']} index {gen['sample_index']}" in text and "BaTiO3" in text

    cif_dir = tmp_path / "cifs"
    cifs = _genflow(
        ["hits", "--campaign", "cli-quick", "--max-ed", "10", "--cif", str(cif_dir)], embedded_env
    )
    assert cifs.returncode == 0 and len(list(cif_dir.glob("BaTiO3_*.cif"))) == len(rows)

    status = _genflow(["campaign", "status", "cli-quick", "--json"], embedded_env)
    assert status.returncode == 0, status.stderr[-2000:]
    state = json.loads(status.stdout)
    assert state["state"] == "completed" and state["counts"] == counts
    assert state["stages"]["relaxed"] == counts["scored"]
    assert state["throughput"]["scored_per_hour"] > 0

    again = _genflow(["campaign", "run", str(path), "--json"], embedded_env)
    assert again.returncode == 0 and json.loads(again.stdout)["already_completed"]
