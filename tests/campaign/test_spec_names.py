"""Names and specs are checked at load (issue 22): a name is never a path, every name resolves.

Probes: ``campaign run --name ../../x`` (used to write outside ``GENFLOW_DATA_DIR``), a
300-character name (a traceback), ``hulls: [nosuchhull]`` (accepted, never scored, campaign
"completed"), unknown checkpoints and MLIPs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from genflow.campaign.runner import run_dir
from genflow.campaign.spec import CampaignSpecError, check_campaign_name, load_spec

GENFLOW = [sys.executable, "-m", "genflow.cli"]
DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["ok", "nightly-2026-01-02", "a.b_c-1", "x" * 128])
def test_safe_names_pass(name):
    assert check_campaign_name(name) == name


@pytest.mark.parametrize("name", ["../../x", "/abs", "a/b", ".hidden", "", "x" * 129, "a b"])
def test_unsafe_names_name_the_field(name):
    with pytest.raises(CampaignSpecError, match=r"^--name: .* is not a campaign name"):
        check_campaign_name(name, "--name")


def test_run_dir_refuses_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv("GENFLOW_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(CampaignSpecError):
        run_dir("../../escaped")
    assert not (tmp_path / "escaped").exists()
    assert run_dir("fine").parent == tmp_path / "data" / "runs"


@pytest.mark.parametrize("name", ["../../x", "y" * 300])
def test_cli_run_with_bad_name_exits_2_and_writes_nothing(tmp_path, name):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"name: s\ngenerator: {{kind: structures, structures: [{DATA / 'NaCl.cif'}]}}\n"
    )
    env = {
        "GENFLOW_DATA_DIR": str(tmp_path / "data" / "d"),
        "GENFLOW_DB_URI": "mongodb://127.0.0.1:9/never",  # must not be reached
        "GENFLOW_CONFIG_FILE": str(tmp_path / "none.yaml"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [*GENFLOW, "campaign", "run", str(spec), "--name", name],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--name:" in proc.stderr and "is not a campaign name" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["s.yaml"]


def _spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text("name: probe\n" + body)
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("hulls: [nosuchhull]\n", "hulls: unknown hull 'nosuchhull'"),
        ("hulls: [mp2021, gnome]\n", "hulls: hull 'gnome' needs GENFLOW_GNOME_SUMMARY_PATH"),
        ("hulls: ['mp-api:Li-Qq']\n", "hulls: hull 'mp-api:Li-Qq': chemical system 'Li-Qq'"),
        ("hulls: ['mp-api:Li-O']\n", "hulls: hull 'mp-api:Li-O' needs GENFLOW_MP_API_KEY"),
        ("engine: cp2k\n", "engine: Input should be"),
        ("generator: {checkpoint: nosuchckpt}\n", "generator.checkpoint: unknown checkpoint"),
        ("relax: {force_field: NoSuchFF}\n", "relax.force_field: unknown MLIP 'NoSuchFF'"),
        ("score: {force_field: NoSuchFF}\n", "score.force_field: unknown MLIP 'NoSuchFF'"),
        ("gate: {prerelax: {model: Nope}}\n", "gate.prerelax.model: unknown MLIP 'Nope'"),
        ("gate: {novelty: maybe}\n", "gate.novelty: Input should be"),
        ("bogus: 1\n", "bogus: Extra inputs are not permitted"),
        ("relax: {fmaxx: 0.1}\n", "relax.fmaxx: Extra inputs are not permitted"),
    ],
)
def test_every_name_a_spec_uses_resolves_at_load(tmp_path, monkeypatch, body, expected):
    monkeypatch.delenv("GENFLOW_GNOME_SUMMARY_PATH", raising=False)
    monkeypatch.delenv("GENFLOW_MP_API_KEY", raising=False)
    monkeypatch.setenv("GENFLOW_CONFIG_FILE", str(tmp_path / "none.yaml"))
    with pytest.raises(CampaignSpecError) as info:
        load_spec(_spec(tmp_path, body))
    assert f"spec.yaml: {expected}" in str(info.value)


def test_hull_file_and_configured_gnome_resolve(tmp_path, monkeypatch):
    table = tmp_path / "refs.csv"
    table.write_text("composition,energy_per_atom\nNa,-1.3\nCl,-1.8\nNaCl,-3.4\n")
    summary = tmp_path / "gnome.csv"
    summary.write_text("Composition,NSites,Corrected Energy\n")
    monkeypatch.setenv("GENFLOW_GNOME_SUMMARY_PATH", str(summary))
    spec = load_spec(_spec(tmp_path, f"hulls: [mp2021, gnome, {table}]\n"))
    assert spec.hulls == ("mp2021", "gnome", str(table))


def test_bad_hull_fails_in_the_cli_before_the_database(tmp_path):
    path = _spec(tmp_path, "hulls: [nosuchhull]\n")
    env = {
        "GENFLOW_DATA_DIR": str(tmp_path / "data"),
        "GENFLOW_DB_URI": "mongodb://127.0.0.1:9/never",
        "GENFLOW_CONFIG_FILE": str(tmp_path / "none.yaml"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [*GENFLOW, "campaign", "run", str(path)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "hulls: unknown hull 'nosuchhull'" in proc.stderr
