"""The gate: cheap checks that decide which generated crystals are worth DFT.

Stages, in order (each sees only the survivors of the previous one):

1. ``parse``     — a pymatgen Structure, structure dict or CIF text (malformed input rejected);
2. ``elements``  — every species a real element (a CIF label ``Xx`` parses as a dummy);
3. ``validity``  — ``genflow.model.validity.structure_validity`` (min distance, cell sanity,
   NaN coordinates);
4. ``smact``     — ``genflow.model.validity.smact_validity`` (charge neutrality);
5. ``duplicate`` — StructureMatcher against earlier candidates and earlier rows of the batch
   (``genflow.workflows.dedupe``);
6. ``novelty``   — StructureMatcher against reference structures, when there are any;
7. ``prerelax``  — CHGNet relax of the whole batch, one batched model call per FIRE step
   (``genflow.workflows.batch_relax``, default) or atomate2's ``ForceFieldRelaxMaker`` per
   structure (``prerelax_method="atomate2"`` or an explicit ``maker``);
8. ``prescreen`` — E_d of the pre-relaxed energy on a hull (``genflow.hull``) above a
   threshold is rejected.

Every input row gets one frozen :class:`GateRecord`; a rejected row names its stage and
reason and never stops the others. ``GateRecord.fingerprint`` carries the dedupe fingerprint
(``genflow.workflows.fingerprint``); ``gate_doc()`` includes it, so it is stored at
``gate.fingerprint`` and later runs pass it back as ``(key, structure, fingerprint)`` rows.

>>> from pymatgen.core import Lattice, Structure
>>> nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
>>> recs = run_gate([("a", nacl), ("b", "not a cif"), ("c", nacl.copy())], prerelax=False)
>>> [(r.key, r.passed, r.stage) for r in recs]
[('a', True, None), ('b', False, 'parse'), ('c', False, 'duplicate')]
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pymatgen.core import Element, Structure

from genflow.workflows.dedupe import (
    StoredRow,
    StructureIndex,
    check_novelty,
    find_duplicates,
)

if TYPE_CHECKING:
    from jobflow import Maker

__all__ = [
    "PRERELAX_METHODS",
    "GateRecord",
    "GateStage",
    "PrerelaxResult",
    "check_structures",
    "dedupe_records",
    "parse_structure",
    "prerelax_structures",
    "prescreen_records",
    "run_gate",
]

logger = logging.getLogger(__name__)


class GateStage(StrEnum):
    """Gate stages; a rejected record names the one that rejected it."""

    PARSE = "parse"
    ELEMENTS = "elements"
    VALIDITY = "validity"
    SMACT = "smact"
    DUPLICATE = "duplicate"
    NOVELTY = "novelty"
    PRERELAX = "prerelax"
    PRESCREEN = "prescreen"


@dataclass(frozen=True)
class PrerelaxResult:
    """CHGNet pre-relaxation of one structure (energies in eV/atom).

    ``error`` is set (and the other fields None) when the force field failed on it.
    """

    structure: Structure | None = None
    energy_per_atom: float | None = None
    converged: bool | None = None
    n_steps: int | None = None
    forcefield: str | None = None
    forcefield_version: str | None = None
    error: str | None = None
    method: str | None = None


@dataclass(frozen=True)
class GateRecord:
    """Gate outcome of one input row.

    Attributes
    ----------
    key
        The row's key (candidate id).
    passed
        Survived every stage that ran.
    stage, reason
        Stage that rejected the row and why (None if passed).
    formula
        Reduced formula (None if unparseable).
    structure
        Parsed structure (the pre-relaxed one after ``prerelax``).
    valid, validity_reason, smact_valid, duplicate_of, novel, novelty_match
        Per-check results, named as in ``genflow.candidate.GateResult`` (None = not run).
    prerelax
        The CHGNet pre-relaxation, if it ran.
    e_d, hull
        Pre-screen decomposition energy (eV/atom) and the hull it was computed on.
    fingerprint
        Dedupe fingerprint (``genflow.workflows.fingerprint.fingerprint``), if computed.
    """

    key: str
    passed: bool = True
    stage: str | None = None
    reason: str | None = None
    formula: str | None = None
    structure: Structure | None = None
    valid: bool | None = None
    validity_reason: str | None = None
    smact_valid: bool | None = None
    duplicate_of: str | None = None
    novel: bool | None = None
    novelty_match: str | None = None
    prerelax: PrerelaxResult | None = None
    e_d: float | None = None
    hull: str | None = None
    fingerprint: dict | None = None

    def reject(self, stage: GateStage, reason: str, **changes: Any) -> GateRecord:
        """Return a rejected copy."""
        return dataclasses.replace(self, passed=False, stage=str(stage), reason=reason, **changes)

    def gate_doc(self) -> dict[str, Any]:
        """Fields of ``genflow.candidate.GateResult`` (plus stage and reason)."""
        names = ("valid", "validity_reason", "smact_valid", "duplicate_of", "novel",
                 "novelty_match", "fingerprint", "stage", "reason")  # fmt: skip
        return {name: getattr(self, name) for name in names}


def parse_structure(raw: Any) -> tuple[Structure | None, str | None]:
    """Turn a Structure, pymatgen dict or CIF string into a Structure, or explain why not.

    Returns
    -------
    tuple
        ``(structure, None)`` or ``(None, reason)``; unknown element symbols in a dict are
        reported as such (a CIF parses them as dummy species, caught by the element check).
    """
    if isinstance(raw, Structure):
        return raw, None
    if raw is None:
        return None, "no structure (None)"
    if isinstance(raw, dict):
        symbols = {
            sp.get("element") for site in raw.get("sites", []) for sp in site.get("species", [])
        }
        if bad := sorted(str(s) for s in symbols if not Element.is_valid_symbol(str(s))):
            return None, f"unknown element(s): {', '.join(bad)}"
        try:
            return Structure.from_dict(raw), None
        except Exception as exc:  # any parse failure is a row error, not a crash
            return None, f"malformed structure dict: {type(exc).__name__}: {exc}"
    if isinstance(raw, str):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pymatgen warns per rounded coordinate
                return Structure.from_str(raw, fmt="cif"), None
        except Exception as exc:
            return None, f"malformed CIF: {type(exc).__name__}: {str(exc)[:200]}"
    return None, f"unsupported input type {type(raw).__name__}"


def check_structures(
    items: Sequence[tuple[str, Any]], *, min_distance: float = 0.5, smact: bool = True
) -> list[GateRecord]:
    """Stages ``parse`` to ``smact`` on ``(key, raw)`` rows; one record per row."""
    from genflow.model.validity import smact_validity, structure_validity

    records = []
    for key, raw in items:
        rec = GateRecord(key=str(key))
        structure, why = parse_structure(raw)
        if structure is None:
            records.append(rec.reject(GateStage.PARSE, why or "unparseable"))
            continue
        unknown = sorted({str(sp) for sp in structure.species if not isinstance(sp, Element)})
        if unknown:
            records.append(
                rec.reject(GateStage.ELEMENTS, f"unknown element(s): {', '.join(unknown)}")
            )
            continue
        rec = dataclasses.replace(
            rec, structure=structure, formula=structure.composition.reduced_formula
        )
        ok, why = structure_validity(structure, min_distance)
        rec = dataclasses.replace(rec, valid=ok, validity_reason=why)
        if not ok:
            records.append(rec.reject(GateStage.VALIDITY, why or "invalid structure"))
            continue
        if smact:
            try:
                smact_ok = smact_validity(structure.composition)
            except ValueError as exc:
                smact_ok, why = False, str(exc)
            else:
                why = f"{rec.formula} is not charge neutral (SMACT)"
            rec = dataclasses.replace(rec, smact_valid=smact_ok)
            if not smact_ok:
                records.append(rec.reject(GateStage.SMACT, why))
                continue
        records.append(rec)
    return records


def dedupe_records(
    records: Sequence[GateRecord],
    stored: StructureIndex | Iterable[StoredRow] | None = None,
    references: StructureIndex | Iterable[tuple[str, Structure | dict]] | None = None,
    *,
    fingerprints: bool = False,
) -> list[GateRecord]:
    """Stages ``duplicate`` and ``novelty`` on the records that passed so far.

    ``stored`` rows may carry their stored fingerprint as a third item. Each record gets the
    fingerprint the search computed for it (every record with ``fingerprints=True``).
    """
    live = [i for i, r in enumerate(records) if r.passed]
    out = list(records)
    pairs = [(out[i].key, out[i].structure) for i in live]
    dups = find_duplicates(pairs, stored, fingerprints=fingerprints)
    for i, dup in zip(live, dups, strict=True):
        out[i] = dataclasses.replace(out[i], fingerprint=dup.fingerprint)
        if dup.is_duplicate:
            why = f"duplicate of {dup.against} {dup.duplicate_of}"
            out[i] = out[i].reject(GateStage.DUPLICATE, why, duplicate_of=dup.duplicate_of)
    if references is not None:
        live = [i for i in live if out[i].passed]
        pairs = [(out[i].key, out[i].structure) for i in live]
        for i, nov in zip(live, check_novelty(pairs, references), strict=True):
            out[i] = dataclasses.replace(out[i], novel=nov.novel, novelty_match=nov.match)
            if nov.novel is False:
                out[i] = out[i].reject(GateStage.NOVELTY, f"matches reference {nov.match}")
    return out


PRERELAX_METHODS = ("batched", "atomate2")


def prerelax_structures(
    structures: Sequence[Structure],
    maker: Maker | None = None,
    *,
    method: str = "batched",
    batch_size: int = 32,
    **maker_kwargs: Any,
) -> list[PrerelaxResult]:
    """Relax a batch with one force-field model.

    Parameters
    ----------
    structures
        Structures to relax.
    maker
        A ``ForceFieldRelaxMaker``: relax each structure through it (atomate2 path).
    method
        ``"batched"`` (default without ``maker``): ``batch_relax.relax_batch``, CHGNet on
        the whole batch per FIRE step; ``"atomate2"``: ``relax.MLIPRelaxMaker(**maker_kwargs)``
        per structure.
    batch_size
        Graphs per CHGNet call (batched path).
    **maker_kwargs
        ``MLIPRelaxMaker`` fields; the batched path reads the same ``steps`` (default 500),
        ``relax_cell`` (default True) and ``relax_kwargs["fmax"]`` (default 0.05).

    Returns
    -------
    list[PrerelaxResult]
        One per structure; a structure the force field fails on gets ``error``.
    """
    if method not in PRERELAX_METHODS:
        raise ValueError(f"prerelax method {method!r}: choose from {PRERELAX_METHODS}")
    if maker is None and method == "batched":
        return _prerelax_batched(structures, batch_size, **maker_kwargs)
    from genflow.workflows.relax import MLIPRelaxMaker

    maker = maker or MLIPRelaxMaker(**maker_kwargs)
    # maker.make(list) would also batch, but one failing structure would fail them all;
    # calling the undecorated make per structure reuses the maker's cached calculator.
    run = type(maker).make.original
    results = []
    for structure in structures:
        try:
            doc = run(maker, structure)
            energy = float(doc.output.energy) / len(doc.structure)
            if not math.isfinite(energy):
                raise ValueError(f"non-finite energy {energy}")
            results.append(
                PrerelaxResult(
                    structure=doc.structure,
                    energy_per_atom=energy,
                    converged=bool(doc.is_force_converged),
                    n_steps=doc.output.n_steps,
                    forcefield=doc.forcefield_name,
                    forcefield_version=doc.forcefield_version,
                    method="atomate2",
                )
            )
        except Exception as exc:  # a bad structure must not stop the batch
            logger.warning("pre-relax failed for %s: %s", structure.formula, exc)
            results.append(PrerelaxResult(error=f"{type(exc).__name__}: {exc}"))
    return results


def _prerelax_batched(
    structures: Sequence[Structure], batch_size: int, **kwargs: Any
) -> list[PrerelaxResult]:
    from genflow.workflows.batch_relax import FORCEFIELD_NAME, relax_batch

    if (ff := kwargs.pop("force_field_name", "CHGNet")) != "CHGNet":
        raise ValueError(f"batched pre-relax supports CHGNet only, not {ff!r}")
    fmax = (kwargs.pop("relax_kwargs", None) or {}).get("fmax", 0.05)
    options = {"steps": kwargs.pop("steps", 500), "relax_cell": kwargs.pop("relax_cell", True),
               "torch_threads": kwargs.pop("torch_threads", 1)}  # fmt: skip
    kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"batched pre-relax: unknown option(s) {sorted(kwargs)}")
    out = []
    for res in relax_batch(list(structures), fmax=fmax, batch_size=batch_size, **options):
        if res.error is not None:
            out.append(PrerelaxResult(error=res.error, method="batched"))
            continue
        out.append(
            PrerelaxResult(
                structure=res.structure,
                energy_per_atom=res.energy_per_atom,
                converged=res.converged,
                n_steps=res.n_steps,
                forcefield=FORCEFIELD_NAME,
                forcefield_version=res.forcefield_version,
                method="batched",
            )
        )
    return out


def prescreen_records(
    records: Sequence[GateRecord],
    hull: Any = None,
    max_e_d: float | None = None,
    maker: Maker | None = None,
    prerelax_method: str = "batched",
) -> list[GateRecord]:
    """Stages ``prerelax`` and ``prescreen`` on the records that passed so far.

    Parameters
    ----------
    records
        Gate records; only passed ones are relaxed.
    hull
        A ``genflow.hull.ReferenceHull`` or a name/path for ``genflow.hull.load_hull``;
        None skips the E_d pre-screen.
    max_e_d
        Reject when the pre-relaxed E_d (eV/atom) exceeds this; None only records E_d.
    maker
        Force-field relax maker; given, each structure goes through it (atomate2 path).
    prerelax_method
        ``"batched"`` or ``"atomate2"`` (see :func:`prerelax_structures`).
    """
    live = [i for i, r in enumerate(records) if r.passed]
    out = list(records)
    relaxed = prerelax_structures([out[i].structure for i in live], maker, method=prerelax_method)
    for i, res in zip(live, relaxed, strict=True):
        if res.error is not None:
            out[i] = out[i].reject(GateStage.PRERELAX, res.error, prerelax=res)
        else:
            out[i] = dataclasses.replace(out[i], prerelax=res, structure=res.structure)
    if hull is None:
        return out
    if isinstance(hull, str):
        from genflow.hull import load_hull

        hull = load_hull(hull)
    hull_name = getattr(hull, "name", None)
    live = [i for i in live if out[i].passed]
    scores = hull.score(
        [out[i].structure.composition for i in live],
        [out[i].prerelax.energy_per_atom for i in live],
    )
    for i, score in zip(live, scores, strict=True):
        if score.error is not None or score.e_d is None:
            # unscorable (e.g. an element the hull lacks): keep it, DFT decides
            logger.info("pre-screen skipped for %s: %s", out[i].key, score.error)
            continue
        out[i] = dataclasses.replace(out[i], e_d=float(score.e_d), hull=hull_name)
        if max_e_d is not None and score.e_d > max_e_d:
            why = f"pre-relaxed E_d {score.e_d:.3f} eV/atom > {max_e_d} on {hull_name}"
            out[i] = out[i].reject(GateStage.PRESCREEN, why)
    return out


def run_gate(
    items: Sequence[tuple[str, Any]],
    *,
    min_distance: float = 0.5,
    smact: bool = True,
    dedupe: bool = True,
    stored: StructureIndex | Iterable[StoredRow] | None = None,
    references: StructureIndex | Iterable[tuple[str, Structure | dict]] | None = None,
    prerelax: bool = True,
    hull: Any = None,
    max_e_d: float | None = None,
    maker: Maker | None = None,
    prerelax_method: str = "batched",
    fingerprints: bool = False,
) -> list[GateRecord]:
    """Run every gate stage on ``(key, raw)`` rows (see the module docstring).

    Parameters
    ----------
    items
        ``(key, structure | dict | CIF)`` rows.
    min_distance, smact
        Validity settings.
    dedupe
        Run the duplicate (and novelty) stages.
    stored
        Earlier candidates to deduplicate against: an index, or ``(key, structure)`` /
        ``(key, structure, fingerprint)`` rows (the fingerprint as stored at
        ``gate.fingerprint``; rows without one are fingerprinted lazily).
    references
        Reference structures for novelty (None skips the novelty check).
    prerelax
        Run the CHGNet pre-relax (and, with ``hull``, the E_d pre-screen).
    hull, max_e_d, maker, prerelax_method
        See :func:`prescreen_records`.
    fingerprints
        Fingerprint every surviving row for storage, not only those the duplicate search
        compared (one reduced cell each).
    """
    records = check_structures(items, min_distance=min_distance, smact=smact)
    if dedupe:
        records = dedupe_records(records, stored, references, fingerprints=fingerprints)
    if prerelax:
        records = prescreen_records(records, hull, max_e_d, maker, prerelax_method)
    return records
