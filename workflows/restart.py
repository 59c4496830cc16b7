"""The last geometry of a relaxation that stopped: walltime, SIGTERM, an unrecoverable error.

A rerun (``genflow campaign rerun``) starts a stopped relaxation from its last ionic step, not
from the generated cell:

VASP
    ``CONTCAR`` (or ``CONTCAR.gz`` once atomate2 gzipped the directory) is the last ionic
    step VASP wrote; custodian's walltime handler and atomate2's ``copy_vasp_outputs`` restart
    from it the same way (CONTCAR → POSCAR). An empty or unreadable CONTCAR (killed before the
    first ionic step) does not count.
force fields (``mlip``, ``gpaw``)
    The relax job's ASE optimiser appends every step to :data:`CHECKPOINT_TRAJ` in the job's
    directory (``relax_static_maker`` sets ``relax_kwargs["trajectory"]``); the last complete
    frame is the geometry. atomate2's own ``traj_file`` is written only when the optimiser
    returns, so a killed job would leave nothing.

>>> last_geometry("/nonexistent") is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pymatgen.core import Structure

__all__ = ["CHECKPOINT_TRAJ", "LastGeometry", "find_job_dirs", "last_geometry"]

#: File name of the force-field relax's per-step trajectory, in the job's directory.
CHECKPOINT_TRAJ = "relax_checkpoint.traj"


@dataclass(frozen=True)
class LastGeometry:
    """Where a stopped relaxation got to."""

    structure: Structure
    path: str
    kind: str  # "CONTCAR" or "trajectory"
    step: int | None = None  # ionic steps taken (trajectory frames after the first)

    def note(self) -> str:
        """One line for the candidate's history."""
        step = f", ionic step {self.step}" if self.step is not None else ""
        return f"resumed from last geometry: {self.kind} {self.path}{step}"


def _contcar(directory: Path) -> LastGeometry | None:
    from pymatgen.io.vasp import Poscar

    for name in ("CONTCAR", "CONTCAR.gz"):
        path = directory / name
        if not path.is_file() or path.stat().st_size == 0:
            continue
        try:
            structure = Poscar.from_file(path, check_for_potcar=False).structure
        except Exception:
            continue
        return LastGeometry(structure, str(path), "CONTCAR")
    return None


def _trajectory(directory: Path) -> LastGeometry | None:
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    path = directory / CHECKPOINT_TRAJ
    if not path.is_file():
        return None
    try:
        frames = read(path, ":")  # a frame cut by the kill is not returned
    except Exception:
        return None
    if not frames:
        return None
    structure = AseAtomsAdaptor.get_structure(frames[-1])
    return LastGeometry(structure, str(path), "trajectory", step=len(frames) - 1)


def last_geometry(directory: str | Path) -> LastGeometry | None:
    """The last ionic step a relaxation in ``directory`` wrote, or None (none written)."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    return _contcar(directory) or _trajectory(directory)


def find_job_dirs(roots: Iterable[str | Path], uuids: Iterable[str]) -> list[Path]:
    """Job directories under ``roots`` named after one of ``uuids`` (jobflow's ``run_locally``
    names them ``job_<time>-<uuid>-<n>``), newest first."""
    wanted = [u for u in uuids if u]
    found = []
    for root in roots:
        root = Path(root)
        if not root.is_dir() or not wanted:
            continue
        found += [p for p in root.rglob("job_*") if p.is_dir() and any(u in p.name for u in wanted)]
    return sorted(set(found), key=lambda p: p.stat().st_mtime, reverse=True)
