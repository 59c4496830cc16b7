"""``match_kernel.fit_prepared`` gives pymatgen's ``StructureMatcher.fit`` verdict, pair by pair."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import (
    ElementComparator,
    FrameworkComparator,
    StructureMatcher,
)
from pymatgen.core import Structure

from genflow.model.data import load_dataset
from genflow.workflows.gate.dedupe import StructureIndex, composition_key
from genflow.workflows.gate.fingerprint import cell_from_doc, fingerprint, reduced_cell
from genflow.workflows.gate.match_kernel import (
    fit_prepared,
    kernel_applies,
    prepare,
    prepare_doc,
)


def _structures(name: str, n: int) -> list[Structure]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(load_dataset(name, limit=n).structures)


@pytest.fixture(scope="module")
def cells() -> list[Structure]:
    """Real crystals, their strained/rattled copies and relabelled twins, as reduced cells.

    Carbon-24 gives many different crystals of one composition (true negatives of every
    kind, high-symmetry cells with many lattice mappings); the copies give true positives.
    """
    rng = np.random.default_rng(3)
    out = []
    for s in _structures("carbon_24", 120) + _structures("perov_5", 40):
        out.append(s)
        for amp in (0.02, 0.12):
            c = s.copy()
            c.apply_strain(float(rng.uniform(-0.03, 0.03)))
            c.perturb(amp, min_distance=0.0, seed=int(rng.integers(1 << 30)))
            out.append(c)
    return [reduced_cell(s) for s in out]


def _same_bucket_pairs(cells: list[Structure], per_bucket: int, seed: int) -> list[tuple]:
    buckets: dict[tuple, list[Structure]] = {}
    for c in cells:
        buckets.setdefault((composition_key(c), len(c)), []).append(c)
    rng = np.random.default_rng(seed)
    pairs = []
    for members in buckets.values():
        combos = list(itertools.permutations(range(len(members)), 2))
        for i in rng.permutation(len(combos))[:per_bucket]:
            a, b = combos[int(i)]
            pairs.append((members[a], members[b]))
    return pairs


def test_kernel_verdicts_equal_structure_matcher_fit(cells):
    """Same verdict as ``fit(..., skip_structure_reduction=True)`` on ~1,000 same-bucket pairs."""
    sm = StructureMatcher()
    assert kernel_applies(sm)
    pairs = _same_bucket_pairs(cells, per_bucket=60, seed=0)
    ref = [sm.fit(a, b, skip_structure_reduction=True) for a, b in pairs]
    got = [fit_prepared(sm, prepare(a), prepare(b)) for a, b in pairs]
    assert sum(ref) >= 100 and len(ref) - sum(ref) >= 300  # both verdicts well exercised
    assert got == ref


def test_kernel_on_unreduced_inputs_matches_a_plain_fit(cells):
    """On the reduced cells of raw structures, the verdict is a plain ``fit`` on the raw ones."""
    sm = StructureMatcher()
    raw = _structures("perov_5", 12)
    rng = np.random.default_rng(5)
    copies = []
    for s in raw:
        c = s.make_supercell([1, 1, 2], in_place=False)  # reduced back by the primitive step
        c.perturb(0.05, min_distance=0.0, seed=int(rng.integers(1000)))
        copies.append(c)
    checked = 0
    for a, b in itertools.product(raw, copies):
        if composition_key(a) != composition_key(b):
            continue
        ra, rb = reduced_cell(a), reduced_cell(b)
        if len(ra) != len(rb):
            continue
        assert fit_prepared(sm, prepare(ra), prepare(rb)) == sm.fit(a, b)
        checked += 1
    assert checked >= 12


def test_outside_its_scope_the_kernel_steps_aside():
    """Oxidation states, partial occupancy and non-default matchers go to pymatgen's fit."""
    s = _structures("perov_5", 1)[0]
    decorated = s.copy()
    decorated.add_oxidation_state_by_guess()
    assert prepare(decorated) is None
    disordered = s.copy()
    disordered.replace(0, {s[0].specie.symbol: 0.5, "Na": 0.5})
    assert prepare(disordered) is None
    assert not kernel_applies(StructureMatcher(comparator=ElementComparator()))
    assert not kernel_applies(StructureMatcher(attempt_supercell=True))

    class Counting(StructureMatcher):
        def fit(self, *args, **kwargs) -> bool:  # type: ignore[override]
            return super().fit(*args, **kwargs)

    assert not kernel_applies(Counting())  # a subclass's own fit is the verdict
    for unsupported in (StructureMatcher(primitive_cell=False), StructureMatcher(scale=False),
                        StructureMatcher(comparator=FrameworkComparator()),
                        StructureMatcher(ignored_species=["Li"]),
                        StructureMatcher(attempt_supercell=True)):  # fmt: skip
        with pytest.raises(ValueError, match="StructureIndex"):
            StructureIndex(unsupported)  # the index could not reproduce its verdicts
    StructureIndex(StructureMatcher(comparator=ElementComparator()))  # oxidation-blind: fine
    index = StructureIndex(amd_tol=None)
    index.add("decorated", decorated)
    assert index.find(decorated) == "decorated"  # fitted by pymatgen, not the kernel


def test_prepared_from_a_stored_cell_is_the_same_numbers(cells):
    """``prepare_doc`` (no Structure built) == ``prepare(cell_from_doc(doc))``, bit for bit."""
    for cell in cells[:60]:
        doc = fingerprint(cell, reduced=cell)["cell"]
        a, b = prepare_doc(doc), prepare(cell_from_doc(doc))
        assert a is not None and b is not None
        assert np.array_equal(a.matrix, b.matrix) and np.array_equal(a.frac, b.frac)
        assert list(a.species) == list(b.species) and a.volume == b.volume
    doc = fingerprint(cells[0], reduced=cells[0])["cell"]
    with pytest.raises(ValueError, match="coordinates"):
        prepare_doc({**doc, "frac": doc["frac"][:-1]})
