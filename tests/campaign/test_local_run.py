"""Local campaign runs (jobflow ``run_locally`` on the SecantusDB JobStore) and scoring rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Structure

from genflow.campaign.runner import run_campaign
from genflow.campaign.spec import load_spec
from genflow.core.candidates import (
    Candidate,
    CandidateState,
    StateUpdate,
    by_id,
    insert_candidates,
    update_states,
)

DATA = Path(__file__).parent / "data"
BAD_BATCH = [
    "NaCl.cif",
    "Si.cif",
    "NaCl_shifted.cif",
    "malformed.cif",
    "nan_coords.json",
    "overlap.cif",
    "unknown_element.cif",
]


@pytest.mark.slow
def test_bad_inputs_rejected_with_reasons_rest_scored(campaign_env, structures_spec, tmp_path):
    stores = campaign_env.stores
    spec = load_spec(structures_spec(BAD_BATCH, name="bad-batch"))
    report = run_campaign(spec, stores=stores, root_dir=str(tmp_path / "runs")).as_dict()

    docs = {d["provenance"]["conditioning"]["source"]: d for d in stores.candidates.find()}
    assert sorted(docs) == sorted(BAD_BATCH)  # every input is a row, good or bad
    reason = {name: d.get("reject_reason") or "" for name, d in docs.items()}
    assert reason["malformed.cif"].startswith("parse: malformed.cif: malformed CIF: ")
    assert docs["malformed.cif"]["raw_input"].startswith("data_broken")
    assert reason["unknown_element.cif"] == "elements: unknown_element.cif: unknown element Xx"
    assert reason["nan_coords.json"] == "validity: NaN or infinite fractional coordinates"
    assert reason["overlap.cif"].startswith("validity: ")
    assert "0.5 Å" in reason["overlap.cif"]
    nacl_id = docs["NaCl.cif"]["candidate_id"]
    assert reason["NaCl_shifted.cif"] == f"duplicate: duplicate of batch {nacl_id}"
    assert docs["NaCl_shifted.cif"]["gate"]["duplicate_of"] == nacl_id
    for name in ("NaCl.cif", "Si.cif"):
        assert docs[name]["state"] == "scored", (name, reason[name])
        assert docs[name]["scores"]["mp2021"]["error"] is None
    assert not report["failed_jobs"]
    assert report["counts"]["scored"] == 2 and report["counts"]["rejected"] == 5
    assert report["failure_counts"] == {"validity": 2, "parse": 1, "elements": 1, "duplicate": 1}
    # Running the completed campaign again is a no-op that returns the same report.
    again = run_campaign(spec, stores=stores).as_dict()
    assert again["already_completed"] and again["counts"] == report["counts"]
    assert stores.candidates.count_documents({}) == len(BAD_BATCH)


def _relaxable(stores, name: str) -> Candidate:
    structure = Structure.from_file(DATA / "NaCl.cif")
    prov = {"model_name": "import", "checkpoint_hash": "x", "conditioning": {}}
    cand = Candidate.from_structure(structure, name, prov, seed=0, index=0)
    insert_candidates(stores.candidates, [cand])
    update_states(stores.candidates, [StateUpdate(cand.candidate_id, CandidateState.GATED)])
    return cand


def _ff_doc(structure: Structure, energy: float, force_field: str) -> dict:
    # The fields of an atomate2 ForceFieldTaskDocument that scoring reads.
    return {
        "structure": structure.as_dict(),
        "output": {"energy": energy, "structure": structure.as_dict()},
        "forcefield_name": force_field,
        "is_force_converged": True,
    }


@pytest.mark.parametrize("force", [False, True])
def test_gpaw_energies_refused_on_mp_hull_unless_forced(campaign_env, force):
    from genflow.workflows.score import record_and_score

    stores = campaign_env.stores
    cand = _relaxable(stores, "gpaw")
    doc = _ff_doc(cand.pmg_structure(), -7.4, "GPAW")
    out = record_and_score(
        stores,
        {cand.candidate_id: {"output": doc, "task_uuid": "u1", "uuids": ["u0", "u1"]}},
        hulls=["mp2021"],
        engine="gpaw",
        force=force,
    )
    stored = stores.candidates.find_one(by_id(cand.candidate_id))
    assert stored["state"] == "scored"
    assert stored["relax"]["mp_compatible"] is False
    assert stored["relax"]["task_uuids"] == ["u0", "u1"]
    score = stored["scores"]["mp2021"]
    if force:
        assert score["error"] is None and score["e_d"] is not None and not out["refused"]
    else:
        assert score["e_d"] is None and score["error"].startswith("refused: gpaw energies")
        assert out["refused"] == ["mp2021"] and not stored["hit_hulls"]


def test_failed_relax_is_a_row_with_its_reason(campaign_env):
    from genflow.workflows.score import record_and_score

    stores = campaign_env.stores
    cand = _relaxable(stores, "fail")
    out = record_and_score(
        stores, {cand.candidate_id: {"output": None}}, hulls=["mp2021"], engine="mlip"
    )
    stored = stores.candidates.find_one(by_id(cand.candidate_id))
    assert out["failed"] == 1 and stored["state"] == "rejected"
    assert stored["reject_reason"].startswith("relax_failed: mlip: relax/static produced no output")


@pytest.mark.slow
def test_optional_steps_no_gate_no_hulls(campaign_env, tmp_path):
    """CampaignMaker(gate_maker=None) relaxes all sane cells; a hull-less ScoreMaker records."""
    from jobflow.managers.local import run_locally

    from genflow.workflows.campaign import CampaignMaker, ImportStructuresMaker, ScoreMaker
    from genflow.workflows.relax import relax_static_maker

    stores = campaign_env.stores
    maker = CampaignMaker(
        generate_maker=ImportStructuresMaker(),
        gate_maker=None,
        relax_maker=relax_static_maker("mlip", fmax=0.1, steps=100),
        score_maker=ScoreMaker(hulls=()),
    )
    sources = [
        {"name": f, "text": (DATA / f).read_text()}
        for f in ("NaCl.cif", "nan_coords.json", "overlap.cif")
    ]
    flow = maker.make("optional", sources)
    run_locally(flow, store=stores.job_store, create_folders=True, root_dir=tmp_path, log=False)
    docs = {d["provenance"]["conditioning"]["source"]: d for d in stores.candidates.find()}
    assert docs["nan_coords.json"]["state"] == "rejected"
    assert docs["nan_coords.json"]["reject_reason"].startswith("validity: NaN")
    assert docs["overlap.cif"]["reject_reason"].startswith("validity: min distance")
    nacl = docs["NaCl.cif"]
    assert nacl["state"] == "relaxed" and nacl["scores"] == {}
    assert nacl["relax"]["engine"] == "mlip" and nacl["relax"]["energy_per_atom"] < -3
    assert nacl["gate"]["smact_valid"] is None  # SMACT did not run
