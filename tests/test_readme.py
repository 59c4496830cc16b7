"""The README runs as written: every ``genflow …`` line of its code blocks, in order.

The commands run in a scratch directory holding the repository's ``examples/`` (so every file
a command names is in the repository or made by a line above it) against a test database
(the ``mongo_uri`` fixture: ``GENFLOW_DB_URI``), in one process through the Typer app, so
JAX loads once. Long commands run as a small variant (:data:`VARIANTS`: fewer samples and
steps, a reference split's first rows); the few that need what a test machine lacks are in
:data:`SKIPPED` with the reason. A README line in neither table runs as written, and a
variant or skip that no longer matches a README line fails the fast test: the tables follow
the README.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
STEPS = "--steps 2"  # a two-step reverse process: the command runs, the samples are noise

#: README line → the small variant the test runs instead ({hit}: an id from `genflow hits`)
VARIANTS = {
    "genflow sample --n 100 --out samples.extxyz": (
        f"genflow sample --n 2 {STEPS} --out samples.extxyz"
    ),
    "genflow sample --composition SrTiO3 --n 10 --out srtio3/": (
        f"genflow sample --composition SrTiO3 --n 2 {STEPS} --out srtio3/"
    ),
    'genflow sample --elements "Ba Ti O" --n-atoms 5 --n 3 --out bto.json': (
        f'genflow sample --elements "Ba Ti O" --n-atoms 5 --n 2 {STEPS} --out bto.json'
    ),
    "genflow sample --n 4 --json > samples.json": (
        f"genflow sample --n 2 {STEPS} --json > samples.json"
    ),
    "genflow reconstruct examples/perov5_test_4.extxyz --out recon.json --trials 6 --hops 7 "
    "--iters 300 --json": (
        "genflow reconstruct examples/perov5_test_4.extxyz --out recon.json --trials 1 --hops 1 "
        "--iters 5 --json"
    ),
    "genflow sample --checkpoint carbon24 --n 8": (
        f"genflow sample --checkpoint carbon24 --n 2 {STEPS}"
    ),
    "genflow campaign run examples/quick.yaml": "genflow campaign run quick-small.yaml",
    "genflow trace gf-1a2b3c...": "genflow trace {hit}",
    "genflow eval proxy samples.extxyz --reference perov_5:test --json": (
        "genflow eval proxy samples.extxyz --reference perov_5:test --reference-limit 10 --json"
    ),
    "genflow eval proxy samples.extxyz --reference perov_5:test --energies mlip:CHGNet --hull "
    "mp2021": (
        "genflow eval proxy samples.extxyz --reference perov_5:test --reference-limit 10 "
        "--energies mlip:CHGNet --hull mp2021"
    ),
    "genflow baseline random --composition SrTiO3 --composition NaCl --n 20 --out rs.extxyz": (
        "genflow baseline random --composition SrTiO3 --composition NaCl --n 2 --out rs.extxyz"
    ),
    "genflow report quick examples/energies_b.csv mp_20:test --out report/": (
        "genflow report quick examples/energies_b.csv --out report/"
    ),
    "genflow eval proxy perov_5:test --limit 200 --reference perov_5:test --reference-limit 200 "
    "--energies mlip:CHGNet --json": (
        "genflow eval proxy perov_5:test --limit 4 --reference perov_5:test --reference-limit 4 "
        "--energies mlip:CHGNet --json"
    ),
    "genflow sample --checkpoint perov5 --n 100 --seed 0 --out unimat.extxyz": (
        f"genflow sample --checkpoint perov5 --n 2 {STEPS} --seed 0 --out unimat.extxyz"
    ),
    "genflow eval proxy unimat.extxyz --reference perov_5:test --reference-limit 200 --energies "
    "mlip:CHGNet": (
        "genflow eval proxy unimat.extxyz --reference perov_5:test --reference-limit 4 "
        "--energies mlip:CHGNet"
    ),
    "genflow baseline random --composition TiOsNOF ... --composition KSrN2O --n 5 --out "
    "airss.extxyz": (
        "genflow baseline random --composition TiOsNOF --composition KSrN2O --n 1 --out "
        "airss.extxyz"
    ),
    "genflow eval proxy airss.extxyz --reference perov_5:test --reference-limit 200 --energies "
    "mlip:CHGNet --json": (
        "genflow eval proxy airss.extxyz --reference perov_5:test --reference-limit 4 "
        "--energies mlip:CHGNet --json"
    ),
}

#: README line → why the test does not run it
SKIPPED = {
    "genflow sample --checkpoint structrepdiff-perov5 --composition SrTiO3 --n 2 --steps 200": (
        "StructRepDiff's EAD reconstruction (6 x 7 x 300 descents a sample) adds ~30 s even at "
        "--steps 2; tests/model/test_structrepdiff_*.py cover it"
    ),
    "genflow train perov5:runlocal --workdir runs/perov5": (
        "hours of training; tests/model/test_cli_model.py trains perov5:tiny for 2 steps"
    ),
    "genflow refs add gnome_by_id.zip --source gnome": (
        "GNoME's by_id.zip is a download of several hundred MB; "
        "tests/workflows/test_novelty.py runs refs add on small files"
    ),
}


def readme_commands(text: str | None = None) -> list[str]:
    """Every ``genflow …`` command of the README's shell code blocks, in order, comments and
    line continuations resolved."""
    text = README.read_text() if text is None else text
    commands, lang, block = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if lang is None:  # an opening fence
                lang, block = line[3:].strip(), []
                continue
            if lang in ("bash", "sh", "shell", ""):
                for joined in "\n".join(block).replace("\\\n", " ").splitlines():
                    command = re.split(r"\s+#", joined, maxsplit=1)[0].strip()
                    if command.startswith("genflow "):
                        commands.append(" ".join(command.split()))
            lang = None
        elif lang is not None:
            block.append(line)
    return commands


def test_every_readme_command_runs_or_says_why_not():
    commands = readme_commands()
    assert len(commands) > 30
    stale = (set(VARIANTS) | set(SKIPPED)) - set(commands)
    assert not stale, f"variants/skips for lines no longer in the README: {stale}"
    assert not set(VARIANTS) & set(SKIPPED)


def test_files_the_readme_names_exist():
    """Inputs under examples/ and bundled data are in the repository."""
    named = {w for c in readme_commands() for w in shlex.split(c) if w.startswith("examples/")}
    assert named and all((REPO / w).exists() for w in named), sorted(named)


def _quick_small(path: Path) -> None:
    """examples/quick.yaml shrunk: one composition, one sample, as tests/campaign do."""
    import yaml

    spec = yaml.safe_load((REPO / "examples" / "quick.yaml").read_text())
    spec["generator"].update(n_samples=1, seed=1)  # seed 1: a valid BaTiO3 (test_cli_run)
    spec["conditioning"]["compositions"] = ["BaTiO3"]
    path.write_text(yaml.safe_dump(spec))


@pytest.mark.slow
def test_readme_commands_run(mongo_uri, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from genflow.cli import app

    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(REPO / "examples")
    _quick_small(work / "quick-small.yaml")
    db_name = f"t_{uuid.uuid4().hex[:12]}"
    for key, value in {
        "GENFLOW_DB_URI": mongo_uri,
        "GENFLOW_DB_NAME": db_name,
        "GENFLOW_DATA_DIR": str(tmp_path / "data"),
        "GENFLOW_CONFIG_FILE": str(tmp_path / "none.yaml"),
        "OMP_NUM_THREADS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(work)
    runner = CliRunner()
    ran = []
    hit = None
    try:
        for line in readme_commands():
            if line in SKIPPED:
                continue
            command = VARIANTS.get(line, line)
            if "{hit}" in command:
                command = command.format(hit=hit)
            args = shlex.split(command)[1:]
            redirect = None
            if ">" in args:
                redirect = work / args[args.index(">") + 1]
                args = args[: args.index(">")]
            result = runner.invoke(app, args, catch_exceptions=False)
            assert result.exit_code == 0, f"{command}\n{result.output[-3000:]}"
            if redirect is not None:
                redirect.write_text(result.stdout)
            if args[:1] == ["campaign"] and args[1:2] == ["run"]:
                found = runner.invoke(app, ["hits", "--campaign", "quick", "--max-ed", "10",
                                            "--json"])  # fmt: skip
                hit = json.loads(found.stdout)[0]["candidate_id"]
            ran.append(command)
    finally:
        from pymongo import MongoClient

        MongoClient(mongo_uri).drop_database(db_name)
    assert len(ran) == len(readme_commands()) - len(SKIPPED)
    assert json.loads((work / "samples.json").read_text())["structures"]
    assert (work / "report" / "report.html").is_file() and (work / "gate.json").is_file()
