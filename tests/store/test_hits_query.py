"""Hits: filters, the walk back to task doc / candidate / checkpoint, and the raw pymongo query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jobflow import Flow, job, run_locally
from pymatgen.core import Lattice, Structure

from genflow.campaign.hits import find_hits, hits_filter, raw_pymongo_query, trace_hit, write_cifs
from genflow.core.candidates import Candidate, insert_candidates, record_scores, transition

pytestmark = pytest.mark.timeout(300)


@job(data="forces")
def fake_relax(structure: Structure) -> dict:
    """Stands in for the relax+static job: a task document with a structure and an energy."""
    return {"structure": structure, "energy_per_atom": -3.5, "forces": [[0.0, 0.0, 0.0]] * 500}


def _scored(stores, campaign, a, e_ds, ckpt="sha256:ckpt-1", task_uuids=None) -> Candidate:
    s = Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    prov = {"model_name": "unimat", "checkpoint_hash": ckpt, "conditioning": {"chemsys": "Cl-Na"}}
    c = Candidate.from_structure(s, campaign, prov, seed=3, index=int(a * 100))
    insert_candidates(stores.candidates, [c])
    transition(stores.candidates, c.candidate_id, "gated")
    uuids = task_uuids or []
    dft = {
        "engine": "vasp",
        "converged": True,
        "energy_per_atom": -3.5,
        "mp_compatible": True,
        "task_uuid": uuids[-1] if uuids else None,
        "task_uuids": uuids,
        "structure": s.as_dict(),
    }
    transition(stores.candidates, c.candidate_id, "relaxed", relax=dft)
    scores = {hull: {"e_d": e_d, "e_form": -2.0} for hull, e_d in e_ds.items()}
    record_scores(stores.candidates, {c.candidate_id: scores}, hit_threshold=0.0)
    return c


@pytest.fixture
def populated(stores, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relax = fake_relax(Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]))
    static = fake_relax(relax.output["structure"])
    run_locally(Flow([relax, static]), store=stores.job_store, ensure_success=True)
    stores.campaigns.insert_one({"name": "night-1", "checkpoint": "bundled"})
    hit = _scored(
        stores,
        "night-1",
        4.2,
        {"mp2021": -0.05, "gnome": 0.01},
        task_uuids=[relax.uuid, static.uuid],
    )
    near = _scored(stores, "night-1", 4.3, {"mp2021": 0.02, "gnome": -0.2})
    other = _scored(stores, "night-2", 4.4, {"mp2021": -0.01}, ckpt="sha256:ckpt-2")
    return stores, hit, near, other, (relax.uuid, static.uuid)


def test_find_hits_filters(populated) -> None:
    stores, hit, near, other, _ = populated
    ids = lambda hits: [h.candidate_id for h in hits]  # noqa: E731
    assert ids(find_hits(stores, "mp2021", max_ed=0.0)) == [hit.candidate_id, other.candidate_id]
    assert ids(find_hits(stores, "mp2021", max_ed=0.025)) == [
        hit.candidate_id,
        other.candidate_id,
        near.candidate_id,
    ]
    assert ids(find_hits(stores, "gnome", max_ed=0.0)) == [near.candidate_id]
    assert ids(find_hits(stores, "mp2021", 0.0, campaign="night-2")) == [other.candidate_id]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert find_hits(stores, "mp2021", 0.0, since=future) == []
    assert len(find_hits(stores, "mp2021", 0.0, since="2000-01-01")) == 2
    assert find_hits(stores, "mp2021", 0.0, limit=1)[0].e_d == -0.05
    top = find_hits(stores, "mp2021", 0.0)[0]
    assert (top.checkpoint_hash, top.model_name, top.engine) == ("sha256:ckpt-1", "unimat", "vasp")
    assert top.as_dict()["scored_at"].startswith(str(datetime.now(UTC).year))
    # A hull file is found under its stem, the key scoring stored it under.
    assert find_hits(stores, "hulls/mp2021.csv", 0.0) == find_hits(stores, "mp2021", 0.0)
    with pytest.raises(ValueError, match="cannot key scores"):
        find_hits(stores, "$$", 0.0)
    with pytest.raises(ValueError, match="expected an ISO date"):
        hits_filter("mp2021", 0.0, since="last tuesday")


def test_default_threshold_comes_from_settings(populated, monkeypatch) -> None:
    stores, *_ = populated
    monkeypatch.setenv("GENFLOW_HIT_THRESHOLD", "0.03")
    assert len(find_hits(stores, "mp2021")) == 3


def test_trace_hit_walks_back_to_task_candidate_and_checkpoint(populated) -> None:
    stores, hit, near, *_, (relax_uuid, static_uuid) = populated
    trace = trace_hit(stores, hit.candidate_id, hull="mp2021")
    assert trace.problems == []
    assert trace.candidate.candidate_id == hit.candidate_id
    assert trace.task_doc["uuid"] == static_uuid
    assert trace.task_doc["output"]["energy_per_atom"] == -3.5
    assert [d["uuid"] for d in trace.task_docs] == [relax_uuid, static_uuid]
    assert trace.task_doc["output"]["forces"]["store"] == "data"  # blob not loaded by default
    assert trace.checkpoint["checkpoint_hash"] == "sha256:ckpt-1"
    assert trace.checkpoint["seed"] == 3 and trace.checkpoint["model_name"] == "unimat"
    assert trace.campaign == {"name": "night-1", "checkpoint": "bundled"}
    loaded = trace_hit(stores, hit.candidate_id, load_blobs=True)
    assert len(loaded.task_doc["output"]["forces"]) == 500
    # Broken links are reported as rows, not raised.
    broken = trace_hit(stores, near.candidate_id, hull="nohull")
    assert broken.task_doc is None
    assert any("no score on hull 'nohull'" in p for p in broken.problems)
    assert any("relax.task_uuid not recorded" in p for p in broken.problems)
    with pytest.raises(KeyError):
        trace_hit(stores, "gf-unknown")


def test_raw_pymongo_query_matches_find_hits(populated, capsys) -> None:
    stores, *_ = populated
    code = raw_pymongo_query(stores.uri, stores.db_name, "mp2021", 0.0)
    exec(compile(code, "README-snippet", "exec"), {})  # the README's snippet, run verbatim
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        f"{h.formula} {h.e_d} {h.checkpoint_hash}" for h in find_hits(stores, "mp2021", 0.0)
    ]
    assert len(lines) == 2


def test_write_cifs(populated, tmp_path: Path) -> None:
    stores, *_ = populated
    hits = find_hits(stores, "mp2021", 0.0)
    paths = write_cifs(stores, hits, tmp_path / "cifs")
    assert [p.name for p in paths] == [f"NaCl_{h.candidate_id}.cif" for h in hits]
    assert Structure.from_file(paths[0]).composition.reduced_formula == "NaCl"


def _cli(stores, monkeypatch, *args: str):
    import json

    from typer.testing import CliRunner

    from genflow.cli import app

    monkeypatch.setenv("GENFLOW_DB_URI", stores.uri)
    monkeypatch.setenv("GENFLOW_DB_NAME", stores.db_name)
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_hits_campaign_uses_its_own_threshold(populated, monkeypatch) -> None:
    """One meaning of "hit": `hits --campaign X` reads X's score.hit_threshold, as status does."""
    from genflow.campaign.status import campaign_report

    stores, hit, near, *_ = populated
    stores.campaigns.update_one(
        {"name": "night-1"}, {"$set": {"spec": {"score": {"hit_threshold": 0.025}}}}
    )
    monkeypatch.setenv("GENFLOW_HIT_THRESHOLD", "0.0")
    rows = _cli(stores, monkeypatch, "hits", "--campaign", "night-1")
    assert [r["candidate_id"] for r in rows] == [hit.candidate_id, near.candidate_id]
    status_hits = campaign_report(stores, "night-1", hulls=["mp2021"])["hits"]
    assert [h["candidate_id"] for h in status_hits] == [r["candidate_id"] for r in rows]
    # --max-ed still overrides; without --campaign the settings threshold holds
    rows = _cli(stores, monkeypatch, "hits", "--campaign", "night-1", "--max-ed", "0")
    assert [r["candidate_id"] for r in rows] == [hit.candidate_id]
    assert len(_cli(stores, monkeypatch, "hits")) == 2
    assert rows[0]["seed"] == 3 and rows[0]["sample_index"] == 420
    assert rows[0]["conditioning"] == {"chemsys": "Cl-Na"}


