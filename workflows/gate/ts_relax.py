"""Batched MLIP relaxation through torch-sim (``torch-sim-atomistic``).

One model call per optimiser step for the whole batch: torch-sim's ``frechet_cell_fire``
with ``md_flavor="ase_fire"`` is ASE's ``FIRE`` on a ``FrechetCellFilter`` (atomate2's
``ForceFieldRelaxMaker`` with ``relax_cell=True``) vectorised over structures, and
``generate_force_convergence_fn(fmax)`` is the same stop rule (atomic and cell forces below
``fmax``). Converged structures leave the batch (torch-sim's in-flight batching).

A structure that makes the model raise (unknown element, empty neighbour list) would fail
the whole batched call: the batch is bisected until the culprit is alone, and only it gets an
error row. Non-finite energies or positions after the run are error rows too.

CHGNet has no torch-sim wrapper in torch-sim 0.3: ``ts_chgnet.CHGNetTorchSimModel`` is one (one
batched graph and one backward pass per step).

>>> relax_torch_sim([], "sevennet", {"model": "7net-l3i5"})
[]
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["TORCH_SIM_MODELS", "BatchRelaxResult", "load_torch_sim_model", "relax_torch_sim"]

logger = logging.getLogger(__name__)

TORCH_SIM_MODELS = ("chgnet", "sevennet")


@dataclass(frozen=True)
class BatchRelaxResult:
    """One structure's relaxation (eV/atom); ``error`` set and the rest None on failure.

    ``converged`` is FIRE's own criterion (filter forces, cell included, below ``fmax``);
    ``is_force_converged`` is atomate2's (every atomic force below ``fmax``). ``n_steps``
    counts model evaluations (FIRE steps + 1; atomate2's trajectory adds one more frame).
    """

    structure: Structure | None = None
    energy_per_atom: float | None = None
    converged: bool | None = None
    is_force_converged: bool | None = None
    n_steps: int | None = None
    forcefield_version: str | None = None
    error: str | None = None


@cache
def _load(kind: str, model: str, modal: str | None, torch_threads: int | None) -> Any:
    import torch

    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    if kind not in TORCH_SIM_MODELS:
        raise ValueError(f"no torch-sim loader for {kind!r}; known: {TORCH_SIM_MODELS}")
    if kind == "chgnet":
        from genflow.workflows.gate.ts_chgnet import CHGNetTorchSimModel
        from genflow.workflows.mlips import load_chgnet

        return CHGNetTorchSimModel(load_chgnet(torch_threads))
    import sevenn.calculator
    from sevenn.util import load_checkpoint, pretrained_name_to_path

    # torch-sim 0.3's wrapper imports a name sevenn 0.13 no longer exports; it only uses it
    # for an isinstance check on TorchScript (deployed) models.
    if not hasattr(sevenn.calculator, "torch_script_type"):
        sevenn.calculator.torch_script_type = torch.jit.ScriptModule
    from torch_sim.models.sevennet import SevenNetModel

    try:
        path = pretrained_name_to_path(model)
    except Exception:  # not a pretrained name: a checkpoint path
        path = model
    net = load_checkpoint(path).build_model()
    net.eval()
    return SevenNetModel(model=net, modal=modal, device="cpu")


def load_torch_sim_model(
    kind: str, calculator_kwargs: dict[str, Any], torch_threads: int | None = 1
) -> Any:
    """A torch-sim ``ModelInterface``, loaded once per process per (model, kwargs)."""
    return _load(kind, str(calculator_kwargs.get("model", "7net-0")),
                 calculator_kwargs.get("modal"), torch_threads)  # fmt: skip


@contextlib.contextmanager
def block_frechet() -> Iterator[None]:
    """Run torch-sim's Fréchet cell filter with batched block-matrix Fréchet derivatives.

    ``frechet_cell_fire`` takes the Fréchet derivative of expm at A = log(F) in the 9 unit
    directions per system per step, one Python call each, through torch-sim's
    scaling-and-squaring Padé code (~0.6 ms a call): 14 % of a 24-structure CHGNet
    pre-relax (``benchmarks/bench_prerelax.py``, cProfile). Here the first call for an A
    computes all 9 at once from one batched ``torch.linalg.matrix_exp`` of the block
    matrices [[A, E_k], [0, A]], whose upper-right block is the derivative (Higham 2008,
    Thm 3.6; torch-sim's own ``method="blockEnlarge"`` uses the same identity one matrix at
    a time), and the other 8 calls read it. Any other call goes to torch-sim's function.
    ``tests/workflows/test_ts_relax.py`` checks both agree. The default is restored on exit.
    """
    import torch
    import torch_sim.math as tsm

    default = tsm.expm_frechet
    cache: dict[str, Any] = {"key": None, "derivs": None}

    def batched(a: Any, e: Any, method: str | None = None, compute_expm: bool = True,
                check_finite: bool = True) -> Any:  # fmt: skip
        unit = e.reshape(-1).nonzero().reshape(-1)
        if (compute_expm or method is not None or a.shape != (3, 3) or len(unit) != 1
                or e.reshape(-1)[unit[0]] != 1):  # fmt: skip
            return default(a, e, method, compute_expm, check_finite)
        if check_finite and not bool(torch.isfinite(a).all()):
            raise ValueError("Matrix A contains non-finite values")  # torch-sim's own check
        key = a.detach().cpu().numpy().tobytes()
        if cache["key"] != key:
            blocks = torch.zeros((9, 6, 6), dtype=a.dtype, device=a.device)
            blocks[:, :3, :3] = a
            blocks[:, 3:, 3:] = a
            blocks[:, :3, 3:] = torch.eye(9, dtype=a.dtype, device=a.device).reshape(9, 3, 3)
            cache["derivs"] = torch.linalg.matrix_exp(blocks)[:, :3, 3:]
            cache["key"] = key
        return cache["derivs"][int(unit[0])].clone()

    tsm.expm_frechet = batched
    try:
        yield
    finally:
        tsm.expm_frechet = default


def _optimize(structures: list[Structure], model: Any, fmax: float, steps: int,
              relax_cell: bool) -> Any:  # fmt: skip
    import torch_sim as ts
    from torch_sim.optimizers import frechet_cell_fire

    kw = {} if relax_cell else {"hydrostatic_strain": True, "constant_volume": True}
    if steps == 0:
        # a single point: ts.optimize always takes a first FIRE step, the optimiser's initial
        # state already carries energies, forces and cell forces at the input geometry
        from torch_sim.state import initialize_state

        init_fn, _ = frechet_cell_fire(model=model, md_flavor="ase_fire", **kw)
        return init_fn(initialize_state(structures, model.device, model.dtype))
    with block_frechet():
        return ts.optimize(
            system=structures,
            model=model,
            optimizer=frechet_cell_fire,
            convergence_fn=ts.runners.generate_force_convergence_fn(fmax, include_cell_forces=True),
            max_steps=steps,
            steps_between_swaps=1,
            md_flavor="ase_fire",
            **kw,
        )


def _run(structures: list[Structure], model: Any, fmax: float, steps: int,
         relax_cell: bool) -> list[BatchRelaxResult]:  # fmt: skip
    """Relax a batch; on a model error bisect so only the failing structures get errors."""
    import numpy as np
    import torch
    from torch_sim.quantities import systemwise_max_force

    try:
        state = _optimize(structures, model, fmax, steps, relax_cell)
    except Exception as exc:
        if len(structures) == 1:
            return [BatchRelaxResult(error=f"{type(exc).__name__}: {exc}")]
        half = len(structures) // 2
        return _run(structures[:half], model, fmax, steps, relax_cell) + _run(
            structures[half:], model, fmax, steps, relax_cell
        )
    relaxed = state.to_structures()
    n_atoms = torch.bincount(state.system_idx).tolist()
    energies = state.energy.detach().cpu().numpy().reshape(-1)
    fmaxes = systemwise_max_force(state).detach().cpu().numpy()
    cell_f = getattr(state, "cell_forces", None)
    cell_max = (cell_f.norm(dim=2).max(dim=1)[0].detach().cpu().numpy()
                if cell_f is not None else np.zeros(len(relaxed)))  # fmt: skip
    out = []
    for s, e, n, f, c in zip(relaxed, energies, n_atoms, fmaxes, cell_max, strict=True):
        e_atom = float(e) / n
        if not math.isfinite(e_atom) or not np.all(np.isfinite(s.cart_coords)):
            out.append(BatchRelaxResult(error=f"non-finite energy or positions (E = {e_atom})"))
            continue
        out.append(
            BatchRelaxResult(
                structure=s,
                energy_per_atom=e_atom,
                converged=bool(f < fmax and c < fmax),
                is_force_converged=bool(f < fmax),
                n_steps=None,  # torch-sim counts steps per batch, not per structure
            )
        )
    return out


def relax_torch_sim(
    structures: list[Structure],
    kind: str,
    calculator_kwargs: dict[str, Any],
    *,
    fmax: float = 0.05,
    steps: int = 500,
    relax_cell: bool = True,
    batch_size: int = 64,
    torch_threads: int | None = 1,
) -> list[BatchRelaxResult]:
    """Relax structures with a torch-sim model, ``batch_size`` structures per batched run.

    Parameters
    ----------
    structures
        Structures to relax.
    kind, calculator_kwargs
        torch-sim wrapper name (``TORCH_SIM_MODELS``) and the model's calculator kwargs
        (``model``: pretrained name or checkpoint path; ``modal`` for multi-fidelity models).
    fmax, steps, relax_cell
        atomate2's ``relax_kwargs["fmax"]``, ``steps`` and ``relax_cell``.
    batch_size
        Structures per torch-sim run (memory bound; converged ones leave early).
    torch_threads
        torch threads when loading the model.

    Returns
    -------
    list[BatchRelaxResult]
        One per structure, same order; raw model energies (eV/atom), ``error`` on failure.
    """
    if not structures:
        return []
    model = load_torch_sim_model(kind, calculator_kwargs, torch_threads)
    out: list[BatchRelaxResult] = []
    for start in range(0, len(structures), batch_size):
        out += _run(list(structures[start : start + batch_size]), model, fmax, steps, relax_cell)
    return out
