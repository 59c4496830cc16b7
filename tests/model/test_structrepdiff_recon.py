"""StructRepDiff reconstruction and the ``genflow reconstruct`` command on real Perov-5 rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from genflow.cli import app
from genflow.model.data import load_dataset
from genflow.model.structrepdiff.ead import EADParams
from genflow.model.structrepdiff.evaluate import reconstruct_many, summarize
from genflow.model.structrepdiff.reconstruct import ReconSettings, match_and_rmse, reconstruct
from genflow.model.structrepdiff.representation import RepSpec, encode

# Small but real: enough for cubic 5-atom perovskites, fast on one core.
FAST = ReconSettings(trials=6, hops=4, iters=200)
PARAMS = EADParams()  # the configs' descriptor

# Rows whose global minimum FAST finds from any seed: HgSbO3 and RbVNOF reached loss < 1e-3
# (RMSE <= 0.003) for each of seeds 0-11. Not the first two test rows: about 1.5 % of trials
# find TiOsNOF's global minimum, so at FAST (and at the paper's 6 x 7 x 300) it lands in a
# nearby minimum (loss 0.01-0.04) that StructureMatcher accepts only at RMSE ~0.3-0.47, near
# stol = 0.5, or not at all: a verdict that flips with the float path (it did on jax 0.10).
ROBUST = ("HgSbO3", "RbVNOF")
# A recovered structure is the global minimum, not a nearby basin that happens to match.
RECOVERED_LOSS = 1e-3
RECOVERED_RMSE = 0.05


@pytest.fixture(scope="module")
def perov() -> list[Structure]:
    rows = {
        s.composition.reduced_formula: s for s in load_dataset("perov_5:test", limit=16).structures
    }
    return [rows[f] for f in ROBUST]


@pytest.mark.slow  # ~30-70 s on one shared core (2 x 6 trials x 800 Adam steps)
def test_reconstruct_recovers_perovskites(perov):
    spec = RepSpec.from_structures(perov, PARAMS)
    reps, _ = encode(perov, spec)
    records = reconstruct_many([(str(i), s, None) for i, s in enumerate(perov)], FAST)
    summary = summarize(records)
    assert summary["reconstructed"] == 2
    assert summary["match_rate"] == 1.0, [r.to_dict() for r in records]
    for r in records:
        assert r.structure is not None
        assert r.structure.composition == perov[int(r.key)].composition
        assert r.loss < RECOVERED_LOSS and 0.0 <= r.rmse < RECOVERED_RMSE, r.to_dict()
    # reconstruction is a pure function of (R, settings, seed)
    a = reconstruct(reps[0], spec, FAST, seed=3).structure
    b = reconstruct(reps[0], spec, FAST, seed=3).structure
    np.testing.assert_allclose(a.cart_coords, b.cart_coords)


def test_match_rejects_a_wrong_structure(perov):
    s = perov[0]
    # All atoms within 0.1 of a cell edge of one corner: no perovskite. (Uniform random
    # positions are no test: at stol 0.5 they match a 5-atom cubic cell about a third of the time.)
    wrong = Structure(s.lattice, s.species, 0.1 * np.random.default_rng(0).random((len(s), 3)))
    assert match_and_rmse(s, s)[0]
    assert match_and_rmse(s, s)[1] == pytest.approx(0.0, abs=1e-6)
    assert not match_and_rmse(s, wrong)[0]


@pytest.mark.slow
def test_reconstruct_command_reports_bad_rows(tmp_path, perov):
    good = perov[0].as_dict()
    bad = {"lattice": "nonsense"}
    alien = Structure(Lattice.cubic(3.0), ["Og"], [[0, 0, 0]]).as_dict()
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps([good, bad, alien]))
    out = tmp_path / "report.json"
    res = CliRunner().invoke(
        app,
        [
            "reconstruct",
            str(inp),
            "--out",
            str(out),
            "--trials",
            "6",
            "--hops",
            "4",
            "--iters",
            "200",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n"] == 3 and summary["reconstructed"] == 2 and summary["failed"] == 1
    rows = summary["rows"]
    assert rows[0]["match"] is True and rows[0]["rmse"] < RECOVERED_RMSE
    assert rows[0]["loss"] < RECOVERED_LOSS
    assert "malformed structure dict" in rows[1]["error"]
    assert rows[2]["error"] is None  # a lone Og atom is a valid (if odd) crystal
    report = json.loads(out.read_text())
    assert Structure.from_dict(report["rows"][0]["structure"]).composition == perov[0].composition
