"""The gate: cheap checks that decide which generated crystals are worth DFT.

Stages, in order (each sees only the survivors of the previous one):

1. ``parse``     — a pymatgen Structure, structure dict or CIF text (malformed input rejected);
2. ``elements``  — every species a real element (a CIF label ``Xx`` parses as a dummy);
3. ``validity``  — ``genflow.model.validity.structure_validity`` (min distance, cell sanity,
   NaN coordinates);
4. ``smact``     — ``genflow.model.validity.smact_validity`` (charge neutrality);
5. ``duplicate`` — StructureMatcher against earlier candidates and earlier rows of the batch
   (``genflow.workflows.gate.dedupe``), when ``dedupe``;
6. ``novelty``   — StructureMatcher against reference structures (``references``, e.g.
   ``genflow.workflows.references.reference_index``), independent of ``dedupe``: ``reject``
   a match, or ``flag`` it (passed, ``novel=False``);
7. ``prerelax``  — MLIP relax of the whole batch, one batched model call per FIRE step
   (``genflow.workflows.gate.ts_relax`` on torch-sim, default) or atomate2's
   ``ForceFieldRelaxMaker`` per structure (``prerelax_method="atomate2"`` or a ``maker``);
8. ``prescreen`` — E_d of the pre-relaxed energy on a hull (``genflow.hull``) above a
   threshold is rejected.

Every input row gets one frozen :class:`GateRecord`; a rejected row names its stage and
reason and never stops the others. ``GateRecord.fingerprint`` carries the dedupe fingerprint
(``genflow.workflows.gate.fingerprint``); ``gate_doc()`` includes it, so it is stored at
``gate.fingerprint`` and later runs pass it back as ``(key, structure, fingerprint)`` rows.

>>> from pymatgen.core import Lattice, Structure
>>> nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> recs = run_gate([("a", nacl), ("b", "not a cif"), ("c", nacl.copy())], prerelax=False)
>>> [(r.key, r.passed, r.stage) for r in recs]
[('a', True, None), ('b', False, 'parse'), ('c', False, 'duplicate')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from genflow.workflows.gate.checks import check_structures
from genflow.workflows.gate.dedupe import StoredRow, StructureIndex
from genflow.workflows.gate.prerelax import prescreen_records
from genflow.workflows.gate.records import GateRecord
from genflow.workflows.gate.uniqueness import dedupe_records, novelty_records

if TYPE_CHECKING:
    from jobflow import Maker

__all__ = ["run_gate"]


def run_gate(
    items: Sequence[tuple[str, Any]],
    *,
    min_distance: float = 0.5,
    smact: bool = True,
    dedupe: bool = True,
    dedupe_workers: int = 1,
    stored: StructureIndex | Iterable[StoredRow] | None = None,
    references: StructureIndex | Iterable[tuple[str, Structure | dict]] | None = None,
    novelty: str = "reject",
    prerelax: bool = True,
    hull: Any = None,
    max_e_d: float | None = None,
    maker: Maker | None = None,
    prerelax_method: str = "batched",
    fingerprints: bool = False,
    prerelax_model: str | None = None,
    prerelax_kwargs: dict[str, Any] | None = None,
) -> list[GateRecord]:
    """Run every gate stage on ``(key, raw)`` rows (see the module docstring).

    Parameters
    ----------
    items
        ``(key, structure | dict | CIF)`` rows.
    min_distance, smact
        Validity settings.
    dedupe, dedupe_workers
        Run the duplicate stage; processes for its search against ``stored``.
    stored
        Earlier candidates to deduplicate against: an index, or ``(key, structure)`` /
        ``(key, structure, fingerprint)`` rows (the fingerprint as stored at
        ``gate.fingerprint``; rows without one are fingerprinted lazily).
    references
        Reference structures for novelty, keyed ``source/ref_id`` (None skips the check).
    novelty
        ``"reject"`` (default), ``"flag"`` or ``"off"``.
    prerelax
        Run the MLIP pre-relax (and, with ``hull``, the E_d pre-screen).
    hull, max_e_d, maker, prerelax_method
        See :func:`prescreen_records`.
    prerelax_model, prerelax_kwargs
        MLIP of the pre-relax (``genflow.workflows.mlips``; None: the registry default).
    fingerprints
        Fingerprint every surviving row for storage, not only those the duplicate search
        compared (one reduced cell each).
    """
    records = check_structures(items, min_distance=min_distance, smact=smact)
    if dedupe:
        records = dedupe_records(records, stored, fingerprints=fingerprints,
                                 workers=dedupe_workers)  # fmt: skip
    if references is not None and novelty != "off":
        records = novelty_records(records, references, mode=novelty)
    if prerelax:
        model = {"model": prerelax_model} if prerelax_model else {}
        records = prescreen_records(records, hull, max_e_d, maker, prerelax_method,
                                    calculator_kwargs=prerelax_kwargs, **model)  # fmt: skip
    return records
