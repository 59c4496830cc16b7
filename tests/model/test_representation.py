"""UniMat representation: table layout, encode/decode round trips on real data, augmentation."""

from __future__ import annotations

import json
import re
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from genflow.model.data import load_dataset
from genflow.model.unimat.augment import augment, is_atom, permute_atoms, translate
from genflow.model.unimat.representation import (
    ElementTable,
    TooManyAtomsError,
    decode,
    decode_many,
    encode,
    encode_many,
    max_atoms_per_element,
    periodic_position,
)

DATASETS = ("perov_5", "carbon_24", "mp_20")


def _assert_sites_equal(original: Structure, decoded: Structure, atol: float = 2e-6) -> None:
    """Exact equality up to float32 rounding and wrapping: same atoms per element in the same
    order, fractional coordinates equal modulo 1, lattice parameters equal."""
    assert len(decoded) == len(original)
    want = np.array([*original.lattice.abc, *original.lattice.angles])
    got = np.array([*decoded.lattice.abc, *decoded.lattice.angles])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    for el in {sp.symbol for sp in original.species}:
        a = np.array([s.frac_coords for s in original if s.specie.symbol == el])
        b = np.array([s.frac_coords for s in decoded if s.specie.symbol == el])
        assert a.shape == b.shape, el
        diff = (a - b + 0.5) % 1.0 - 0.5
        assert np.abs(diff).max() < atol, (el, np.abs(diff).max())
    assert decoded.frac_coords.min() >= 0.0 and decoded.frac_coords.max() < 1.0


@pytest.fixture(scope="module")
def subsets() -> dict[str, list[Structure]]:
    """The first 150 rows of each bundled dataset's test split."""
    return {name: list(load_dataset(f"{name}:test", limit=150).structures) for name in DATASETS}


# -- layout ------------------------------------------------------------------------------
def test_full_table_places_every_element_once():
    t = ElementTable.full()
    assert t.shape == (9, 18) and len(t) == 118 and t.mask.sum() == 118
    assert len(set(t.positions)) == 118
    expected = {
        "H": (0, 0), "He": (0, 17), "B": (1, 12), "Ne": (1, 17), "Al": (2, 12), "K": (3, 0),
        "Y": (4, 2), "Ba": (5, 1), "Hf": (5, 3), "Rn": (5, 17), "Rf": (6, 3), "Og": (6, 17),
        "La": (7, 2), "Ce": (7, 3), "Lu": (7, 16), "Ac": (8, 2), "Lr": (8, 16),
    }  # fmt: skip
    for sym, cell in expected.items():
        assert t.position(sym) == cell == periodic_position(sym)
    # group 3 of periods 6 and 7 stays empty: La and Ac live in the f-block rows
    assert t.symbol_at(5, 2) is None and t.symbol_at(6, 2) is None
    assert t.symbol_at(7, 2) == "La"


def test_sub_tables_and_serialisation():
    bto = ElementTable.for_elements("Ba-Ti-O")
    assert bto.shape == (3, 3) and bto.layout == "cropped"
    # cropped keeps periodic-table order: O above Ti above Ba, Ba left of Ti left of O
    (ro, co), (rt, ct), (rb, cb) = (bto.position(e) for e in ("O", "Ti", "Ba"))
    assert ro < rt < rb and cb < ct < co
    assert ElementTable.for_elements(["C"]).shape == (1, 1)
    assert ElementTable.for_elements(["C"], layout="compact").shape == (1, 1)
    compact = ElementTable.for_elements("Ba Ti O Sr", layout="compact")
    assert compact.shape == (2, 2) and compact.mask.all()
    for t in (bto, compact, ElementTable.full()):
        assert ElementTable.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    with pytest.raises(ValueError, match="layout"):
        ElementTable.for_elements("Ba-Ti-O", layout="spiral")  # type: ignore[arg-type]


