"""MLIP registry: which force field a stage runs, with which kwargs, on which energy scale.

Every stage that runs an MLIP (gate pre-relax, pre-screen, the ``mlip`` relax engine) names
its model here, never in code. A name is either a registry key below (a model with its
calculator kwargs) or any atomate2 force-field name (``MLFF`` member, e.g. ``"MACE-MPA-0"``,
``"MatterSim"``) with the caller's kwargs.

Energy scale (how a model's energy reaches the MP2020-corrected scale of the ``mp2021`` hull):

- ``"mp2020"``: the model was fitted to MP2020-corrected MPtrj energies (CHGNet); its energy
  is used as is;
- ``"pbe"``: the model predicts raw GGA/GGA+U energies (SevenNet, MACE, MatterSim, ...); the
  energy goes through ``MaterialsProject2020Compatibility`` on an entry with MP's run type
  and Hubbard U values for its composition, as Matbench Discovery does
  (:func:`mp2020_energy_per_atom`, which calls ``genflow.hull.scheme``).

Only CHGNet and SevenNet ship their weights inside their wheels; the others download weights
on first use and fail offline with :class:`MLIPUnavailableError` naming the model.

>>> resolve_mlip("7net-l3i5").force_field, resolve_mlip("7net-l3i5").energy_scale
('SevenNet', 'pbe')
>>> resolve_mlip("CHGNet").energy_scale
'mp2020'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pymatgen.core import Composition, Structure

__all__ = [
    "DEFAULT_PRERELAX_MODEL",
    "DEFAULT_RELAX_MODEL",
    "MLIPS",
    "MLIPSpec",
    "MLIPUnavailableError",
    "load_chgnet",
    "mp2020_energy_per_atom",
    "resolve_mlip",
    "unsupported_elements",
]

EnergyScale = Literal["mp2020", "pbe"]


class MLIPUnavailableError(RuntimeError):
    """A model's weights or package cannot be loaded here (offline, not installed)."""


@dataclass(frozen=True)
class MLIPSpec:
    """One MLIP as a stage runs it.

    Attributes
    ----------
    name
        Registry key or atomate2 name as the user wrote it (recorded in results).
    force_field
        atomate2 force-field name (``ForceFieldRelaxMaker.force_field_name``).
    calculator_kwargs
        Keyword arguments of atomate2's calculator for this model.
    energy_scale
        ``"mp2020"`` (already corrected) or ``"pbe"`` (needs MP2020 corrections).
    offline
        True when the weights ship inside the Python package.
    torch_sim
        Name of the torch-sim model wrapper for batched relaxes (None: no torch-sim path).
    """

    name: str
    force_field: str
    calculator_kwargs: dict[str, Any] = field(default_factory=dict)
    energy_scale: EnergyScale = "pbe"
    offline: bool = False
    torch_sim: str | None = None

    @property
    def label(self) -> str:
        """``force_field`` plus its checkpoint, e.g. ``SevenNet:7net-l3i5``."""
        model = self.calculator_kwargs.get("model")
        return f"{self.force_field}:{model}" if isinstance(model, str) else self.force_field


MLIPS: dict[str, MLIPSpec] = {
    "CHGNet": MLIPSpec("CHGNet", "CHGNet", {}, "mp2020", True, "chgnet"),
    "7net-l3i5": MLIPSpec("7net-l3i5", "SevenNet", {"model": "7net-l3i5"}, "pbe", True, "sevennet"),
    "7net-0": MLIPSpec("7net-0", "SevenNet", {"model": "7net-0"}, "pbe", True, "sevennet"),
    "SevenNet": MLIPSpec("SevenNet", "SevenNet", {"model": "7net-l3i5"}, "pbe", True, "sevennet"),
    "MACE-MPA-0": MLIPSpec("MACE-MPA-0", "MACE-MPA-0", {}, "pbe", False),
    "MACE-MP-0": MLIPSpec("MACE-MP-0", "MACE-MP-0", {}, "pbe", False),
    "MatterSim": MLIPSpec("MatterSim", "MatterSim", {}, "pbe", False),
    "M3GNet": MLIPSpec("M3GNet", "M3GNet", {}, "pbe", False),
}
# Chosen from benchmarks/bench_mlip_accuracy.py (README "What is measured": 20 MP-20 rows of
# <= 8 atoms, relax + static, MP2020 scale, scored on mp2021, one torch thread).
# Pre-screen (fast): CHGNet. It ranks every gate survivor, so time per structure decides; its
# batched pre-relax took ~1 s/structure against 3.7 s for SevenNet-l3i5 relax + static, and at
# a permissive threshold (>= 100 meV/atom) it discarded no DFT-stable row of the sample.
# mlip engine (accurate): SevenNet 7net-l3i5. Formation-energy MAE vs MP-20's DFT 3.6 meV/atom
# against CHGNet's 20.1, metastable (< 25 meV/atom) F1 0.94 against 0.80, at 2.6x CHGNet's
# time per relax + static (3.7 s vs 1.4 s): cheap next to the DFT it stands in for. Both
# models saw MP relaxations in training (MPtrj), so out-of-sample the gap is smaller than
# on MP-20 (Matbench Discovery F1 0.76 vs 0.61); it points the same way.
DEFAULT_PRERELAX_MODEL = "CHGNet"
DEFAULT_RELAX_MODEL = "7net-l3i5"


