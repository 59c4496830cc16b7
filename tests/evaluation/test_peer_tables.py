"""Peers' published tables through the commands users run on them (`eval proxy`, `gate`).

CrystalFormer writes ``str(structure.as_dict())`` into a ``cif`` column; FlowMM writes CIF text
into ``relxed_structure`` beside ``formula`` and ``error_str``. Both read as published, and the
command says how many rows were unreadable and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pymatgen.core import Structure
from typer.testing import CliRunner

from genflow.cli import app
from genflow.evaluation.sets import load_set

MP20 = Path(__file__).parents[2] / "model" / "data" / "mp_20" / "test.csv.gz"


@pytest.fixture(scope="module")
def mp20_rows() -> pd.DataFrame:
    return pd.read_csv(MP20, nrows=8)


def _crystalformer(path: Path, rows: pd.DataFrame) -> Path:
    rows = rows[:4]
    cells = [str(Structure.from_str(c, fmt="cif").as_dict()) for c in rows.cif]
    cells[-1] = cells[-1][: len(cells[-1]) // 2]  # a truncated record among good ones
    pd.DataFrame({"cif": cells}).to_csv(path, index=False)
    return path


def _flowmm(path: Path, rows: pd.DataFrame) -> Path:
    rows = rows[4:].reset_index(drop=True)  # other crystals than _crystalformer's
    df = pd.DataFrame({
        "formula": rows.pretty_formula,
        "relxed_structure": [*rows.cif[:-1], None],
        "error_str": [None] * (len(rows) - 1) + ["relaxation diverged"],
    })  # fmt: skip
    df.to_csv(path)  # FlowMM keeps pandas' unnamed index column
    return path


def test_load_set_counts_unreadable_rows_with_reasons(tmp_path, mp20_rows) -> None:
    s = load_set(_crystalformer(tmp_path / "cf.csv", mp20_rows))
    assert len(s) == 4 and len(s.ok) == 3
    assert s.unreadable.n_rows == 4 and s.unreadable.n_unreadable == 1
    (key, reason), = s.unreadable.first  # fmt: skip
    assert key == "cf.csv#row-4" and reason
    assert (
        load_set(_flowmm(tmp_path / "fm.csv", mp20_rows))
        .unreadable.first[0][1]
        .endswith("relaxation diverged)")
    )
    # naming a column that holds no structures: every row says so, nothing is silently dropped
    named = load_set(tmp_path / "fm.csv", column="formula")
    assert named.unreadable.n_unreadable == len(named) == 4


def test_gate_reads_flowmm_and_crystalformer_tables(tmp_path, mp20_rows) -> None:
    cf = _crystalformer(tmp_path / "cf.csv", mp20_rows)
    fm = _flowmm(tmp_path / "fm.csv", mp20_rows)
    res = CliRunner().invoke(app, ["gate", str(cf), str(fm), "--novelty", "off", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert len(rows) == 8  # one row per table row, not one unreadable sample per file
    rejected = {r["key"]: r["reason"] for r in rows if r["verdict"] == "reject"}
    assert set(rejected) == {"cf.csv#row-4", "fm.csv#row-4"}
    assert "relaxation diverged" in rejected["fm.csv#row-4"]
    # --column names the structure column explicitly
    res = CliRunner().invoke(
        app, ["gate", str(fm), "--column", "relxed_structure", "--novelty", "off", "--json"]
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["summary"]["n_in"] == 4


def test_eval_proxy_json_carries_the_unreadable_summary(tmp_path, mp20_rows) -> None:
    cf = _crystalformer(tmp_path / "cf.csv", mp20_rows)
    res = CliRunner().invoke(
        app, ["eval", "proxy", str(cf), "--reference", "mp_20:test", "--reference-limit", "4",
              "--processes", "1", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n_samples"] == 4 and out["unreadable"]["n_unreadable"] == 1
    assert out["unreadable"]["first"][0][0] == "cf.csv#row-4"
    assert out["novelty"] == 0.0  # the three readable rows are the reference's own first rows
