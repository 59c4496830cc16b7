"""Hit audit: is a hit below the hull its own engine finds, or only below a hull with a gap?

A candidate scored "stable" against a reference that lacks a phase of its chemical system
(rocksalt YbTe: the bundled ``mp2021`` has no Yb–Te compound at all) is a hull gap, not a
discovery. Before a hit is reported stable, the audit

1. collects every reference structure genflow holds in the hit's chemical system
   (:func:`reference_structures`: the bundled MP-20 / Perov-5 / Carbon-24 rows) and prototype
   decorations (``workflows.prototypes``) of the charge-neutral binaries (and ABX3
   perovskites) the hull has no entry for;
2. relaxes them with the engine that produced the hit's energy (the MLIP stands in for VASP
   and GPAW campaigns, and the verdict says so; the hit is then re-relaxed with it too);
3. builds a local hull from those engine energies plus the reference's own entries of the
   system (both MP2020 / MP-POTCAR scale), and computes the hit's E_d on it (pymatgen
   ``PhaseDiagram``, Eq. E_d of ``ReferenceHull.score``).

A hit whose local E_d is not below ``-tolerance``, on a local hull the relaxed phases lowered
by more than ``tolerance`` at its composition, is ``hull_gap_suspected``, naming the phase that
beats it; otherwise ``confirmed`` (:func:`local_verdict`). Engine energies are cached per
(chemical system, engine, hull) in MongoDB (``hull_audits``), so each system is relaxed once,
and only hits are audited. Campaigns audit by default (``score.audit``; ``false`` turns it
off); the cost is logged. Verdicts are stored through ``genflow.core.candidates.record_audit``.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Any

from genflow.core.candidates import HULL_GAP_SUSPECTED, get_path, record_audit
from genflow.core.candidates import CandidateKey as K
from genflow.core.chem import chemsys_string, parse_composition
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymatgen.core import Structure

    from genflow.core.store import GenflowStores

__all__ = [
    "AUDIT_COLLECTION",
    "AUDIT_TOLERANCE",
    "HULL_GAP_SUSPECTED",
    "audit_hits",
    "local_verdict",
    "reference_structures",
]

log = logging.getLogger(__name__)

#: MongoDB collection of cached engine energies per (chemical system, engine, hull).
AUDIT_COLLECTION = "hull_audits"
#: eV/atom: a hit must lie this far below the local hull to be confirmed (relaxing the same
#: structure twice with an MLIP agrees to a few meV/atom).
AUDIT_TOLERANCE = 0.010
CONFIRMED = "confirmed"
_BUNDLED = ("mp_20", "perov_5", "carbon_24")
_FORMULA_COLUMNS = ("pretty_formula", "formula")


@functools.cache
def _bundled_tables() -> list[tuple[str, Any]]:
    import pandas as pd

    from genflow.model.data import bundled_paths

    out = []
    for name in _BUNDLED:
        for path in bundled_paths(name):
            df = pd.read_csv(path)
            col = next((c for c in _FORMULA_COLUMNS if c in df), None)
            elements = (
                df[col].map(lambda f: frozenset(el for el, _ in parse_composition(f)))
                if col
                else pd.Series([frozenset({"C"})] * len(df))  # Carbon-24 has no formula column
            )
            out.append((name, df.assign(_elements=elements)[["material_id", "cif", "_elements"]]))
    return out


def reference_structures(chemsys: list[str] | tuple[str, ...]) -> list[tuple[str, Structure]]:
    """(label, structure) of every bundled reference row whose elements lie in ``chemsys``.

    The one place the audit reads reference structures from; pointing it at a ``references``
    MongoDB collection later changes only this function.
    """
    from genflow.model.data import parse_cif

    allowed = frozenset(chemsys)
    out, seen = [], set()
    for name, df in _bundled_tables():
        for mid, cif, els in df.itertuples(index=False):
            if els <= allowed and (name, mid) not in seen:
                seen.add((name, mid))
                try:
                    out.append((f"{mid} ({name})", parse_cif(cif)))
                except Exception as err:
                    log.warning("audit: %s row %s unreadable: %s", name, mid, err)
    return out


def _mlip_relaxer(force_field: str) -> Callable[[Structure], float]:
    """Structure → relaxed energy per atom (eV/atom) with the campaign's MLIP, loaded once."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    from genflow.workflows.relax import MLIPRelaxMaker, shared_calculator

    calc = shared_calculator(MLIPRelaxMaker(force_field_name=force_field))

    def relax(structure: Structure, fmax: float = 0.05, steps: int = 300) -> float:
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = calc
        FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=fmax, steps=steps)
        return float(atoms.get_potential_energy() / len(atoms))

    return relax