def test_trace_prints_the_chain_to_the_generator_sample(populated, monkeypatch) -> None:
    stores, hit, *_, (_, static_uuid) = populated
    chain = _cli(stores, monkeypatch, "trace", hit.candidate_id)
    assert chain["hit"]["is_hit"] == {"mp2021": True, "gnome": False}
    assert chain["score"]["scores"]["mp2021"]["e_d"] == -0.05 and chain["score"]["scored_at"]
    assert chain["relax"]["task_uuid"] == static_uuid and chain["relax"]["task_found"]
    assert chain["gate"]["gated_at"] and chain["candidate"]["campaign"] == "night-1"
    gen = chain["generator"]
    assert (gen["checkpoint_hash"], gen["seed"], gen["sample_index"]) == ("sha256:ckpt-1", 3, 420)
    assert gen["conditioning"] == {"chemsys": "Cl-Na"} and chain["problems"] == []

    from typer.testing import CliRunner

    from genflow.cli import app

    text = CliRunner().invoke(app, ["trace", hit.candidate_id]).stdout
    assert "seed 3 index 420" in text and "chemsys" in text
    assert CliRunner().invoke(app, ["trace", "gf-unknown"]).exit_code == 1


def test_trace_takes_the_short_id_hits_shows(populated, monkeypatch) -> None:
    """`genflow hits` shows 11 characters of an id; `genflow trace` takes them back."""
    from typer.testing import CliRunner

    from genflow.campaign.view import hits_table
    from genflow.cli import app
    from genflow.core.candidates import resolve_candidate_id

    stores, hit, *_ = populated
    table = hits_table([h.as_dict() for h in find_hits(stores, "mp2021", max_ed=0.0)])
    short = next(iter(table.columns[0].cells))
    assert len(short) == 11 and hit.candidate_id.startswith(short)
    chain = _cli(stores, monkeypatch, "trace", short)
    assert chain["candidate_id"] == hit.candidate_id
    assert resolve_candidate_id(stores.candidates, hit.candidate_id) == hit.candidate_id
    with pytest.raises(ValueError, match="matches several candidates"):
        resolve_candidate_id(stores.candidates, "gf-")  # every id starts so: say which
    with pytest.raises(KeyError):
        resolve_candidate_id(stores.candidates, "gf-zzz")
    res = CliRunner().invoke(app, ["trace", "gf-"])
    assert res.exit_code == 2 and "give more of the id" in res.output


def test_plain_hits_says_which_hull_and_threshold(populated, monkeypatch) -> None:
    from typer.testing import CliRunner

    from genflow.cli import app

    stores, *_ = populated
    monkeypatch.setenv("GENFLOW_DB_URI", stores.uri)
    monkeypatch.setenv("GENFLOW_DB_NAME", stores.db_name)
    monkeypatch.setenv("GENFLOW_HIT_THRESHOLD", "0.0")
    runner = CliRunner(env={"COLUMNS": "80"})
    text = runner.invoke(app, ["hits"]).stdout
    assert "hull mp2021; a hit has E_d < 0 eV/atom (the HIT_THRESHOLD setting)" in text
    assert "hits on mp2021 (2)" in text
    # the caption wraps on word breaks inside 80 columns (it was cut mid-word, "(--hide-gaps")
    assert "(--hide-gaps);" in text and all(len(line) <= 80 for line in text.splitlines())
    text = runner.invoke(app, ["hits", "--max-ed", "0.05"]).stdout
    assert "E_d < 0.05 eV/atom (--max-ed)" in text
