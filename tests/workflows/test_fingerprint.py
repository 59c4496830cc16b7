"""Dedupe fingerprints: never separate a matcher fit; stored fingerprints spare parsing."""

from __future__ import annotations

import json

import numpy as np
from gate_data import mp20
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from genflow.workflows.gate import run_gate
from genflow.workflows.gate.dedupe import StructureIndex, find_duplicates
from genflow.workflows.gate.fingerprint import Fingerprint, fingerprint, may_match, sigma

IDS = ["mp-20351", "mp-966800", "mp-22895", "mp-32750", "mp-23173", "mp-23192", "mp-2172",
       "mp-1086", "mp-23703", "mp-2658", "mp-1266"]  # fmt: skip


def _distorted(s: Structure, rng: np.random.Generator) -> Structure:
    """Sheared/strained up to the matcher's tolerances, rattled, sometimes a supercell."""
    out = s.copy()
    eps = rng.uniform(-1, 1, size=(3, 3)) * rng.choice([0.15, 0.5])
    out.lattice = Lattice(out.lattice.matrix @ (np.eye(3) + (eps + eps.T) / 2))
    out.perturb(float(rng.uniform(0, 0.3)), min_distance=0.0, seed=int(rng.integers(2**31)))
    if rng.random() < 0.3:
        out.make_supercell([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    return out


def _passes(query: Structure, stored: Structure) -> bool:
    fq, fs = (Fingerprint.from_doc(fingerprint(x)) for x in (query, stored))
    arrays = (np.array([fs.minima]), np.array([fs.lengths]))
    mask = may_match(np.array(fq.minima), *arrays, sigma(np.array([fs.cos_eigs]), 0.2, 5), 0.2)
    return fq.n_sites == fs.n_sites and bool(mask[0])


def test_prefilter_keeps_every_matcher_fit():
    """Over strongly distorted copies, every pair the matcher fits passes the prefilter."""
    rng = np.random.default_rng(0)
    sm = StructureMatcher()
    fits = pruned = 0
    for i in range(80):
        stored = mp20(IDS[i % len(IDS)])
        query = _distorted(stored, rng)
        if sm.fit(query, stored):
            fits += 1
            assert _passes(query, stored), (IDS[i % len(IDS)], i)
        pruned += not _passes(query, stored)
    assert fits >= 10 and pruned >= 5  # both sides of the tolerance were exercised


def test_fingerprint_is_bson_safe_and_versioned():
    fp = fingerprint(mp20("mp-20351"))
    assert json.loads(json.dumps(fp)) == fp
    assert fp["n_sites"] == 2 and Fingerprint.from_doc(fp) is not None
    assert Fingerprint.from_doc({**fp, "pymatgen": "0.0"}) is None  # stale: recomputed
    assert Fingerprint.from_doc({**fp, "minima": [1.0, "x"]}) is None


def test_stored_fingerprints_spare_parsing_and_find_duplicates():
    """Stored rows with fingerprints (as MongoDB returns them): same answers, less parsing."""
    stored_structs = {k: mp20(k) for k in IDS}
    rows = [(k, s.as_dict(), fingerprint(s)) for k, s in stored_structs.items()]
    rows.append(("old-no-fp", mp20("mp-2172").as_dict()))  # a row without one: lazy path
    batch = [
        ("InP-copy", _distorted_small(mp20("mp-20351"), 1)),
        ("HgI2-copy", _distorted_small(mp20("mp-23173"), 2)),
        ("AlAs-copy", _distorted_small(mp20("mp-2172"), 3)),
        ("new-LiH", Structure(Lattice.tetragonal(2.0, 6.0), ["Li", "H"], [[0, 0, 0], [0.5] * 3])),
    ]
    index = StructureIndex()
    index.add_many(rows)
    results = {r.key: r for r in find_duplicates(batch, index)}
    assert results["InP-copy"].duplicate_of == "mp-20351"
    assert results["HgI2-copy"].duplicate_of == "mp-23173"
    assert results["AlAs-copy"].duplicate_of in {"mp-2172", "old-no-fp"}
    assert not results["new-LiH"].is_duplicate
    # every compared row got a fingerprint to store, equal to a fresh one
    assert results["InP-copy"].fingerprint == fingerprint(batch[0][1])
    # stored rows the prefilters ruled out were never parsed or reduced
    entries = {e.key: e for b in index._by_size.values() for sb in b.values() for e in sb.entries}
    assert entries["mp-966800"]._reduced is None  # wurtzite InP: 4 sites, other bucket
    assert entries["mp-23703"]._reduced is None  # rock salt vs c/a = 3: lattice bounds
    assert index.computed_fingerprints().keys() <= {"old-no-fp"}
    # same answers as the lazy path
    lazy = find_duplicates(batch, [(k, d) for k, d, *_ in rows])
    assert [r.duplicate_of for r in lazy] == [results[k].duplicate_of for k, _ in batch]


def _distorted_small(s: Structure, seed: int) -> Structure:
    out = s.make_supercell([2, 1, 1], in_place=False)
    out.apply_strain(0.02)
    out.perturb(0.03, min_distance=0.0, seed=seed)
    return out


def test_gate_record_carries_fingerprint_for_storage():
    stored = [("old-InP", mp20("mp-20351").as_dict(), fingerprint(mp20("mp-20351")))]
    items = [("a", mp20("mp-20351")), ("b", mp20("mp-1086"))]
    recs = run_gate(items, stored=stored, prerelax=False, fingerprints=True)
    assert (recs[0].stage, recs[0].duplicate_of) == ("duplicate", "old-InP")
    assert recs[1].passed and recs[1].gate_doc()["fingerprint"]["n_sites"] == 2
