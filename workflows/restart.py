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

__all__ = [
    "CHECKPOINT_TRAJ",
    "LastGeometry",
    "find_job_dirs",
    "last_geometry",
    "same_cell",
    "start_geometry",
]

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


def start_geometry(directory: str | Path) -> Structure | None:
    """The geometry a relaxation in ``directory`` started from: its POSCAR (VASP) or the first
    frame of its checkpoint trajectory (force fields); None if neither is readable."""
    from pymatgen.io.vasp import Poscar

    directory = Path(directory)
    for name in ("POSCAR", "POSCAR.gz"):
        path = directory / name
        if path.is_file() and path.stat().st_size:
            try:
                return Poscar.from_file(path, check_for_potcar=False).structure
            except Exception:
                continue
    path = directory / CHECKPOINT_TRAJ
    if path.is_file():
        from ase.io import read
        from pymatgen.io.ase import AseAtomsAdaptor

        try:
            return AseAtomsAdaptor.get_structure(read(path, 0))
        except Exception:
            return None
    return None


def same_cell(a: Structure, b: Structure, tol: float = 1e-4) -> bool:
    """Same species in the same order, lattice and fractional coordinates within ``tol``."""
    import numpy as np

    if len(a) != len(b) or [s.symbol for s in a.species] != [s.symbol for s in b.species]:
        return False
    if not np.allclose(a.lattice.matrix, b.lattice.matrix, atol=tol):
        return False
    diff = a.frac_coords - b.frac_coords
    return bool(np.allclose(diff - np.round(diff), 0.0, atol=tol))


def find_job_dirs(
    roots: Iterable[str | Path], uuids: Iterable[str] = (), start: Structure | None = None
) -> list[Path]:
    """Job directories under ``roots`` of one relaxation, latest step first.

    A directory belongs to it if its name holds one of ``uuids``, or if it started from
    ``start`` (jobflow's ``run_locally`` names directories ``job_<time>-<random>``, so a local
    job is found by its first geometry); from there each directory that started where the last
    one stopped (VASP's second relax from the first one's CONTCAR) joins the chain.
    """
    wanted = [u for u in uuids if u]
    dirs = [p for root in roots if Path(root).is_dir() for p in Path(root).rglob("job_*")]
    dirs = [p for p in dirs if p.is_dir()]
    found = [p for p in dirs if any(u in p.name for u in wanted)]
    if start is not None:
        starts = {p: start_geometry(p) for p in dirs}
        chain = [p for p, s in starts.items() if s is not None and same_cell(s, start)]
        seen = set(chain)
        frontier = list(chain)
        while frontier:  # follow the chain: a later relax started at this one's last geometry
            geometry = last_geometry(frontier.pop())
            if geometry is None:
                continue
            for p, s in starts.items():
                if p not in seen and s is not None and same_cell(s, geometry.structure):
                    seen.add(p)
                    chain.append(p)
                    frontier.append(p)
        found += [p for p in chain if p not in found]
    return sorted(set(found), key=lambda p: p.stat().st_mtime, reverse=True)
