"""The last geometry of a stopped relaxation (issue 22): VASP's CONTCAR and the force field's
per-step trajectory (``genflow.workflows.restart``).

VASP: a run directory left by a walltime kill (inputs plus CONTCAR/OUTCAR, no final vasprun),
built from the Si reference outputs; the MP GGA relax then restarts from that CONTCAR through
atomate2's fake VASP, and the POSCAR it writes is the CONTCAR's cell. The force-field half (a
real CHGNet relax killed by SIGTERM and resumed) is in ``tests/campaign/test_rerun.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from jobflow import run_locally
from pymatgen.io.vasp import Poscar

from genflow.workflows.relax import relax_static_maker
from genflow.workflows.restart import CHECKPOINT_TRAJ, find_job_dirs, last_geometry, same_cell

RELAX1 = "Si_mp_gga_relax/GGA_Relax_1"
REF_PATHS = {
    "MP GGA relax 1": RELAX1,
    "MP GGA relax 2": "Si_mp_gga_relax/GGA_Relax_2",
    "MP GGA static": "Si_mp_gga_relax/GGA_Static",
}
# The restarted relax writes the CONTCAR's cell, not the reference POSCAR: check the rest.
CHECK = {"check_inputs": ["incar", "kpoints", "potcar"]}


def _killed_run(vasp_test_dir: Path, job_dir: Path, contcar: bool = True) -> Path:
    """A job directory as a walltime kill leaves it: inputs, CONTCAR, OUTCAR, no vasprun."""
    job_dir.mkdir(parents=True)
    ref = vasp_test_dir / RELAX1
    for name in ("INCAR.gz", "KPOINTS.gz", "POSCAR.gz"):
        shutil.copy(ref / "inputs" / name, job_dir / name)
    shutil.copy(ref / "outputs" / "OUTCAR.gz", job_dir / "OUTCAR.gz")
    if contcar:
        shutil.copy(ref / "outputs" / "CONTCAR.gz", job_dir / "CONTCAR.gz")
    return job_dir


def test_contcar_is_the_last_geometry(vasp_test_dir, tmp_path):
    job = _killed_run(vasp_test_dir, tmp_path / "job_2026-12-06-00-00-00-000000-abc123-1")
    geometry = last_geometry(job)
    expected = Poscar.from_file(vasp_test_dir / RELAX1 / "outputs" / "CONTCAR.gz").structure
    start = Poscar.from_file(job / "POSCAR.gz").structure
    assert geometry is not None and geometry.kind == "CONTCAR"
    assert geometry.structure == expected
    assert not np.allclose(expected.lattice.matrix, start.lattice.matrix)  # it moved
    assert "CONTCAR" in geometry.note()
    assert find_job_dirs([tmp_path], ["abc123"]) == [job]
    assert find_job_dirs([tmp_path], start=start) == [job]  # found by where it started


def test_no_usable_geometry(vasp_test_dir, tmp_path):
    """Killed before the first ionic step: an empty CONTCAR counts as nothing."""
    job = _killed_run(vasp_test_dir, tmp_path / "job_x", contcar=False)
    assert last_geometry(job) is None
    (job / "CONTCAR").write_text("")
    assert last_geometry(job) is None
    (job / CHECKPOINT_TRAJ).write_bytes(b"not a trajectory")
    assert last_geometry(job) is None
    assert last_geometry(tmp_path / "missing") is None


@pytest.mark.slow
def test_vasp_relax_restarts_from_contcar(
    vasp_test_dir, mock_vasp, memory_job_store, in_tmp_dir, monkeypatch
):
    """Must show (VASP): the MP GGA relax of a stopped run restarts from its CONTCAR."""
    job = _killed_run(vasp_test_dir, in_tmp_dir / "killed" / "job_killed-uuid1-1")
    geometry = last_geometry(job)
    assert geometry is not None
    mock_vasp(REF_PATHS, {name: CHECK for name in REF_PATHS})
    import atomate2.vasp.jobs.base as vasp_jobs

    fake_vasp, started = vasp_jobs.run_vasp, []

    def run_vasp(*args, **kwargs):  # what each VASP run saw as its POSCAR, before the fake
        started.append(Poscar.from_file("POSCAR").structure)
        return fake_vasp(*args, **kwargs)

    monkeypatch.setattr(vasp_jobs, "run_vasp", run_vasp)
    flow = relax_static_maker("vasp").make(geometry.structure)
    run_locally(flow, store=memory_job_store, create_folders=True, ensure_success=True)
    assert len(started) == 3  # relax 1, relax 2, static
    assert same_cell(started[0], geometry.structure)  # relax 1 restarted from the CONTCAR
    start = Poscar.from_file(vasp_test_dir / RELAX1 / "inputs" / "POSCAR.gz").structure
    assert not same_cell(started[0], start)  # not from the start of the killed run