def test_missing_element_and_too_many_atoms_errors(subsets):
    bto = ElementTable.for_elements("Ba-Ti-O")
    nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match=r"element Na is not in this cropped ElementTable"):
        encode(nacl, bto, 4)
    s = next(s for s in subsets["carbon_24"] if len(s) >= 8)
    with pytest.raises(TooManyAtomsError, match=rf"{len(s)} atoms of C .*max_atoms L=4") as err:
        encode(s, ElementTable.for_elements(["C"]), 4)
    assert isinstance(err.value, ValueError)
    assert (err.value.element, err.value.count, err.value.max_atoms) == ("C", len(s), 4)


# -- encode / decode ---------------------------------------------------------------------
def test_encode_layout_and_nulls(subsets):
    s = subsets["perov_5"][0]
    t = ElementTable.full()
    coords, lattice = encode(s, t, 4)
    assert coords.shape == (4, 9, 18, 3) and coords.dtype == np.float32
    assert lattice.shape == (6,) and lattice.dtype == np.float32
    counts = Counter(sp.symbol for sp in s.species)
    occupied = (coords >= 0).all(-1)
    assert occupied.sum() == len(s)
    for el, n in counts.items():
        r, c = t.position(el)
        assert occupied[:n, r, c].all() and not occupied[n:, r, c].any()
    assert np.all(coords[~occupied] == -1.0)
    assert coords[occupied].min() >= 0 and coords[occupied].max() < 1


@pytest.mark.parametrize("name", DATASETS)
def test_round_trip_subset_is_lossless(subsets, name):
    structures = subsets[name]
    table = ElementTable.from_structures(structures)
    batch = encode_many(structures, table, max_atoms_per_element(structures))
    assert batch.ok.all()
    decoded, errors = decode_many(batch.coords, batch.lattice, table)
    assert errors == [None] * len(structures)
    matcher = StructureMatcher()
    for original, back in zip(structures, decoded, strict=True):
        _assert_sites_equal(original, back)
        assert matcher.fit(original, back)


def test_rows_over_small_L_report_element_and_count(subsets):
    structures = subsets["mp_20"]
    table = ElementTable.full()
    batch = encode_many(structures, table, 2)
    for s, err in zip(structures, batch.errors, strict=True):
        counts = Counter(sp.symbol for sp in s.species)
        if max(counts.values()) > 2:
            assert err is not None and err.startswith("TooManyAtomsError")
            n, el = re.search(r"(\d+) atoms of (\w+) in", err).groups()
            assert counts[el] == int(n) > 2 and "max_atoms L=2" in err
        else:
            assert err is None
    assert 0 < (~batch.ok).sum() < len(structures)
    assert np.isnan(batch.lattice[~batch.ok]).all() and (batch.coords[~batch.ok] == -1).all()


def test_decode_null_rule_for_noisy_samples():
    table = ElementTable.for_elements(["Si"])
    coords = np.full((4, 1, 1, 3), -1.0)
    coords[0, 0, 0] = [-0.02, 0.5, 1.01]  # real atom that drifted out of the cell
    coords[1, 0, 0] = [-0.6, 0.3, 0.4]  # one coordinate far negative, mean ≥ −0.5: an atom
    coords[2, 0, 0] = [-0.9, -1.1, -0.7]  # noisy null
    coords[3, 0, 0] = [-0.45, -0.5, -0.6]  # mean −0.517: null
    s = decode(coords, np.array([5.0, 5.0, 5.0, 90, 90, 90]), table)
    assert len(s) == 2
    np.testing.assert_allclose(s.frac_coords[0], [0.98, 0.5, 0.01], atol=1e-9)
    np.testing.assert_allclose(s.frac_coords[1], [0.4, 0.3, 0.4], atol=1e-9)
    assert len(decode(coords, [5, 5, 5, 90, 90, 90], table, null_threshold=-1.5)) == 4
    occ = np.array([True, False, False, False])[:, None, None]
    assert len(decode(coords, [5, 5, 5, 90, 90, 90], table, occupancy=occ)) == 1
    with pytest.raises(ValueError, match="does not match"):
        decode(coords, [5, 5, 5, 90, 90, 90], ElementTable.for_elements("Si O"))


