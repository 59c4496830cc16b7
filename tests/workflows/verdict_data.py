"""Candidates for the hull-verdict tests: rocksalt MgO and friends, inserted as ``gated`` rows."""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

from genflow.core.candidates import (
    Candidate,
    CandidateState,
    GeneratorProvenance,
    StateUpdate,
    insert_candidates,
    update_states,
)


def rocksalt(a: str, b: str, lattice: float) -> Structure:
    """Conventional rocksalt AB (8 atoms)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(lattice), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


_COUNTER = iter(range(10**9))


def gated(stores, structure: Structure, name: str, campaign: str = "verdicts") -> Candidate:
    """Insert ``structure`` as a gated candidate of ``campaign`` and return it."""
    prov = GeneratorProvenance(model_name="test", checkpoint_hash=name)
    cand = Candidate.from_structure(structure, campaign, prov, seed=0, index=next(_COUNTER))
    insert_candidates(stores.candidates, [cand])
    update_states(stores.candidates, [StateUpdate(cand.candidate_id, CandidateState.GATED)])
    return cand


def ff_doc(structure: Structure, energy_per_atom: float, force_field: str = "CHGNet") -> dict:
    """The fields of an atomate2 ForceFieldTaskDocument that scoring reads."""
    return {
        "structure": structure.as_dict(),
        "output": {"energy": energy_per_atom * len(structure), "structure": structure.as_dict()},
        "forcefield_name": force_field,
        "is_force_converged": True,
    }
