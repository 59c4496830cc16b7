"""Si through the campaign path with the vasp engine on atomate2's fake VASP → SCORED.

The campaign imports the reference Si POSCAR, gates it, fans out atomate2's real
``MPGGADoubleRelaxStaticMaker`` (with the paper's powerups) and scores the MP2020-processed
static energy on the bundled MP-2021 hull. ``monkeypatch_vasp`` replaces only the VASP
binary: inputs are written and checked against the reference run, then the reference outputs
(tests/test_data/vasp, the workflows room's copy of atomate2's test data) are parsed.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from genflow.campaign.hits import trace_hit
from genflow.campaign.runner import run_campaign
from genflow.campaign.spec import load_spec

from .conftest import structures_spec_dict, write_spec

VASP_DATA = Path(__file__).resolve().parents[1] / "test_data" / "vasp"
REF_PATHS = {
    "MP GGA relax 1": "Si_mp_gga_relax/GGA_Relax_1",
    "MP GGA relax 2": "Si_mp_gga_relax/GGA_Relax_2",
    "MP GGA static": "Si_mp_gga_relax/GGA_Static",
}
CHECK_ALL = {"check_inputs": ["incar", "kpoints", "poscar", "potcar"]}
SI_FINAL_ENERGY = -10.84060922  # eV, e_fr_energy of GGA_Static/outputs/vasprun.xml.gz


@pytest.fixture
def mock_vasp(monkeypatch):
    from atomate2.utils.testing.vasp import monkeypatch_vasp

    yield from monkeypatch_vasp(monkeypatch, VASP_DATA)


@pytest.mark.slow
def test_si_mp_gga_double_relax_static_ends_scored(campaign_env, mock_vasp, tmp_path):
    mock_vasp(REF_PATHS, {name: CHECK_ALL for name in REF_PATHS})
    poscar = tmp_path / "POSCAR"
    ref_poscar = VASP_DATA / REF_PATHS["MP GGA relax 1"] / "inputs" / "POSCAR.gz"
    poscar.write_bytes(gzip.decompress(ref_poscar.read_bytes()))
    spec_dict = structures_spec_dict([], name="si-vasp", engine="vasp")
    spec_dict["generator"]["structures"] = [str(poscar)]
    spec_dict["gate"] = {"novelty": False, "prescreen": False}  # keep the reference POSCAR
    spec_dict["relax"] = {}
    spec = load_spec(write_spec(tmp_path / "si.yaml", spec_dict))

    stores = campaign_env.stores
    report = run_campaign(spec, stores=stores, root_dir=str(tmp_path / "runs")).as_dict()

    assert report["counts"]["scored"] == 1, report["failures"]
    doc = stores.candidates.find_one({"campaign": "si-vasp"})
    assert doc["state"] == "scored"
    assert [h["state"] for h in doc["history"]] == ["generated", "gated", "relaxed", "scored"]
    dft = doc["relax"]
    assert dft["engine"] == "vasp" and dft["mp_compatible"] and dft["converged"]
    assert dft["energy_per_atom"] == pytest.approx(SI_FINAL_ENERGY / 2)  # Si: no MP2020 shift
    assert len(dft["task_uuids"]) == 3  # relax 1, relax 2, static
    static = stores.job_store.query_one({"uuid": dft["task_uuid"]})
    assert static["name"] == "MP GGA static"
    assert static["output"]["output"]["energy"] == pytest.approx(SI_FINAL_ENERGY)

    score = doc["scores"]["mp2021"]
    assert score["error"] is None
    # E_d of the reference Si ground state against MP's own Si: within a few meV/atom.
    assert abs(score["e_d"]) < 0.02
    assert score["e_form"] == pytest.approx(score["e_d"], abs=1e-9)  # elemental: E_f = E_d
    # A loose threshold makes it a hit, which traces back to the static task and provenance.
    trace = trace_hit(stores, doc["candidate_id"], hull="mp2021")
    assert trace.task_doc["uuid"] == dft["task_uuid"] and not trace.problems
    assert trace.checkpoint["model_name"] == "import"
