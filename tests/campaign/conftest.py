"""Fixtures for campaign tests: a worker environment on the test database and rlaunch helpers.

``campaign_env`` points genflow (``GENFLOW_DB_URI``/``GENFLOW_DB_NAME``) at the ``stores``
fixture's fresh SecantusDB database, renders ``deploy/``'s LaunchPad, jobflow and fworker
templates for it with ``deploy/render_configs.sh`` (so the templates are tested too), and gives
helpers that run FireWorks' own ``rlaunch`` as separate processes, one per category.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
DEPLOY = REPO / "deploy"


@dataclass
class CampaignEnv:
    """A test database plus rendered worker configs and the environment workers need."""

    stores: object
    run_dir: Path
    env: dict[str, str]
    tmp: Path

    def rlaunch(
        self, category: str, *, mode: str = "rapidfire", extra: tuple = ()
    ) -> subprocess.Popen:
        """Start ``rlaunch -l launchpad -w fworker_<category>.yaml <mode>`` in its own process."""
        launch_dir = self.tmp / f"launch_{category}_{len(list(self.tmp.glob('launch_*')))}"
        launch_dir.mkdir()
        cmd = [
            str(Path(sys.executable).parent / "rlaunch"),
            "-l", str(self.run_dir / "my_launchpad.yaml"),
            "-w", str(self.run_dir / f"fworker_{category}.yaml"),
            "--loglvl", "INFO",
            mode, *extra,
        ]  # fmt: skip
        if mode == "rapidfire":
            # poll every second instead of 60 s while WAITING fireworks may become READY
            cmd += ["--sleep", "1"]
        log = open(launch_dir / "rlaunch.log", "wb")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            cmd, cwd=launch_dir, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def run(self, category: str, timeout: float = 240) -> None:
        """Run a rapidfire launcher for ``category`` to completion; fail with its log."""
        proc = self.rlaunch(category)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        assert rc == 0, f"rlaunch {category} exited {rc}:\n{self.last_log()}"

    def last_log(self) -> str:
        logs = sorted(self.tmp.glob("launch_*/rlaunch.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1].read_text(errors="replace")[-4000:] if logs else "(no log)"


@pytest.fixture
def campaign_env(stores, monkeypatch, tmp_path) -> CampaignEnv:
    """Worker environment on the ``stores`` test database (see the module docstring)."""
    env_vars = {
        "GENFLOW_DB_URI": stores.uri,
        "GENFLOW_DB_NAME": stores.db_name,
        "GENFLOW_DATA_DIR": str(tmp_path / "genflow-data"),
        "GENFLOW_CONFIG_FILE": str(tmp_path / "no-genflow.yaml"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",  # launcher logs reach the file as they happen
    }
    for key, value in env_vars.items():
        monkeypatch.setenv(key, value)
    run_dir = tmp_path / "run"
    subprocess.run(
        [str(DEPLOY / "render_configs.sh"), str(run_dir)],
        check=True,
        env={**os.environ, **env_vars},
        capture_output=True,
    )
    env = {**os.environ, **env_vars, "JOBFLOW_CONFIG_FILE": str(run_dir / "jobflow.yaml")}
    monkeypatch.setenv("JOBFLOW_CONFIG_FILE", str(run_dir / "jobflow.yaml"))
    return CampaignEnv(stores=stores, run_dir=run_dir, env=env, tmp=tmp_path)


def write_spec(path: Path, spec: dict) -> Path:
    """Write a spec dict as YAML and return its path."""
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def structures_spec_dict(files: list[str], name: str = "test-campaign", **overrides) -> dict:
    """A spec importing test structure files (mlip engine, CHGNet); ``overrides`` replace keys."""
    spec = {
        "name": name,
        "generator": {
            "kind": "structures",
            "batch_size": 16,
            "structures": [str(DATA / f) for f in files],
        },
        "hulls": ["mp2021"],
        "engine": "mlip",
        "gate": {"novelty": False, "prescreen": False},
        "relax": {"fmax": 0.1, "steps": 100, "force_field": "CHGNet"},  # fast, not the default
        # the hit audit (on by default) relaxes whole systems; tests of it leave this key out
        "score": {"hit_threshold": 0.1, "audit": False},
        "categories": {"generate": "gpu", "gate": "cpu", "relax": "hpc", "score": "cpu"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


@pytest.fixture
def structures_spec(tmp_path):
    """Factory: write :func:`structures_spec_dict` to a YAML file and return its path."""

    def make(files: list[str], name: str = "test-campaign", **overrides) -> Path:
        return write_spec(tmp_path / f"{name}.yaml", structures_spec_dict(files, name, **overrides))

    return make