def _e_d(formula: str, energy_per_atom: float, phases: list[dict]) -> tuple[dict, float]:
    """Decomposition (PDEntry → fraction) and E_d (eV/atom) of a hit on the hull of ``phases``."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    entries = [PDEntry(Composition(p["composition"]), 0.0, name=p["name"]) for p in phases]
    for entry, p in zip(entries, phases, strict=True):
        entry._energy = p["energy_per_atom"] * entry.composition.num_atoms
    comp = Composition(formula)
    diagram = PhaseDiagram(entries)
    # from the diagram's own phases: get_decomp_and_e_above_hull returns the hit itself when
    # it ties a stable phase exactly (same composition and energy per atom)
    decomp = diagram.get_decomposition(comp)
    return decomp, float(energy_per_atom - diagram.get_hull_energy_per_atom(comp))


def local_verdict(
    formula: str,
    energy_per_atom: float,
    phases: list[dict],
    *,
    tolerance: float = AUDIT_TOLERANCE,
) -> dict:
    """E_d of a hit on the local hull of ``phases`` and the verdict.

    A hit is ``hull_gap_suspected`` when it is not ``tolerance`` below the local hull *and*
    the phases the audit relaxed lower the hull at its composition by more than
    ``tolerance`` (``local_e_d − reference_e_d``, the reference's own entries being the
    phases with ``source == "hull"``): it scored well only because the reference lacks a
    phase. A hit whose hull the audit leaves where it was keeps its E_d (``confirmed``),
    metastable or not; a hit below the lowered hull is ``confirmed`` too. Without
    ``source == "hull"`` phases the first condition alone decides.

    Parameters
    ----------
    phases
        Dicts with ``name``, ``composition``, ``energy_per_atom`` (eV/atom) and optionally
        ``source`` (``"hull"``: an entry of the reference itself).

    Returns
    -------
    dict
        ``verdict``, ``local_e_d`` and ``reference_e_d`` (eV/atom; the latter None without
        reference phases), ``beaten_by`` (the phase of the local hull's decomposition at
        the hit's composition with the largest share; None if confirmed).
    """
    decomp, e_d = _e_d(formula, energy_per_atom, phases)
    own = [p for p in phases if p.get("source") == "hull"]
    ref_e_d = _e_d(formula, energy_per_atom, own)[1] if own else None
    flagged = e_d > -tolerance and (ref_e_d is None or e_d - ref_e_d > tolerance)
    top = max(decomp.items(), key=lambda kv: kv[1])[0].name if decomp else None
    return {
        "verdict": HULL_GAP_SUSPECTED if flagged else CONFIRMED,
        "local_e_d": e_d,
        "reference_e_d": ref_e_d,
        "beaten_by": top if flagged else None,
        "local_decomposition": {e.name: float(f) for e, f in decomp.items()},
        "tolerance": tolerance,
    }


def _system_phases(
    stores: GenflowStores, elements: tuple[str, ...], hull: Any, engine: str, relax: Callable
) -> tuple[list[dict], int]:
    """Engine energies of the system's references and decorations, cached in MongoDB.

    Returns the phases and how many structures were relaxed now (0 from the cache).
    """
    from genflow.hull.coverage import Coverage, composition_key
    from genflow.workflows.prototypes import decorations

    key = f"{chemsys_string(elements)}|{engine}|{hull.name}"
    coll = stores.db[AUDIT_COLLECTION]
    cached = retry_call(lambda: coll.find_one({"_id": key}), what="read hull audit cache")
    if cached is not None:
        return cached["phases"], 0
    cover = Coverage.of(hull)
    known = lambda c: composition_key(c.items()) in cover.compositions  # noqa: E731
    todo = [(label, s, "reference") for label, s in reference_structures(elements)]
    todo += [(d.name, d.structure, "decoration") for d in decorations(elements, known)]
    phases = []
    for label, structure, source in todo:
        try:
            energy = relax(structure)
        except Exception as err:
            log.warning("audit: %s did not relax: %s", label, err)
            continue
        phases.append(
            {
                "name": f"{label} [{engine}]",
                "composition": structure.composition.formula,
                "energy_per_atom": energy,
                "source": source,
            }
        )
    doc = {"_id": key, "chemsys": chemsys_string(elements), "engine": engine, "hull": hull.name,
           "phases": phases}  # fmt: skip
    retry_call(lambda: coll.replace_one({"_id": key}, doc, upsert=True), what="cache hull audit")
    return phases, len(todo)


def audit_hits(
    stores: GenflowStores,
    hull: str = "mp2021",
    *,
    candidate_ids: list[str] | None = None,
    campaign: str | None = None,
    force_field: str = "CHGNet",
    tolerance: float = AUDIT_TOLERANCE,
    max_ed: float | None = None,
    relax: Callable[[Structure], float] | None = None,
) -> dict:
    """Audit the hits on ``hull`` and write ``scores.<hull>.audit`` on each.

    Parameters
    ----------
    candidate_ids, campaign
        Restrict to these candidates / this campaign (default: every hit).
    force_field
        The MLIP (``workflows.relax`` engine makers) that relaxes the audit's phases; for
        ``mlip`` hits it should be the one that produced their energies.
    tolerance
        eV/atom a hit must lie below the local hull to be ``confirmed``.
    max_ed
        Hit threshold (eV/atom; default ``settings.HIT_THRESHOLD``).
    relax
        Structure → relaxed eV/atom; default the MLIP's (tests may pass a stand-in).

    Returns
    -------
    dict
        ``audited``, ``flagged``, ``confirmed`` counts, ``flagged_ids``, and the cost:
        ``relaxed`` (structures relaxed now; cached systems cost none), ``seconds`` (wall
        time) and ``seconds_per_hit``. The cost is logged too (the campaign's log file).
    """
    from pymatgen.core import Structure

    from genflow.core.candidates import hit_threshold, score_key, score_path, scored_hits_filter
    from genflow.hull import load_hull

    key = score_key(hull)
    query = scored_hits_filter(
        key, hit_threshold(max_ed), campaign=campaign, candidate_ids=candidate_ids
    )
    proj = [str(k) for k in (K.CANDIDATE_ID, K.REDUCED_FORMULA, K.FORMULA, K.RELAX)]
    proj.append(score_path(key))
    started = time.perf_counter()
    hits = retry_call(lambda: list(stores.candidates.find(query, proj)), what="read hits")
    if not hits:
        return {"audited": 0, "flagged": 0, "confirmed": 0, "flagged_ids": [], "relaxed": 0,
                "seconds": 0.0, "seconds_per_hit": None}  # fmt: skip
    reference = load_hull(hull)
    relax = relax or _mlip_relaxer(force_field)
    flagged, relaxed = [], 0
    for doc in hits:
        formula = doc.get(K.REDUCED_FORMULA) or doc[K.FORMULA]
        elements = tuple(el for el, _ in parse_composition(formula))
        engine = get_path(doc, K.RELAX_ENGINE)
        stand_in = engine != "mlip"
        label = f"mlip:{force_field}" + (f" (stand-in for {engine})" if stand_in else "")
        if stand_in:  # the hit's energy must come from the audit's engine too
            energy = relax(Structure.from_dict(get_path(doc, K.RELAX_STRUCTURE)))
            relaxed += 1
        else:
            energy = get_path(doc, K.RELAX_ENERGY)
        phases, n_new = _system_phases(stores, elements, reference, f"mlip:{force_field}", relax)
        relaxed += n_new
        phases = phases + [
            {
                "name": f"{reference.ids[r]} [{reference.name}]",
                "composition": reference.formula(r),
                "energy_per_atom": float(reference.energies[r]),
                "source": "hull",
            }
            for r in reference.rows_in(elements)
        ]
        verdict = local_verdict(formula, energy, phases, tolerance=tolerance)
        verdict.update(engine=label, energy_per_atom=energy, n_phases=len(phases))
        if verdict["verdict"] == HULL_GAP_SUSPECTED:
            flagged.append(doc[K.CANDIDATE_ID])
        record_audit(stores.candidates, key, doc[K.CANDIDATE_ID], verdict)
    seconds = time.perf_counter() - started
    log.info(
        "hit audit on %s: %d hit(s), %d flagged hull_gap_suspected; %d structure(s) relaxed "
        "with mlip:%s in %.1f s (%.1f s per hit)",
        hull, len(hits), len(flagged), relaxed, force_field, seconds, seconds / len(hits),
    )  # fmt: skip
    return {
        "audited": len(hits),
        "flagged": len(flagged),
        "confirmed": len(hits) - len(flagged),
        "flagged_ids": flagged,
        "relaxed": relaxed,
        "seconds": seconds,
        "seconds_per_hit": seconds / len(hits),
    }
