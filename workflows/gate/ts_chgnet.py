"""CHGNet as a torch-sim model: one batched graph and one backward pass per optimiser step.

torch-sim 0.3 ships no CHGNet wrapper. :class:`CHGNetTorchSimModel` is one: every system of
a ``SimState`` becomes a CHGNet ``CrystalGraph`` (CHGNet's own graph converter, so the
neighbour lists and cutoffs are CHGNet's), the graphs form one ``BatchedGraph``, and forces
and stresses come from **one** ``torch.autograd.grad`` of the total energy with respect to
the atom positions and the strains together. CHGNet's own ``predict_graph`` (what its ASE
calculator and atomate2 call) runs two backward passes with ``create_graph=True`` (it keeps
the double-backward graph for training); for a relax neither is needed, and the backward
pass was half of the batched pre-relax's time (``benchmarks/bench_prerelax.py``).

Units and signs are those of ``chgnet.model.dynamics.CHGNetCalculator``: energy in eV
(total, i.e. CHGNet's per-atom energy times the atom count), forces in eV/Å, stress
``(1/V) dE/dε`` in eV/Å³ (ASE's sign, which torch-sim's optimisers expect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch_sim.models.interface import ModelInterface

if TYPE_CHECKING:
    from torch_sim.state import SimState

__all__ = ["CHGNetTorchSimModel"]


class CHGNetTorchSimModel(ModelInterface):
    """Energies, forces and stresses of a batch of systems from a loaded CHGNet.

    Parameters
    ----------
    model
        A ``chgnet.model.CHGNet`` (e.g. ``mlips.load_chgnet()``); shared, not copied.
    device
        Where the model runs (CPU here).
    """

    def __init__(self, model: Any, device: str = "cpu") -> None:
        super().__init__()
        self.model = model
        self._device = torch.device(device)
        # CHGNet's TORCH_DTYPE. A float64 optimiser state (as in ASE) was measured: slower,
        # and no closer to ASE's energies (24 structures: 15 vs 8.5 meV/atom largest gap)
        self._dtype = torch.float32
        self._compute_stress = True
        self._compute_forces = True
        self._memory_scales_with = "n_atoms"

    def _graphs(self, state: SimState) -> list[Any]:
        """One CHGNet ``CrystalGraph`` per system (CHGNet's converter and cutoffs)."""
        from pymatgen.core import Lattice, Structure

        positions = state.positions.detach().cpu().double().numpy()
        cells = state.row_vector_cell.detach().cpu().double().numpy()
        numbers = state.atomic_numbers.detach().cpu().tolist()
        owners = state.system_idx.detach().cpu().numpy()
        graphs = []
        for b in range(state.n_systems):
            rows = (owners == b).nonzero()[0]
            structure = Structure(
                Lattice(cells[b]),
                [numbers[i] for i in rows],
                positions[rows],
                coords_are_cartesian=True,
                validate_proximity=False,
            )
            graphs.append(self.model.graph_converter(structure, graph_id=str(b)))
        return graphs

    def forward(self, state: SimState, **_: Any) -> dict[str, torch.Tensor]:
        """``energy`` [n_systems] eV, ``forces`` [n_atoms, 3] eV/Å, ``stress`` [n, 3, 3] eV/Å³."""
        from chgnet.model.model import BatchedGraph

        model = self.model
        graphs = self._graphs(state)
        with torch.enable_grad():
            batch = BatchedGraph.from_graphs(
                graphs,
                bond_basis_expansion=model.bond_basis_expansion,
                angle_basis_expansion=model.angle_basis_expansion,
                compute_stress=True,
            )
            # CHGNet.forward without its two create_graph backward passes
            pred = model._compute(batch)
            n_atoms = torch.bincount(batch.atom_owners).to(pred["e"].dtype)
            per_atom = pred["e"]
            if model.composition_model is not None:
                per_atom = per_atom + model.composition_model(graphs)
            energy = per_atom * n_atoms if model.is_intensive else per_atom
            grads = torch.autograd.grad(energy.sum(), [*batch.atom_positions, *batch.strains])
        n = len(graphs)
        forces = -torch.cat(grads[:n], dim=0)
        stress = torch.stack(grads[n:]) / batch.volumes.view(-1, 1, 1)
        return {
            "energy": energy.detach().to(self._dtype),
            "forces": forces.detach().to(self._dtype),
            "stress": stress.detach().to(self._dtype),
        }
