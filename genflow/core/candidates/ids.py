"""Deterministic candidate ids: a hash of what determines a sample.

``candidate_id`` is a SHA-256 over a canonical JSON of: the campaign name, the canonical
structure (species, lattice rounded to 1e-4 Å, fractional coordinates wrapped into [0, 1) and
rounded to 1e-5, sites sorted), the generator provenance that determines the sample (model name,
checkpoint hash, conditioning) and the seed plus the sample's index within that seed's batch.
Re-submitting the same campaign regenerates the same structures with the same seeds, hence the
same ids, and the store's upsert keyed on ``candidate_id`` (``$setOnInsert``) turns the second
submission into a no-op instead of duplicates. Including the structure means a changed sampler
or checkpoint can never silently reuse an old candidate's results.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

from monty.json import jsanitize
from pydantic import BaseModel

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["ID_PREFIX", "canonical_structure", "make_candidate_id"]

ID_PREFIX = "gf-"
ID_HEX_CHARS = 24  # 96 bits: collisions are negligible for 10^12 candidates
LATTICE_DECIMALS = 4
FRAC_DECIMALS = 5


def _round(x: float, decimals: int) -> float | str:
    if not math.isfinite(x):
        return str(x)  # NaN/inf coordinates still hash (the gate rejects them)
    value = round(x, decimals)
    return 0.0 if value == 0 else value  # -0.0 and 0.0 hash alike


def canonical_structure(structure: Structure | dict) -> dict:
    """Return a canonical, JSON-ready form of a structure for hashing.

    Sites are wrapped into the cell and sorted, so site order and periodic images do not
    change the id; rounding absorbs float noise from serialisation.
    """
    from pymatgen.core import Structure

    if isinstance(structure, dict):
        structure = Structure.from_dict(structure)
    sites = []
    for site in structure:
        frac = []
        for f in site.frac_coords:
            wrapped = _round(float(f) % 1.0, FRAC_DECIMALS) if math.isfinite(f) else str(f)
            frac.append(0.0 if wrapped == 1.0 else wrapped)  # 0.999999 rounds to 1 ≡ 0
        sites.append([str(site.species), frac])
    sites.sort(key=lambda s: (s[0], [str(v) for v in s[1]]))
    lattice = [
        [_round(float(v), LATTICE_DECIMALS) for v in row] for row in structure.lattice.matrix
    ]
    return {"lattice": lattice, "sites": sites}


def make_candidate_id(
    campaign: str,
    structure: Structure | dict | str,
    provenance: Any,
    seed: int,
    index: int,
) -> str:
    """Return the deterministic id of a generated sample (see the module docstring).

    Parameters
    ----------
    campaign
        Campaign name.
    structure
        The generated structure, or the raw text of an input that could not be parsed
        (e.g. a malformed CIF); raw text is hashed verbatim.
    provenance
        Generator provenance; ``model_name``, ``checkpoint_hash`` and ``conditioning`` enter
        the hash (other keys such as the full config do not).
    seed, index
        Sampling seed and the sample's index in that seed's batch.
    """
    prov = provenance.model_dump() if isinstance(provenance, BaseModel) else dict(provenance)
    payload = {
        "campaign": campaign,
        "model_name": prov.get("model_name"),
        "checkpoint_hash": prov.get("checkpoint_hash"),
        "conditioning": jsanitize(prov.get("conditioning") or {}, strict=False),
        "seed": int(seed),
        "index": int(index),
        "structure": structure if isinstance(structure, str) else canonical_structure(structure),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return ID_PREFIX + hashlib.sha256(blob.encode()).hexdigest()[:ID_HEX_CHARS]
