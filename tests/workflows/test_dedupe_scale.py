"""Dedupe at scale keeps StructureMatcher's answers: exact shortcuts, identical cells, workers."""

from __future__ import annotations

import numpy as np
import pytest
from gate_data import mp20
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from genflow.workflows.gate.dedupe import StructureIndex, find_duplicates
from genflow.workflows.gate.fingerprint import _no_lattice_translation, fingerprint, reduced_cell
from genflow.workflows.gate.records import GateStage
from genflow.workflows.gate.run import run_gate

IDS = ["mp-20351", "mp-966800", "mp-22895", "mp-32750", "mp-23173", "mp-23192", "mp-2172",
       "mp-1086", "mp-23703", "mp-2658", "mp-1266"]  # fmt: skip


def _same(a: Structure, b: Structure) -> bool:
    return (
        np.array_equal(a.lattice.matrix, b.lattice.matrix)
        and np.array_equal(a.frac_coords, b.frac_coords)
        and [s.species for s in a] == [s.species for s in b]
    )


def test_reduced_cell_is_pymatgens_reduction_bit_for_bit():
    """Both shortcuts (gcd 1; no lattice translation) return exactly pymatgen's reduction."""
    rng = np.random.default_rng(0)
    gcd_one = no_translation = 0
    for mid in IDS:
        s = mp20(mid)
        for variant in (s, s.make_supercell([1, 2, 1], in_place=False)):
            variant.perturb(0.03, min_distance=0.0, seed=int(rng.integers(1000)))
            ref = variant.get_reduced_structure("niggli").get_primitive_structure()
            assert _same(reduced_cell(variant), ref), mid
            counts = variant.composition.values()
            gcd = np.gcd.reduce([int(c) for c in counts])
            gcd_one += int(gcd == 1)
            skipped = _no_lattice_translation(variant.get_reduced_structure("niggli"), 0.25)
            no_translation += int(skipped and gcd > 1)
            assert not (skipped and len(ref) < len(variant))  # never when a smaller cell exists
    assert gcd_one >= 3 and no_translation >= 3  # every path is exercised


class _CountingMatcher(StructureMatcher):
    """pymatgen's matcher, counting the fits it is asked for."""

    calls = 0

    def fit(self, *args, **kwargs) -> bool:  # type: ignore[override]
        type(self).calls += 1
        return super().fit(*args, **kwargs)


def test_identical_stored_cells_are_fitted_once():
    """A query that fails one stored cell skips its identical copies, and still finds a match."""
    x = mp20("mp-23173")  # HgI2, species counts with gcd 1: perturbing keeps the cell size
    query = x.copy()
    query.perturb(1.2, min_distance=1.0, seed=4)
    assert not StructureMatcher().fit(query, x)  # a true non-duplicate of x
    twin = query.copy()
    twin.apply_strain(0.004)  # the same crystal, rescaled: a duplicate of the query
    fp = fingerprint(x)
    rows = [(f"x{i}", x.as_dict(), fp) for i in range(3)] + [("twin", twin.as_dict())]
    _CountingMatcher.calls = 0
    index = StructureIndex(_CountingMatcher(), amd_tol=None)  # every pair reaches a fit
    index.add_many(rows)
    assert index.find(query) == "twin"
    assert (index.n_fits, index.n_same_cell, _CountingMatcher.calls) == (2, 2, 2)


def _jittered(s: Structure, seed: int) -> Structure:
    out = s.make_supercell([2, 1, 1], in_place=False) if seed % 2 else s.copy()
    out.apply_strain(0.01 * (seed % 3))
    out.perturb(0.03, min_distance=0.0, seed=seed)
    return out


@pytest.mark.slow
def test_workers_give_the_serial_answers_and_fingerprints():
    """The stored-row search in two forked processes answers as the serial one, row by row."""
    stored = [(k, mp20(k).as_dict(), fingerprint(mp20(k))) for k in IDS[:8]]
    batch = [(f"copy-{k}-{i}", _jittered(mp20(k), i)) for i, k in enumerate(IDS)]
    batch += [("twin", _jittered(mp20(IDS[9]), 7))]  # repeats a batch row, not a stored one
    batch += [("LiH", Structure(Lattice.cubic(4.0), ["Li", "H"], [[0, 0, 0], [0.5] * 3]))]
    serial = find_duplicates(batch, stored, fingerprints=True)
    parallel = find_duplicates(batch, stored, fingerprints=True, workers=2)
    assert parallel == serial
    assert {r.against for r in serial} == {"stored", "batch", None}
    assert all(r.fingerprint is not None for r in parallel)
    # the gate's knob reaches the search: the same records either way
    gated = [run_gate(batch, stored=stored, prerelax=False, smact=False, dedupe_workers=w)
             for w in (1, 2)]  # fmt: skip
    assert gated[0] == gated[1]
    assert sum(r.stage == GateStage.DUPLICATE for r in gated[1]) >= 8


def test_spec_dedupe_workers_reach_the_gate_maker():
    from genflow.campaign.flows import campaign_maker
    from genflow.campaign.spec import CampaignSpec

    spec = CampaignSpec.model_validate({"name": "w", "gate": {"dedupe_workers": 2}})
    assert campaign_maker(spec).gate_maker.dedupe_workers == 2
    assert CampaignSpec.model_validate({"name": "w"}).gate.dedupe_workers == 1
