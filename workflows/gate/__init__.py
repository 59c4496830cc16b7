"""The gate: cheap checks that decide which generated crystals are worth DFT.

One module per stage group, in the order a row meets them (see :mod:`.run`):

* :mod:`.checks`     — ``parse``, ``elements``, ``validity``, ``smact``;
* :mod:`.uniqueness` — ``duplicate`` (earlier candidates) and ``novelty`` (references), on
  :mod:`.dedupe`'s StructureMatcher index behind :mod:`.fingerprint`'s exact prefilter;
* :mod:`.prerelax`   — MLIP pre-relax (:mod:`.ts_relax`: torch-sim's batched FIRE, one model
  call per step for the whole batch; :mod:`.ts_chgnet` wraps CHGNet) and the E_d ``prescreen``;
* :mod:`.decisions`  — the campaign job's side: read a batch from the candidate store, run the
  gate, write every decision.

Every row gets one frozen :class:`GateRecord` (:mod:`.records`); a rejected row names its
stage and reason and never stops the others.
"""

from genflow.workflows.gate.records import GateRecord, GateStage, PrerelaxResult
from genflow.workflows.gate.run import run_gate

__all__ = ["GateRecord", "GateStage", "PrerelaxResult", "run_gate"]
