"""Real DFT on small cells: GPAW through atomate2's force-field relax and static makers.

atomate2's ``ForceFieldRelaxMaker`` runs any ASE calculator named by ``calculator_meta``
(an import path); here it is ``gpaw.GPAW`` with plane-wave settings in ``calculator_kwargs``,
so task documents record GPAW and its version. The two makers below only add a fallback for
the PAW setups: GPAW's own ``gpaw-data`` wheel, then ``$GPAW_SETUP_PATH``, then Debian's
``gpaw-data`` package under ``/usr/share/gpaw-setups``.

GPAW energies are not MP2020-compatible (other PAW setups and cutoff than MP's VASP), so
they are only compared with other GPAW energies (see ``genflow.workflows.relax``).

>>> kw = gpaw_calculator_kwargs(ecut=300)
>>> kw["mode"], kw["xc"]
({'name': 'pw', 'ecut': 300}, 'PBE')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atomate2.forcefields.jobs import ForceFieldRelaxMaker, ForceFieldStaticMaker

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

__all__ = [
    "DEBIAN_SETUP_PATH",
    "GPAW_CALCULATOR",
    "GPAWRelaxMaker",
    "GPAWStaticMaker",
    "gpaw_calculator_kwargs",
    "make_gpaw_calculator",
]

GPAW_CALCULATOR = "gpaw.GPAW"
DEBIAN_SETUP_PATH = Path("/usr/share/gpaw-setups")


def gpaw_calculator_kwargs(
    ecut: float = 300.0,
    kpoint_density: float = 2.0,
    xc: str = "PBE",
    smearing_width: float = 0.05,
    **extra: Any,
) -> dict[str, Any]:
    """Return JSON-serialisable GPAW keyword arguments for a plane-wave PBE calculation.

    Parameters
    ----------
    ecut
        Plane-wave cutoff (eV).
    kpoint_density
        Γ-centred k-point density (points per Å⁻¹), so the grid adapts to each cell.
    xc
        Exchange-correlation functional.
    smearing_width
        Fermi-Dirac width (eV); keeps metals and semiconductors alike converging.
    **extra
        Any other GPAW parameter (overrides the defaults).
    """
    kwargs: dict[str, Any] = {
        "mode": {"name": "pw", "ecut": ecut},
        "xc": xc,
        "kpts": {"density": kpoint_density, "gamma": True},
        "occupations": {"name": "fermi-dirac", "width": smearing_width},
        "convergence": {"energy": 1e-5},
        "txt": None,  # GPAW writes its log to stdout by default
    }
    kwargs.update(extra)
    return kwargs


def _ensure_setup_path() -> None:
    """Point GPAW at PAW setups if its own search path has none."""
    import gpaw

    def has_setups(path: str | Path) -> bool:
        return Path(path).is_dir() and any(Path(path).glob("H.*PBE*"))

    if any(has_setups(p) for p in gpaw.setup_paths):
        return
    env = os.environ.get("GPAW_SETUP_PATH")
    for candidate in [*(env.split(os.pathsep) if env else []), DEBIAN_SETUP_PATH]:
        if has_setups(candidate):
            gpaw.setup_paths.insert(0, str(candidate))
            return
    raise FileNotFoundError(
        "GPAW PAW setups not found: install the gpaw-data wheel, apt-get install gpaw-data "
        f"({DEBIAN_SETUP_PATH}) or set GPAW_SETUP_PATH"
    )


def make_gpaw_calculator(**kwargs: Any) -> Calculator:
    """Return a ``gpaw.GPAW`` calculator with PAW setups located (see module docstring)."""
    _ensure_setup_path()
    from gpaw import GPAW

    return GPAW(**kwargs)


@dataclass
class _GPAWCalculator:
    """The calculator fields both GPAW makers share, and how the calculator is built."""

    force_field_name: str = "Forcefield"
    calculator_meta: str = GPAW_CALCULATOR
    calculator_kwargs: dict = field(default_factory=gpaw_calculator_kwargs)

    def _get_calculator(self) -> Calculator:
        """GPAW calculator built from ``calculator_kwargs``."""
        return make_gpaw_calculator(**self.calculator_kwargs)


@dataclass
class GPAWRelaxMaker(_GPAWCalculator, ForceFieldRelaxMaker):
    """Relax cell and positions with GPAW (atomate2 force-field relax, GPAW calculator)."""

    name: str = "GPAW relax"
    relax_kwargs: dict = field(
        default_factory=lambda: {"fmax": 0.05, "final_atoms_object_file": None}
    )
    # BFGS needs half the ionic steps of atomate2's default FIRE on small cells, and each
    # DFT step costs seconds
    optimizer_kwargs: dict = field(default_factory=lambda: {"optimizer": "BFGS"})


@dataclass
class GPAWStaticMaker(_GPAWCalculator, ForceFieldStaticMaker):
    """Single-point GPAW energy, forces and stress (atomate2 force-field static)."""

    name: str = "GPAW static"
    relax_kwargs: dict = field(default_factory=lambda: {"final_atoms_object_file": None})
