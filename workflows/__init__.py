"""genflow workflows: relax+static engines, the paper's VASP powerups and the gate.

The public API other rooms import (``genflow.workflows.<name>``):

- engines: :func:`relax_static_maker` (``"vasp"``, ``"mlip"``, ``"gpaw"``),
  :func:`mp_compatible_energy`, :class:`EngineEnergy`, :class:`RelaxStaticMaker`;
- VASP powerups: :func:`apply_paper_settings` and the single powerups;
- gate: :func:`run_gate` and its stages, :class:`GateRecord`, :class:`StructureIndex`,
  ``FINGERPRINT_FIELD`` (where ``genflow.workflows.gate.fingerprint.fingerprint`` is stored) and
  :func:`prerelax_structures` (batched MLIP pre-relax through torch-sim).

Campaign Makers live in ``genflow.workflows.campaign``.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> submodule; imported on first use so `import genflow.workflows.campaign` (or the CLI)
# does not pay for atomate2's VASP and force-field imports it may not need.
_EXPORTS = {
    "gate.ts_relax": ["BatchRelaxResult"],
    "gate.dedupe": ["DuplicateResult", "NoveltyResult", "StructureIndex", "check_novelty",
                    "earlier_candidates", "earlier_candidates_filter", "find_duplicates"],
    "gate.fingerprint": ["FINGERPRINT_FIELD"],
    "gate.records": ["GateRecord", "GateStage", "PrerelaxResult"],
    "gate.checks": ["check_structures"],
    "gate.uniqueness": ["dedupe_records", "novelty_records"],
    "gate.prerelax": ["prerelax_structures", "prescreen_records"],
    "gate.run": ["run_gate"],
    "powerups": ["apply_paper_settings", "mp_compatibility_problems", "use_ferromagnetic_moments",
                 "use_gamma_centred_kpoints", "use_newer_paw_potentials"],
    "relax": ["ENGINES", "EngineName", "MLIPRelaxMaker", "MLIPStaticMaker", "RelaxStaticMaker",
              "relax_static_maker"],
    "energies": ["EngineEnergy", "mp_compatible_energy"],
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f"genflow.workflows.{_MODULE_OF[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genflow.workflows' has no attribute {name!r}")


__all__ = [
    "ENGINES",
    "FINGERPRINT_FIELD",
    "BatchRelaxResult",
    "DuplicateResult",
    "EngineEnergy",
    "EngineName",
    "GateRecord",
    "GateStage",
    "MLIPRelaxMaker",
    "MLIPStaticMaker",
    "NoveltyResult",
    "PrerelaxResult",
    "RelaxStaticMaker",
    "StructureIndex",
    "apply_paper_settings",
    "check_novelty",
    "check_structures",
    "dedupe_records",
    "earlier_candidates",
    "earlier_candidates_filter",
    "find_duplicates",
    "mp_compatibility_problems",
    "mp_compatible_energy",
    "novelty_records",
    "prerelax_structures",
    "prescreen_records",
    "relax_static_maker",
    "run_gate",
    "use_ferromagnetic_moments",
    "use_gamma_centred_kpoints",
    "use_newer_paw_potentials",
]
