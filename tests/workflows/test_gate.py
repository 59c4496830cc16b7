"""The gate: bad rows rejected with their reason, good rows through, duplicates found."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from gate_data import mp20
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from genflow.workflows.gate import GateStage, run_gate
from genflow.workflows.gate.dedupe import (
    StructureIndex,
    check_novelty,
    composition_key,
    find_duplicates,
)


def _nan_coords() -> Structure:
    s = mp20("mp-2172")
    s.replace(0, s[0].species, coords=[0.0, float("nan"), 0.0])
    return s


def _overlapping() -> Structure:
    s = mp20("mp-23703").copy()  # LiH
    s.append("H", s[0].coords + np.array([0.1, 0.0, 0.0]), coords_are_cartesian=True)
    return s


def _unknown_element_dict() -> dict:
    d = mp20("mp-1086").as_dict()
    d["sites"][0]["species"][0]["element"] = "Xx"
    return d


def _partially_occupied_cif() -> str:
    """Sr half replaced by Ba on one site: pymatgen reads it as a disordered structure (the
    gate used to crash with ``species property only supports ordered structures``)."""
    s = mp20("mp-2697")
    s.replace(0, {"Sr": 0.5, "Ba": 0.5})
    return s.to(fmt="cif")


LIF2_COORDS = [[0, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0.5]]  # LiF2: no neutral oxidation states


def _mixed_batch() -> list[tuple[str, object]]:
    good_cif = mp20("mp-1266").to(fmt="cif")
    return [
        ("good-InP", mp20("mp-20351")),
        ("bad-cif-garbage", "data_broken\n_cell_length_a 4.0\nloop_\n_atom_site_label\nX1\n"),
        ("bad-cif-truncated", good_cif[: len(good_cif) // 3]),
        ("good-Na2Se-cif", good_cif),
        ("bad-nan", _nan_coords()),
        ("bad-overlap", _overlapping()),
        ("bad-unknown-cif", mp20("mp-2697").to(fmt="cif").replace(" Sr", " Xx")),
        ("bad-unknown-dict", _unknown_element_dict()),
        ("bad-partial-cif", _partially_occupied_cif()),
        ("bad-smact", Structure(Lattice.cubic(4.0), ["Li", "F", "F"], LIF2_COORDS)),
        ("good-AlFe-dict", mp20("mp-2658").as_dict()),
        ("bad-none", None),
    ]  # fmt: skip


EXPECTED = {
    "bad-cif-garbage": (GateStage.PARSE, "malformed CIF"),
    "bad-cif-truncated": (GateStage.PARSE, "malformed CIF"),
    "bad-nan": (GateStage.VALIDITY, "NaN"),
    "bad-overlap": (GateStage.VALIDITY, "min distance"),
    "bad-unknown-cif": (GateStage.ELEMENTS, "unknown element Xx"),
    "bad-unknown-dict": (GateStage.ELEMENTS, "unknown element Xx"),
    "bad-partial-cif": (GateStage.PARSE, "partially occupied"),
    "bad-smact": (GateStage.SMACT, "charge neutral"),
    "bad-none": (GateStage.PARSE, "no structure"),
}


def test_bad_rows_rejected_with_reason_rest_pass():
    records = run_gate(_mixed_batch(), prerelax=False)
    assert [r.key for r in records] == [k for k, _ in _mixed_batch()]
    for rec in records:
        if rec.key in EXPECTED:
            stage, text = EXPECTED[rec.key]
            assert not rec.passed, rec
            assert rec.stage == stage, (rec.key, rec.stage, rec.reason)
            assert text in rec.reason, (rec.key, rec.reason)
        else:
            assert rec.passed, (rec.key, rec.stage, rec.reason)
            assert rec.valid and rec.smact_valid and rec.duplicate_of is None
    doc = records[4].gate_doc()
    assert doc["valid"] is False and "NaN" in doc["validity_reason"]


@pytest.mark.slow
def test_gate_with_chgnet_prerelax_completes_the_good_rows():
    """The same batch through the CHGNet pre-relax: bad rows stay rejected, good ones relax."""
    records = run_gate(_mixed_batch(), prerelax=True)
    passed = [r for r in records if r.passed]
    assert {r.key for r in passed} == {"good-InP", "good-Na2Se-cif", "good-AlFe-dict"}
    for rec in passed:
        assert rec.prerelax.error is None
        assert rec.prerelax.forcefield == "CHGNet"  # the MLIP registry label
        assert np.isfinite(rec.prerelax.energy_per_atom) and rec.prerelax.energy_per_atom < 0
        assert rec.structure.composition.reduced_formula == rec.formula
    assert {r.key: r.stage for r in records if not r.passed} == {
        k: str(v[0]) for k, v in EXPECTED.items()
    }


def _perturbed_supercell(s: Structure, seed: int) -> Structure:
    """Same crystal: supercell, rotated cell, shuffled and translated sites, 3% strain, noise."""
    rng = np.random.default_rng(seed)
    out = s.make_supercell([2, 1, 1], in_place=False)
    out.apply_strain(0.03)
    out.translate_sites(list(range(len(out))), rng.random(3))
    out.perturb(0.03, min_distance=0.0, seed=0)
    order = rng.permutation(len(out))
    return Structure(out.lattice, [out[i].species for i in order], out.frac_coords[order])


def test_dedupe_finds_duplicates_keeps_polymorphs():
    stored = [("old-InP-zb", mp20("mp-20351")), ("old-CuI-zb", mp20("mp-22895")),
              ("old-HgI2", mp20("mp-23173").as_dict())]  # fmt: skip
    batch = [
        ("InP-zb-copy", _perturbed_supercell(mp20("mp-20351"), 0)),
        ("InP-wz", mp20("mp-966800")),
        ("CuI-160", mp20("mp-32750")),
        ("HgI2-137", mp20("mp-23192")),
        ("AlAs", mp20("mp-2172")),
        ("AlAs-copy", _perturbed_supercell(mp20("mp-2172"), 1)),
        ("HgI2-copy", _perturbed_supercell(mp20("mp-23173"), 2)),
        ("CuI-160-copy", _perturbed_supercell(mp20("mp-32750"), 3)),
    ]
    results = {r.key: r for r in find_duplicates(batch, stored)}
    assert {k: (r.duplicate_of, r.against) for k, r in results.items() if r.is_duplicate} == {
        "InP-zb-copy": ("old-InP-zb", "stored"),
        "AlAs-copy": ("AlAs", "batch"),
        "HgI2-copy": ("old-HgI2", "stored"),
        "CuI-160-copy": ("CuI-160", "batch"),
    }
    assert not any(results[k].is_duplicate for k in ("InP-wz", "CuI-160", "HgI2-137", "AlAs"))

    # the prefilters lose nothing: plain StructureMatcher over all pairs agrees
    pool = [
        (k, s if isinstance(s, Structure) else Structure.from_dict(s)) for k, s in stored + batch
    ]
    sm = StructureMatcher()
    matched = {(a, b) for (a, sa), (b, sb) in itertools.combinations(pool, 2) if sm.fit(sa, sb)}
    assert matched == {
        ("old-InP-zb", "InP-zb-copy"),
        ("old-HgI2", "HgI2-copy"),
        ("CuI-160", "CuI-160-copy"),
        ("AlAs", "AlAs-copy"),
    }


def test_index_parses_only_buckets_it_needs():
    index = StructureIndex()
    index.add("TaC", mp20("mp-1086").as_dict())
    index.add("LiH", mp20("mp-23703").as_dict())
    assert index.find(mp20("mp-2172")) is None  # AlAs: no bucket, nothing parsed
    tac, lih = composition_key(mp20("mp-1086")), composition_key(mp20("mp-23703").as_dict())
    assert tac == (("C", 1.0), ("Ta", 1.0))
    assert index.n_fits == 0 and set(index._pending) == {tac, lih}
    assert index.find(_perturbed_supercell(mp20("mp-1086"), 5)) == "TaC"
    assert set(index._pending) == {lih}
    assert len(index) == 2


def test_novelty_against_references():
    refs = [("mp-1086", mp20("mp-1086")), ("mp-20351", mp20("mp-20351"))]
    out = check_novelty(
        [("a", _perturbed_supercell(mp20("mp-1086"), 4)), ("b", mp20("mp-966800"))], refs
    )
    assert [(r.novel, r.match) for r in out] == [(False, "mp-1086"), (True, None)]
    assert check_novelty([("a", mp20("mp-1086"))], None)[0].novel is None

    records = run_gate(
        [("a", mp20("mp-1086")), ("b", mp20("mp-23703"))], references=refs, prerelax=False
    )
    assert (records[0].passed, records[0].stage, records[0].novelty_match) == (
        False,
        "novelty",
        "mp-1086",
    )
    assert records[1].passed and records[1].novel is True


@pytest.mark.slow
def test_prescreen_rejects_far_above_hull():
    """CHGNet pre-relax, then E_d on the bundled MP-2021 hull against a threshold."""
    simple_cubic_carbon = Structure(Lattice.cubic(1.9), ["C"], [[0, 0, 0]])
    items = [("LiH", mp20("mp-23703")), ("C-sc", simple_cubic_carbon)]
    lih, carbon = run_gate(items, hull="mp2021", max_e_d=0.2)

    assert lih.passed and lih.hull == "mp2021"
    assert abs(lih.e_d) < 0.2  # MP's ground state; CHGNet lands near the hull
    # the default batched CHGNet runs on torch-sim, which counts steps per batch, not per cell
    assert lih.prerelax.converged and lih.prerelax.method == "torch-sim"
    assert not carbon.passed and carbon.stage == "prescreen"
    assert carbon.e_d > 0.5 and "E_d" in carbon.reason
