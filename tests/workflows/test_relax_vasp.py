"""The vasp engine: atomate2's real MP GGA double relax + static, run on fake VASP.

atomate2's ``monkeypatch_vasp`` replaces only the VASP binary: the flow writes real inputs
(checked against the reference run's INCAR, KPOINTS, POSCAR and POTCAR symbols), then the
reference outputs are copied in and parsed by atomate2's drone into task documents.
"""

from __future__ import annotations

import pytest
from jobflow import run_locally
from pymatgen.core import Structure

from genflow.workflows.energies import mp_compatible_energy
from genflow.workflows.relax import relax_static_maker

REF_PATHS = {
    "MP GGA relax 1": "Si_mp_gga_relax/GGA_Relax_1",
    "MP GGA relax 2": "Si_mp_gga_relax/GGA_Relax_2",
    "MP GGA static": "Si_mp_gga_relax/GGA_Static",
}
CHECK_ALL = {"check_inputs": ["incar", "kpoints", "poscar", "potcar"]}
SI_FINAL_ENERGY = -10.84060922  # e_fr_energy of GGA_Static/outputs/vasprun.xml.gz


@pytest.fixture
def si_structure(vasp_test_dir) -> Structure:
    return Structure.from_file(vasp_test_dir / REF_PATHS["MP GGA relax 1"] / "inputs" / "POSCAR.gz")


@pytest.mark.parametrize("paper_settings", [True, False])
def test_si_double_relax_static(
    mock_vasp, memory_job_store, in_tmp_dir, si_structure, paper_settings
):
    """Si through the real flow; with the paper's powerups every input check still passes."""
    mock_vasp(REF_PATHS, {name: CHECK_ALL for name in REF_PATHS})
    maker = relax_static_maker("vasp", paper_settings=paper_settings)
    flow = maker.make(si_structure)

    responses = run_locally(flow, store=memory_job_store, create_folders=True, ensure_success=True)

    assert [j.name for j in flow.jobs[0].jobs] + [flow.jobs[1].name] == list(REF_PATHS)
    task_doc = responses[flow.output.uuid][1].output
    assert task_doc.task_label == "MP GGA static"
    assert task_doc.output.energy == pytest.approx(SI_FINAL_ENERGY)

    energy = mp_compatible_energy(task_doc, "vasp")
    assert energy.mp_compatible and energy.reason is None
    assert energy.natoms == 2 and energy.formula == "Si"
    # Si takes no MP2020 correction: corrected == raw == E/2
    assert energy.energy_per_atom == pytest.approx(SI_FINAL_ENERGY / 2)
    assert energy.correction_per_atom == pytest.approx(0.0)

    # the same result read back from the JobStore as a plain dict
    stored = memory_job_store.query_one({"uuid": flow.jobs[1].uuid}, load=True)
    assert mp_compatible_energy(stored["output"], "vasp") == energy


def test_incompatible_overrides_are_refused():
    """An override that breaks MP2020 compatibility raises, naming the problem."""
    with pytest.raises(ValueError, match="ENCUT"):
        relax_static_maker("vasp", incar_updates={"ENCUT": 400})
    maker = relax_static_maker("vasp", incar_updates={"ENCUT": 400}, allow_incompatible=True)
    assert maker is not None
    with pytest.raises(TypeError, match="bogus"):
        relax_static_maker("vasp", bogus=1)
    with pytest.raises(ValueError, match="unknown engine"):
        relax_static_maker("qe")


def test_oxide_gets_mp2020_correction(mock_vasp):
    """An entry with an O anion is corrected; a non-PBE entry is flagged incompatible."""
    from pymatgen.entries.computed_entries import ComputedEntry

    params = {
        "run_type": "GGA",
        "is_hubbard": False,
        "hubbards": {},
        "potcar_spec": [
            {"titel": "PAW_PBE Mg_pv 06Sep2000", "hash": None},
            {"titel": "PAW_PBE O 08Apr2002", "hash": None},
        ],
    }
    entry = ComputedEntry("MgO", -12.0, parameters=params)
    energy = mp_compatible_energy(entry, "vasp")
    assert energy.mp_compatible
    assert energy.uncorrected_energy_per_atom == pytest.approx(-6.0)
    assert energy.correction_per_atom == pytest.approx(-0.687 / 2, abs=1e-3)

    bad = ComputedEntry("MgO", -12.0, parameters={**params, "run_type": "r2SCAN"})
    flagged = mp_compatible_energy(bad, "vasp")
    assert not flagged.mp_compatible and "rejected" in flagged.reason