def test_occupancy_mask_matches_encoding(subsets):
    s = subsets["mp_20"][3]
    table = ElementTable.from_structures(subsets["mp_20"])
    coords, _ = encode(s, table, 8)
    occ = table.occupancy(s.composition, 8)
    assert occ.shape == (8, *table.shape) and occ.sum() == len(s)
    np.testing.assert_array_equal(occ, (coords >= 0).all(-1))
    with pytest.raises(TooManyAtomsError, match="5 atoms of O in Ba2TiO5 exceed max_atoms L=4"):
        ElementTable.for_elements("Ba Ti O").occupancy("Ba2TiO5", 4)
    with pytest.raises(ValueError, match="element Na is not in"):
        ElementTable.for_elements("Ba Ti O").occupancy("NaCl", 4)


# -- augmentation ------------------------------------------------------------------------
def test_augmentations_keep_the_crystal(subsets):
    structures = subsets["mp_20"][:40]
    table = ElementTable.from_structures(structures)
    batch = encode_many(structures, table, max_atoms_per_element(structures))
    x = jnp.asarray(batch.coords)
    permuted = jax.jit(permute_atoms)(jax.random.key(0), x)
    shifted = jax.jit(translate)(jax.random.key(1), x)
    both = jax.jit(augment)(jax.random.key(2), x)
    # permutation: same occupancy (packed), same multiset of coordinates per cell
    assert (is_atom(permuted) == is_atom(x)).all()
    np.testing.assert_array_equal(
        np.sort(np.asarray(permuted), axis=1), np.sort(batch.coords, axis=1)
    )
    assert not np.array_equal(np.asarray(permuted), batch.coords)  # something actually moved
    # translation: nulls untouched, atoms in [0, 1), one shift per crystal
    sh = np.asarray(shifted)
    assert (sh[batch.coords == -1] == -1).all()
    atoms = np.asarray(is_atom(x))
    assert sh[atoms].min() >= 0 and sh[atoms].max() < 1
    deltas = [np.unique(np.round((sh[i][atoms[i]] - batch.coords[i][atoms[i]]) % 1.0, 5), axis=0)
              for i in range(len(structures))]  # fmt: skip
    assert all(len(d) == 1 for d in deltas) and len({tuple(d[0]) for d in deltas}) > 1
    matcher = StructureMatcher()
    for i, s in enumerate(structures):
        for aug in (permuted, shifted, both):
            assert matcher.fit(s, decode(np.asarray(aug[i]), batch.lattice[i], table))


def test_full_permutation_mode_scatters_atoms():
    x = np.full((6, 1, 1, 3), -1.0, np.float32)
    x[:2, 0, 0] = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    outs = [np.asarray(permute_atoms(jax.random.key(k), x, keep_packed=False)) for k in range(20)]
    assert any(not is_atom(o)[:2].all() for o in outs)  # atoms left the first two slots
    assert all(is_atom(o).sum() == 2 for o in outs)


# -- every row of the bundled datasets ---------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", DATASETS)
def test_round_trip_every_bundled_row(name):
    """Every row: exact site equality (float32, modulo 1) after encode→decode at L = the
    dataset's max per-element count, plus StructureMatcher on a seeded random 300 rows
    (StructureMatcher on all ~20k rows takes minutes; the exact check is stricter). A small L
    makes exactly the rows with a larger per-element count fail with a TooManyAtomsError."""
    data = load_dataset(name)
    assert not data.failures
    structures = list(data.structures)
    big_l = max_atoms_per_element(structures)
    table = ElementTable.from_structures(structures)
    batch = encode_many(structures, table, big_l)
    assert batch.ok.all()
    decoded, errors = decode_many(batch.coords, batch.lattice, table)
    assert not any(errors)
    for original, back in zip(structures, decoded, strict=True):
        _assert_sites_equal(original, back)
    rng = np.random.default_rng(0)
    matcher = StructureMatcher()
    for i in rng.choice(len(structures), size=min(300, len(structures)), replace=False):
        assert matcher.fit(structures[i], decoded[i]), data.ids[i]
    small_l = max(1, big_l // 2)
    small = encode_many(structures, table, small_l)
    need = np.array([max(Counter(sp.symbol for sp in s.species).values()) for s in structures])
    np.testing.assert_array_equal(~small.ok, need > small_l)
    assert all(e.startswith("TooManyAtomsError") for e in small.errors if e)
