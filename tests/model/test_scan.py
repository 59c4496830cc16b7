"""Chemical-system scans and the ``genflow scan`` command."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import typer
from pymatgen.core import Composition, Lattice, Structure
from smact.screening import smact_validity as smact4_validity
from typer.testing import CliRunner

from genflow.cli.scan import scan_command
from genflow.core.chem import formula, parse_chemsys
from genflow.model.scan import enumerate_compositions


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("scan")(scan_command)
    app.command("noop")(lambda: None)  # a second command keeps "scan" as a sub-command
    return app


def _reference_scan(elements, k, require_all):
    """Independent brute force: gcd reduction + SMACT 4's own validity (smact14 set).
    (pymatgen's ``reduced_composition`` is not used: it rewrites O as O2 and LiO as Li2O2.)"""
    low = 1 if require_all else 0
    vectors = [c for c in itertools.product(range(low, k + 1), repeat=len(elements)) if any(c)]
    keys = {
        frozenset((el, float(n // math.gcd(*c))) for el, n in zip(elements, c, strict=True) if n)
        for c in vectors
    }
    valid = {
        key
        for key in keys
        if smact4_validity(Composition(dict(key)), oxidation_states_set="smact14")
    }
    return len(vectors), len(keys), valid


@pytest.mark.parametrize(
    ("chemsys", "k", "require_all"),
    [("Ba-Ti-O", 4, True), ("Ba-Ti-O", 4, False), ("Li-Fe-P-O", 3, True)],
)
def test_scan_matches_brute_force(chemsys, k, require_all):
    r = enumerate_compositions(chemsys, k, require_all=require_all)
    n, distinct, valid = _reference_scan(parse_chemsys(chemsys), k, require_all)
    n_el = len(r.chemsys)
    assert r.enumerated == n == (k**n_el if require_all else (k + 1) ** n_el - 1)
    assert r.distinct == distinct
    assert {frozenset(c.get_el_amt_dict().items()) for c in r} == valid
    assert r.charge_neutral == len(valid) == len(set(r.formulas))
    if require_all:
        assert all(len(c.elements) == n_el for c in r)
    for c in r:  # stored in lowest terms
        assert math.gcd(*(int(v) for v in c.get_el_amt_dict().values())) == 1


def test_ba_ti_o_numbers():
    r = enumerate_compositions("Ba-Ti-O", 4)
    assert (r.enumerated, r.distinct, r.charge_neutral) == (64, 55, 20)
    assert "BaTiO3" in r.formulas and "Ba2TiO4" in r.formulas and "BaTi2O5" not in r.formulas


def test_formula_keeps_counts():
    assert formula(Composition("LiO")) == "LiO"  # pymatgen's reduced_formula says Li2O2
    assert formula(Composition("O")) == "O"
    assert formula(Composition("Ba1Ti1O3")) == "BaTiO3"
    assert Composition(formula(Composition("Ba3Ti4O2"))) == Composition("Ba3Ti4O2")


def test_bad_input():
    with pytest.raises(ValueError, match="unknown element Xx"):
        enumerate_compositions("Ba-Xx-O", 2)
    with pytest.raises(ValueError, match="max_coefficient"):
        enumerate_compositions("Ba-O", 0)
    assert parse_chemsys("Ba Ti,O-Ba") == ("Ba", "O", "Ti")


def test_cli_text_and_json():
    runner = CliRunner()
    out = runner.invoke(_app(), ["scan", "Ba-Ti-O", "--max-coefficient", "4"])
    assert out.exit_code == 0, out.output
    assert "enumerated 64" in out.output and "20 charge-neutral" in out.output
    out = runner.invoke(_app(), ["scan", "Ba-Ti-O", "-k", "4", "--json", "--allow-subsystems"])
    payload = json.loads(out.output)
    assert payload["enumerated"] == 124 and payload["charge_neutral"] == len(
        payload["compositions"]
    )
    assert "TiO2" in payload["compositions"]
    bad = runner.invoke(_app(), ["scan", "Ba-Q-O"], env={"COLUMNS": "200"})  # no line wrap
    assert bad.exit_code == 2 and "unknown element Q" in bad.output


class _ToyGenerator:
    """Stands in for the diffusion model: puts the composition's atoms on a simple grid, and
    refuses compositions with more than 6 atoms the way a too-small table depth L would."""

    def sample(self, n, *, composition=None, elements=None, n_atoms=None, seed=0, progress=False):
        comp = Composition(composition)
        if comp.num_atoms > 6:
            raise ValueError(f"{comp.formula}: more atoms than the generator's L")
        species = [el.symbol for el, amt in comp.items() for _ in range(int(amt))]
        coords = [[i / len(species), 0.5, 0.5] for i in range(len(species))]
        return [Structure(Lattice.cubic(3.0 * len(species)), species, coords) for _ in range(n)]


def test_cli_sample_hands_survivors_to_the_generator(monkeypatch, tmp_path):
    import genflow.model

    monkeypatch.setattr(
        genflow.model, "load_generator", lambda checkpoint=None: _ToyGenerator(), raising=False
    )
    out_file = tmp_path / "samples.json"
    res = CliRunner().invoke(
        _app(), ["scan", "Ba-Ti-O", "-k", "2", "--json", "--sample", "2", "--out", str(out_file)]
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    survivors = payload["compositions"]  # BaTiO, BaTiO2, Ba2Ti2O, BaTi2O2
    too_big = [f for f in survivors if Composition(f).num_atoms > 6]
    assert [e["composition"] for e in payload["sample_errors"]] == too_big
    samples = json.loads(out_file.read_text())
    assert payload["sampled"] == len(samples) == 2 * (len(survivors) - len(too_big))
    for row in samples:
        s = Structure.from_dict(row["structure"])
        assert s.composition == Composition(row["composition"])


@pytest.mark.slow
def test_cli_sample_with_the_bundled_generator():
    """End to end: survivors of Ba-Ti-O (K=2) sampled by the real model, exact compositions."""
    res = CliRunner().invoke(_app(), ["scan", "Ba-Ti-O", "-k", "2", "--json", "--sample", "1"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert not payload["sample_errors"]
    assert payload["sampled"] == len(payload["samples"]) == payload["charge_neutral"]
    for row in payload["samples"]:
        s = Structure.from_dict(row["structure"])
        assert s.composition == Composition(row["composition"])


@pytest.mark.slow
def test_li_p_s_cl_scan_samples_with_the_mp20_checkpoint():
    """Issue 13's path: a chemistry outside Perov-5, scanned and sampled by the full-table model."""
    res = CliRunner().invoke(
        _app(),
        ["scan", "Li-P-S-Cl", "-k", "2", "--json", "--sample", "1", "--checkpoint", "mp20"],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["charge_neutral"] == 12 and not payload["sample_errors"]
    assert payload["sampled"] == len(payload["samples"]) == 12
    for row in payload["samples"]:
        s = Structure.from_dict(row["structure"])
        assert s.composition == Composition(row["composition"])
        assert {e.symbol for e in s.composition.elements} == {"Li", "P", "S", "Cl"}


def test_scan_says_which_oxidation_states_made_each_composition_neutral():
    """BaTiO and Ba2Ti2O pass only because CDVAE's smact14 list holds Ti−1 (issue 23)."""
    r = enumerate_compositions("Ba-Ti-O", 4)
    states = dict(zip(r.formulas, r.oxidation_states, strict=True))
    assert states["BaTiO3"] == {"Ba": 2, "O": -2, "Ti": 4}  # the common states are preferred
    assert states["BaTiO"] == {"Ba": 2, "O": -1, "Ti": -1}
    assert states["Ba2Ti2O"] == {"Ba": 2, "O": -2, "Ti": -1}
    assert r.uncommon["BaTiO"] == ["Ti"] and "BaTiO3" not in r.uncommon
    common = enumerate_compositions("Ba-Ti-O", 4, oxidation_states_set="icsd24")
    assert "BaTiO3" in common.formulas
    assert "BaTiO" not in common.formulas and "Ba2Ti2O" not in common.formulas
    assert not common.uncommon

    runner = CliRunner()
    out = runner.invoke(_app(), ["scan", "Ba-Ti-O", "-k", "2"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "BaTiO        Ba+2 O-1 Ti-1  * Ti: state outside ICSD-24" in out.output
    assert "BaTiO2       Ba+2 O-2 Ti+2\n" in out.output
    payload = json.loads(runner.invoke(_app(), ["scan", "Ba-Ti-O", "-k", "2", "--json"]).output)
    assert payload["oxidation_states"]["Ba2Ti2O"] == {"Ba": 2, "O": -2, "Ti": -1}
    assert payload["oxidation_states_set"] == "smact14"
    assert payload["uncommon_states"] == {"BaTiO": ["Ti"], "Ba2Ti2O": ["Ti"], "BaTi2O2": ["Ti"]}
