"""Novelty runs: a reference copy (0.03 Å rattle, 1 % strain) is rejected or flagged with the
reference's id and source; a genuinely new structure passes; references load idempotently."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from genflow.core.candidates import Candidate, CandidateState, get_candidate, insert_candidates
from genflow.core.references import insert_references, reference_sources
from genflow.workflows.gate.decisions import gate_candidates, novelty_mode
from genflow.workflows.references import file_reference_docs

PROV = {"model_name": "test", "checkpoint_hash": "0" * 16}


def new_structure() -> Structure:
    """Rocksalt LiF: no LiF row in the bundled set."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0] * 3, [0.5] * 3]
    )


def _candidates(stores, structures: list[Structure]) -> list[str]:
    cands = [Candidate.from_structure(s, "nov", PROV, 0, i) for i, s in enumerate(structures)]
    insert_candidates(stores.candidates, cands)
    return [c.candidate_id for c in cands]


@pytest.mark.parametrize("mode", ["reject", "flag"])
def test_campaign_gate_rejects_or_flags_a_reference_copy(stores, mode, reference_copy):
    ids = _candidates(stores, [reference_copy(), new_structure()])
    summary = gate_candidates(stores, ids, novelty=mode, dedupe=False, prerelax=False)
    copy, new = (get_candidate(stores.candidates, i) for i in ids)
    assert (copy.gate.novel, copy.gate.novelty_ref_id, copy.gate.novelty_source) == (
        False,
        "mp-22862",
        "mp_20",
    )
    if mode == "reject":
        assert copy.state == CandidateState.REJECTED
        assert copy.reject_reason == "novelty: matches reference mp-22862 (mp_20)"
        assert summary["reasons"] == {"novelty": 1}
    else:
        assert copy.state == CandidateState.GATED and summary["n_flagged_known"] == 1
    assert new.state == CandidateState.GATED and new.gate.novel is True
    # the fingerprint computed for the bundled reference is not stored: it is not in the DB
    assert reference_sources(stores.references) == {}


def test_novelty_off_and_bools():
    assert [novelty_mode(v) for v in (True, False, "flag", "off")] == [
        "reject", "off", "flag", "off"
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"gate\.novelty"):
        novelty_mode("maybe")


def test_user_references_load_once_and_gate_against_them(stores, tmp_path):
    lif = tmp_path / "lab" / "LiF-1.cif"
    lif.parent.mkdir()
    lif.write_text(new_structure().to(fmt="cif"))
    (tmp_path / "lab" / "broken.cif").write_text("data_x\n_cell_length_a 4\n")
    docs, bad = file_reference_docs(tmp_path / "lab", "my-lab")
    assert [d["ref_id"] for d in docs] == ["LiF-1"] and docs[0]["fingerprint"]["n_sites"] == 2
    assert [r.key for r in bad] == ["broken.cif"]
    assert insert_references(stores.references, docs).inserted == 1
    again = insert_references(stores.references, file_reference_docs(lif, "my-lab")[0])
    assert (again.inserted, again.existing) == (0, 1)
    assert reference_sources(stores.references)["my-lab"]["n"] == 1

    ids = _candidates(stores, [new_structure()])
    gate_candidates(stores, ids, dedupe=False, prerelax=False)
    cand = get_candidate(stores.candidates, ids[0])
    assert cand.state == CandidateState.REJECTED
    assert (cand.gate.novelty_ref_id, cand.gate.novelty_source) == ("LiF-1", "my-lab")


def test_spec_novelty_values():
    from genflow.campaign.spec_blocks import GateSettings

    assert GateSettings().novelty == "reject"
    assert GateSettings(novelty=True).novelty == "reject"
    assert GateSettings(novelty=False).novelty == "off"
    assert GateSettings(novelty="flag").novelty == "flag"
    with pytest.raises(ValueError):
        GateSettings(novelty="maybe")


def test_refs_cli_add_and_status(stores, tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from genflow.cli import app

    monkeypatch.setenv("GENFLOW_DB_URI", stores.uri)
    monkeypatch.setenv("GENFLOW_DB_NAME", stores.db_name)
    path = tmp_path / "refs.json"
    path.write_text(json.dumps([new_structure().as_dict(), {"sites": "nonsense"}]))
    run = CliRunner().invoke
    res = run(app, ["refs", "add", str(path), "--source", "lab", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["inserted"], out["existing"], len(out["rejected"])) == (1, 0, 1)
    res = run(app, ["refs", "add", str(path), "--source", "lab", "--json"])
    assert json.loads(res.stdout)["existing"] == 1
    status = json.loads(run(app, ["refs", "status", "--json"]).stdout)
    assert status["database"] == {"lab": {"n": 1, "n_formulas": 1, "n_fingerprinted": 1}}
    assert run(app, ["refs", "add", str(path)]).exit_code == 2  # PATH needs --source


def test_gnome_archive_layout_gives_gnome_ids(tmp_path):
    """GNoME's released CIF archive: ``by_id.zip`` holding ``by_id/<gnome id>.CIF``."""
    import zipfile

    archive = tmp_path / "by_id.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("by_id/0a1b2c3d4e.CIF", new_structure().to(fmt="cif"))
        zf.writestr("by_id/ffee.CIF", "data_broken\n")
    docs, bad = file_reference_docs(archive, "gnome")
    assert [(d["ref_id"], d["source"], d["reduced_formula"]) for d in docs] == [
        ("0a1b2c3d4e", "gnome", "LiF")
    ]
    assert [r.key for r in bad] == ["by_id.zip/by_id/ffee.CIF"]