def resolve_mlip(name: str, calculator_kwargs: dict[str, Any] | None = None) -> MLIPSpec:
    """The :class:`MLIPSpec` for a registry key or an atomate2 force-field name.

    ``calculator_kwargs`` update the registry's (e.g. ``{"model": "7net-0"}``).

    Raises
    ------
    ValueError
        For a name that is neither a registry key nor an atomate2 ``MLFF`` name.
    """
    name = str(name).split("MLFF.")[-1]
    spec = MLIPS.get(name)
    if spec is None:
        from atomate2.forcefields.utils import MLFF

        member = MLFF(name) if name in {m.value for m in MLFF} else MLFF._missing_(name)
        if member is None:
            known = sorted(set(MLIPS) | {m.value for m in MLFF} - {"Forcefield"})
            raise ValueError(f"unknown MLIP {name!r}; choose from {known}")
        scale: EnergyScale = "mp2020" if member.value == "CHGNet" else "pbe"
        spec = MLIPSpec(name, member.value, {}, scale, member.value in {"CHGNet", "SevenNet"})
    if calculator_kwargs:
        spec = MLIPSpec(
            spec.name, spec.force_field, {**spec.calculator_kwargs, **calculator_kwargs},
            spec.energy_scale, spec.offline, spec.torch_sim,
        )  # fmt: skip
    return spec


@cache
def _sevennet_species(model: str) -> frozenset[str]:
    from sevenn.util import load_checkpoint, pretrained_name_to_path

    cp = load_checkpoint(pretrained_name_to_path(model))
    return frozenset(cp.config["chemical_species"])


@cache
def load_chgnet(torch_threads: int | None = 1) -> Any:
    """The pretrained CHGNet (bundled with the chgnet package), loaded once per process."""
    import torch
    from chgnet.model import CHGNet

    from genflow.core.progress import quiet_batch_chatter, stage

    quiet_batch_chatter()  # under rlaunch: torch's warnings to the launch dir's log
    stage("loading MLIP CHGNet")
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)  # one thread: 8x faster than two on 2 cores
    model = CHGNet.load(verbose=False, use_device="cpu")
    model.graph_converter.set_isolated_atom_response("warn")  # as CHGNetCalculator does
    return model


def unsupported_elements(spec: MLIPSpec, composition: Composition) -> list[str]:
    """Elements of ``composition`` outside the model's training set ([] if unknown)."""
    symbols = [el.symbol for el in composition.elements]
    if spec.force_field == "CHGNet":
        return [s for s in symbols if composition[s] and _z(s) > 94]
    if spec.force_field == "SevenNet" and isinstance(spec.calculator_kwargs.get("model"), str):
        try:
            known = _sevennet_species(spec.calculator_kwargs["model"])
        except Exception:  # a path or an unknown checkpoint: let the model decide
            return []
        return [s for s in symbols if s not in known]
    return []


def _z(symbol: str) -> int:
    from pymatgen.core import Element

    return Element(symbol).Z


def mp2020_energy_per_atom(
    structure: Structure, energy_per_atom: float, spec: MLIPSpec
) -> tuple[float, float]:
    """(corrected, correction) eV/atom of an MLIP energy on the MP2020 scale.

    ``mp2020`` models: unchanged, correction 0. ``pbe`` models: MP's run type and U values
    through MP2020 compatibility (``genflow.hull.scheme.mp2020_structure_energy``).

    Raises
    ------
    ValueError
        When the compatibility scheme rejects the entry.
    """
    if spec.energy_scale == "mp2020":
        return float(energy_per_atom), 0.0
    from genflow.hull.scheme import mp2020_structure_energy

    return mp2020_structure_energy(structure, energy_per_atom)
