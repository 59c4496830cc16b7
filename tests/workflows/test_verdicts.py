"""Verdicts on the relaxed cell (``workflows.verdicts``) on real data: the bundled MP-20/Perov-5
references, the bundled ``mp2021`` hull, the demo's two hits as its CHGNet relax left them
(``tests/test_data/structures/demo_relaxed``) and MP-type structures of the two crystals they
rediscover (``tests/test_data/structures/mp_refs``).

No MLIP here: relaxed structures are given. The CHGNet runs (a perturbed reference put through
a campaign, two perturbed copies of one crystal) are in ``tests/campaign/test_sun.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure
from verdict_data import ff_doc, gated, rocksalt

from genflow.core.candidates import by_id
from genflow.hull.coverage import composition_entry
from genflow.hull.loaders import load_hull
from genflow.workflows.references import (
    file_reference_docs,
    reference_docs,
    reference_set_sizes,
)
from genflow.workflows.verdicts import (
    REDISCOVERY_EV,
    novelty_verdict,
    relaxed_verdicts,
    structure_type,
)

STRUCTURES = Path(__file__).resolve().parents[1] / "test_data" / "structures"
MP_REFS, DEMO = STRUCTURES / "mp_refs", STRUCTURES / "demo_relaxed"
NEW_WORD = re.compile(r"\bnew\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def mp2021():
    return load_hull("mp2021")


@pytest.fixture(scope="module")
def demo():
    """The demo's two hits as ``scripts/dev demo`` relaxes them (CHGNet): BaTiO3 P1 → P4mm,
    KNbO3 P1 → Amm2 (5 sites), with their relaxed energies (eV/atom)."""
    rows = [json.loads((DEMO / f"{f}.json").read_text()) for f in ("BaTiO3", "KNbO3")]
    return {r["reduced_formula"]: r for r in rows}


def _judge(demo, mp2021, extra_refs=(), offsets=None):
    """Verdicts of the demo's relaxed cells (``offsets``: energies moved to that E_d above
    the composition's mp2021 entry instead of the demo's own)."""
    items = [(f, Structure.from_dict(r["relaxed"])) for f, r in demo.items()]
    energies = {f: r["relax_energy_per_atom"] for f, r in demo.items()}
    for f, off in (offsets or {}).items():
        energies[f] = composition_entry(mp2021, f).energy_per_atom + off
    refs = reference_docs(list(demo)) + list(extra_refs)
    sources = sorted({*reference_set_sizes(), *(d["source"] for d in extra_refs)})
    return relaxed_verdicts(items, references=refs, sources=sources, hull=mp2021,
                            hull_name="mp2021", energies=energies)  # fmt: skip


def test_hull_entry_of_a_composition(mp2021):
    kno = composition_entry(mp2021, "KNbO3")
    assert (kno.ref_id, kno.n_sites, kno.on_hull) == ("mp-7375", 5, True)
    assert composition_entry(mp2021, "BaTiO3").ref_id == "mp-5020"
    assert composition_entry(mp2021, "Xe2Rn") is None


def test_hull_vertex_compositions_are_never_novel_without_their_structure(mp2021, demo):
    verdicts = _judge(demo, mp2021)
    bto, kno = verdicts["BaTiO3"], verdicts["KNbO3"]
    # no BaTiO3 structure in the bundled set: unverified, naming the hull's vertex
    assert (bto.novelty, bto.novelty_ref_id, bto.novelty_compared) == ("unverified", "mp-5020", 0)
    # Perov-5's cubic KNbO3 was compared and does not match, but mp-7375 (5 sites, 12 meV
    # away) was never compared: a probable rediscovery, not a new material
    assert (kno.novelty, kno.novelty_ref_id, kno.novelty_compared) == ("unverified", "mp-7375", 1)
    assert "probable rediscovery of mp-7375" in kno.novelty_reason
    assert kno.rediscovery_of == "mp-7375" and kno.novelty_source == "mp2021"
    assert set(bto.novelty_sources) == {"carbon_24", "mp_20", "perov_5"}
    assert not any(NEW_WORD.search(v.novelty_reason) for v in verdicts.values())


def test_demo_hits_structure_type(demo):
    got = {
        f: structure_type(Structure.from_dict(r["generated"]), Structure.from_dict(r["relaxed"]))
        for f, r in demo.items()
    }
    assert {f: (t["spacegroup_generated"], t["spacegroup_relaxed"]) for f, t in got.items()} == {
        "BaTiO3": ("P1 (1)", "P4mm (99)"),
        "KNbO3": ("P1 (1)", "Amm2 (38)"),
    }
    # AFLOW's library: both are (distorted) perovskites
    assert {t["prototype"] for t in got.values()} == {"AB3C_cP5_221_a_c_b"}


def test_far_from_the_vertex_with_structures_compared_is_novel(mp2021, demo):
    # 0.2 eV/atom above mp-7375, one KNbO3 structure compared, none matches: novel
    kno = _judge({"KNbO3": demo["KNbO3"]}, mp2021, offsets={"KNbO3": 0.2})["KNbO3"]
    assert kno.novelty == "novel" and kno.novelty_compared == 1 and kno.rediscovery_of is None
    assert kno.novelty_reason.startswith("new: 1 reference structure(s) of KNbO3")


def test_matching_mp_structures_make_the_demo_hits_known(mp2021, demo):
    mp_docs, bad = file_reference_docs(MP_REFS, "mp")
    assert not bad and sorted(d["ref_id"] for d in mp_docs) == ["mp-5986", "mp-7375"]
    verdicts = _judge(demo, mp2021, extra_refs=mp_docs)
    found = {f: (v.novelty, v.novelty_ref_id, v.novelty_source) for f, v in verdicts.items()}
    assert found == {"BaTiO3": ("known", "mp-5986", "mp"), "KNbO3": ("known", "mp-7375", "mp")}


def test_novelty_verdict_rules():
    entry = composition_entry(load_hull("mp2021"), "KNbO3")
    e0 = entry.energy_per_atom
    common = {"match": None, "sources": ["mp_20"], "entry": entry, "hull": "mp2021"}
    # never novel with nothing compared, whatever the energy
    assert novelty_verdict("KNbO3", compared=0, energy_per_atom=e0 + 1, **common)["novelty"] == (
        "unverified"
    )
    # a rediscovery needs the cell size too
    near = {"compared": 1, "compared_ids": ["x"], "energy_per_atom": e0 + REDISCOVERY_EV / 2}
    assert novelty_verdict("KNbO3", n_sites=5, **near, **common)["novelty"] == "unverified"
    assert novelty_verdict("KNbO3", n_sites=10, **near, **common)["novelty"] == "novel"
    # no energy: an uncompared hull entry leaves it unverified
    bare = {**near, "energy_per_atom": None}
    assert novelty_verdict("KNbO3", n_sites=5, **bare, **common)["novelty"] == "unverified"
    # the vertex itself compared (and not matched): novel
    compared = {**near, "compared_ids": ["mp-7375"]}
    assert novelty_verdict("KNbO3", n_sites=5, **compared, **common)["novelty"] == "novel"
    # a composition the hull lacks, nothing compared: novel, saying so
    out = novelty_verdict("Xe2Rn", match=None, compared=0, sources=["mp_20"], entry=None,
                          hull="mp2021")  # fmt: skip
    assert (
        out["novelty"] == "novel" and "composition absent from hull mp2021" in out["novelty_reason"]
    )
    known = novelty_verdict("NaCl", match="mp_20/mp-22862", compared=1, sources=["mp_20"])
    assert (known["novelty"], known["novelty_ref_id"], known["novelty_source"]) == (
        "known", "mp-22862", "mp_20",
    )  # fmt: skip


def _score(stores, cands, energies):
    from genflow.workflows.score import record_and_score

    results = {
        c.candidate_id: {"output": ff_doc(s, e), "task_uuid": f"u-{c.candidate_id}"}
        for (c, s), e in zip(cands, energies, strict=True)
    }
    return record_and_score(stores, results, hulls=["mp2021"], engine="mlip", hit_threshold=0.1)


def test_relaxed_duplicates_across_campaigns_are_one_hit(stores, mp2021, monkeypatch):
    """A candidate of a later campaign relaxing into an earlier one's crystal is no hit; hits
    carry S, U, N, the verdict and the space groups; --sun keeps the novel, stable ones."""
    from genflow.campaign.hits import find_hits

    e_nacl = composition_entry(mp2021, "NaCl").energy_per_atom - 0.005
    nacl = rocksalt("Na", "Cl", 5.64)
    # generated as a P1-looking rattled cell, relaxed to rocksalt NaCl (mp-22862 in MP-20)
    gen = nacl.copy()
    gen.perturb(0.3, 0.2, seed=1)
    first = gated(stores, gen, "nacl-1", campaign="c1")
    out1 = _score(stores, [(first, nacl)], [e_nacl])
    assert out1["novelty"] == {"known": 1} and not out1["duplicates"]
    # a later campaign: a strained primitive cell of the same crystal
    prim = nacl.get_primitive_structure()
    prim.apply_strain(0.03)
    gen2 = prim.copy()
    gen2.perturb(0.25, 0.2, seed=2)
    later = gated(stores, gen2, "nacl-2", campaign="c2")
    # and a new crystal: rocksalt ZnS, below the hull, ZnS structures in MP-20 do not match it
    zns = rocksalt("Zn", "S", 5.06)
    e_zns = composition_entry(mp2021, "ZnS").energy_per_atom - 0.05
    new = gated(stores, zns, "zns", campaign="c2")
    out2 = _score(stores, [(later, prim), (new, zns)], [e_nacl, e_zns])
    assert out2["duplicates"] == {later.candidate_id: first.candidate_id}

    doc = stores.candidates.find_one(by_id(later.candidate_id))
    assert doc["verdict"]["duplicate_of"] == first.candidate_id
    assert doc["hit_hulls"] == [] and doc["is_hit"] == {"mp2021": False}
    hits = {h.candidate_id: h for h in find_hits(stores, "mp2021", max_ed=0.1)}
    assert set(hits) == {first.candidate_id, new.candidate_id}
    h = hits[first.candidate_id].as_dict()
    assert (h["novelty"], h["novelty_ref_id"], h["novelty_source"]) == ("known", "mp-22862",
                                                                          "mp_20")  # fmt: skip
    assert (
        h["spacegroup_relaxed"] == "Fm-3m (225)"
        and h["spacegroup_generated"] != h["spacegroup_relaxed"]
    )
    assert h["prototype"] and (h["stable"], h["unique"], h["novel"], h["sun"]) == (
        True, True, False, False,
    )  # fmt: skip
    z = hits[new.candidate_id].as_dict()
    assert z["novelty"] == "novel" and z["novelty_compared"] >= 1 and z["sun"] and z["msun"]
    assert [x.candidate_id for x in find_hits(stores, "mp2021", max_ed=0.1, sun="sun")] == [
        new.candidate_id
    ]
    _check_cli(stores, monkeypatch, first.candidate_id, new.candidate_id)


def _check_cli(stores, monkeypatch, known_id: str, novel_id: str) -> None:
    """``genflow hits`` (--json, --sun, --msun, the table) and ``trace`` show the verdicts."""
    import json

    from typer.testing import CliRunner

    from genflow.cli import app

    monkeypatch.setenv("GENFLOW_DB_URI", stores.uri)
    monkeypatch.setenv("GENFLOW_DB_NAME", stores.db_name)
    runner = CliRunner(env={"COLUMNS": "200"})

    def run(*args: str) -> str:
        res = runner.invoke(app, list(args))
        assert res.exit_code == 0, res.output
        return res.stdout

    rows = json.loads(run("hits", "--max-ed", "0.1", "--json"))
    assert {r["candidate_id"]: r["novelty"] for r in rows} == {known_id: "known",
                                                               novel_id: "novel"}  # fmt: skip
    assert all({"stable", "unique", "novel", "sun", "msun", "novelty_reason"} <= set(r)
               for r in rows)  # fmt: skip
    for flag in ("--sun", "--msun"):
        only = json.loads(run("hits", "--max-ed", "0.1", flag, "--json"))
        assert [r["candidate_id"] for r in only] == [novel_id]
    text = run("hits", "--max-ed", "0.1")
    assert "S U N" in text and "known mp-22862" in text and "P1→Fm-3m" in text
    assert f"{known_id[:11]} known: matches mp-22862 (mp_20), relaxed cell" in text
    chain = json.loads(run("trace", known_id, "--json"))
    assert chain["verdict"]["novelty"] == "known" and chain["verdict"]["duplicate_of"] is None
    assert "verdict    : known" in run("trace", known_id)


def test_nothing_compared_and_no_hull_asked_is_unverified():
    s = Structure(Lattice.cubic(3.0), ["Si"], [[0, 0, 0]])
    out = relaxed_verdicts([("a", s)], references=[], sources=[])
    assert out["a"].novelty == "unverified" and out["a"].novelty_compared == 0


def test_gate_json_rows_carry_the_three_valued_novelty(tmp_path, monkeypatch):
    """``genflow gate --json`` rows: the same verdicts, judged on the cell as given."""
    from genflow.campaign.gate_files import gate_inputs

    monkeypatch.delenv("GENFLOW_DB_URI", raising=False)
    d = tmp_path / "in"
    d.mkdir()
    for name in ("mp-5986.cif", "mp-7375.cif"):
        (d / name).write_text((MP_REFS / name).read_text())
    rocksalt("Zn", "S", 5.06).to(filename=str(d / "zns.cif"))
    rocksalt("Na", "Xe", 6.4).to(filename=str(d / "naxe.cif"))  # no NaXe on the hull
    out = gate_inputs([d], novelty="flag", smact=False)
    rows = {r["key"]: r for r in out["rows"]}
    assert rows["mp-5986.cif"]["novelty"] == "unverified"  # no BaTiO3 structure compared
    assert rows["mp-5986.cif"]["novelty_ref_id"] == "mp-5020"
    kno = rows["mp-7375.cif"]  # Perov-5's cubic KNbO3 compared; mp-7375 itself was not
    assert (kno["novelty"], kno["novelty_compared"]) == ("unverified", 1)
    assert "no energy to compare with mp-7375" in kno["novelty_reason"]
    # ZnS structures compared, none matches, but mp2021's ZnS entry was not among them and
    # there is no energy: unverified. NaXe: nothing to compare and absent from the hull: novel
    zns, naxe = rows["zns.cif"], rows["naxe.cif"]
    assert zns["novelty"] == "unverified" and zns["novelty_compared"] >= 1
    assert (naxe["novelty"], naxe["novelty_compared"]) == ("novel", 0)
    assert "composition absent from hull mp2021" in naxe["novelty_reason"]
    assert naxe["novelty_geometry"] == "as given"
    assert out["summary"]["novelty"] == {"unverified": 3, "novel": 1}
    assert out["summary"]["reference_sources"] == ["carbon_24", "mp_20", "perov_5"]


def test_demo_hits_rejudged_after_refs_add(stores, demo, monkeypatch):
    """The demo's relaxed cells scored as a campaign: ``unverified``; after ``refs add`` of the
    MP structures, ``genflow campaign judge`` makes them ``known`` with their ids."""
    import json

    from typer.testing import CliRunner

    from genflow.campaign.hits import find_hits
    from genflow.cli import app

    stores.campaigns.insert_one(
        {"name": "demo", "spec": {"hulls": ["mp2021"], "score": {"hit_threshold": 0.1}}}
    )
    cands = [
        (gated(stores, Structure.from_dict(r["generated"]), f, campaign="demo"),
         Structure.from_dict(r["relaxed"]))
        for f, r in demo.items()
    ]  # fmt: skip
    out = _score(stores, cands, [r["relax_energy_per_atom"] for r in demo.values()])
    assert out["novelty"] == {"unverified": 2}
    hits = find_hits(stores, "mp2021", max_ed=0.1, campaign="demo")
    assert {h.reduced_formula: round(h.e_d, 3) for h in hits} == {"BaTiO3": 0.009, "KNbO3": 0.012}

    monkeypatch.setenv("GENFLOW_DB_URI", stores.uri)
    monkeypatch.setenv("GENFLOW_DB_NAME", stores.db_name)
    runner = CliRunner(env={"COLUMNS": "200"})
    added = runner.invoke(app, ["refs", "add", str(MP_REFS), "--source", "mp"])
    assert added.exit_code == 0, added.output
    res = runner.invoke(app, ["campaign", "judge", "demo", "--json"])
    assert res.exit_code == 0, res.output
    judged = json.loads(res.stdout)
    assert judged["novelty"] == {"known": 2} and judged["duplicates"] == 0
    (sun,) = judged["sun"]
    assert (sun["n_sun"], sun["n_msun"], sun["n_total"]) == (0, 0, 2)
    assert sun["references"]["mp"] == 2 and sun["n_references"] > 20_000
    hits = find_hits(stores, "mp2021", max_ed=0.1, campaign="demo")
    assert {h.reduced_formula: (h.novelty, h.novelty_ref_id) for h in hits} == {
        "BaTiO3": ("known", "mp-5986"),
        "KNbO3": ("known", "mp-7375"),
    }
    assert {h.reduced_formula: h.spacegroup_relaxed for h in hits} == {
        "BaTiO3": "P4mm (99)", "KNbO3": "Amm2 (38)",
    }  # fmt: skip
