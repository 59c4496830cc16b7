"""deploy/: templates hold no secrets, render privately, and load in FireWorks and jobflow."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRET_URI = "mongodb://genflow:s3cret@db.example.org:27017/?authSource=admin&tls=true"


def _render(out: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GENFLOW_")}
    return subprocess.run(
        [str(DEPLOY / "render_configs.sh"), str(out)],
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def test_templates_have_no_secrets_and_render_privately(tmp_path):
    for path in DEPLOY.glob("*.yaml"):
        code = "\n".join(
            ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#")
        )
        assert "mongodb://" not in code and "password" not in code.lower(), path
    for name in ("my_launchpad.yaml", "jobflow.yaml"):
        assert "${GENFLOW_DB_URI}" in (DEPLOY / name).read_text()
    out = tmp_path / "run"
    done = _render(out, GENFLOW_DB_URI=SECRET_URI, GENFLOW_DB_NAME="prod")
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "fworker_cpu.yaml",
        "fworker_gpu.yaml",
        "fworker_hpc.yaml",
        "fworker_tpu.yaml",
        "jobflow.yaml",
        "my_launchpad.yaml",
    ]
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(out.stat().st_mode) == 0o700

    from fireworks import FWorker, LaunchPad
    from jobflow import JobStore

    lpad = LaunchPad.from_file(str(out / "my_launchpad.yaml"))
    assert lpad.host == SECRET_URI and lpad.name == "prod" and lpad.uri_mode
    store_spec = yaml.safe_load((out / "jobflow.yaml").read_text())["JOB_STORE"]
    store = JobStore.from_dict_spec(store_spec)
    assert store.docs_store.collection_name == "outputs"
    assert store.additional_stores["data"].collection_name == "outputs_blobs"
    # Campaign jobs find the candidate database through the "genflow" store.
    from genflow.core.store import GenflowStores

    jobs_view = GenflowStores.from_job_store(store)
    assert (jobs_view.uri, jobs_view.db_name) == (SECRET_URI, "prod")
    jobs_view.close()
    for category in ("tpu", "gpu", "hpc", "cpu"):
        worker = FWorker.from_file(str(out / f"fworker_{category}.yaml"))
        assert worker.category == category
        assert worker.query["spec._category"] == category


def test_unset_variable_is_an_error_naming_it(tmp_path):
    done = _render(tmp_path / "run", GENFLOW_DB_URI="mongodb://localhost")
    assert done.returncode != 0
    assert "environment variable GENFLOW_DB_NAME is not set" in done.stderr


def test_jobflow_template_matches_genflow_store(stores, tmp_path):
    """Workers' JobStore (rendered template) names the same collections as genflow.core.store."""
    out = tmp_path / "run"
    assert _render(out, GENFLOW_DB_URI=stores.uri, GENFLOW_DB_NAME=stores.db_name).returncode == 0
    from jobflow import JobStore

    spec = yaml.safe_load((out / "jobflow.yaml").read_text())["JOB_STORE"]
    worker, ours = JobStore.from_dict_spec(spec), stores.make_job_store()
    assert worker.docs_store.collection_name == ours.docs_store.collection_name
    assert worker.docs_store.database == ours.docs_store.database
    assert set(worker.additional_stores) == set(ours.additional_stores) == {"data", "genflow"}
    for key in ("data", "genflow"):
        mine, theirs = worker.additional_stores[key], ours.additional_stores[key]
        assert (mine.collection_name, mine.database) == (theirs.collection_name, theirs.database)
