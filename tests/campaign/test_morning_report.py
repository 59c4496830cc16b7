"""The morning report (``genflow report``) of a finished campaign on the test database."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from genflow.campaign.runner import run_campaign
from genflow.campaign.spec import load_spec

from .conftest import DATA

FILES = ["NaCl.cif", "Si.cif", "malformed.cif", "overlap.cif"]
NIGHT = "morning-2025-01-02"


@pytest.mark.slow
def test_report_of_a_finished_campaign(campaign_env, structures_spec, tmp_path, require_module):
    Image = require_module("PIL.Image")
    from genflow.evaluation.report import build_report, latest_nightly, write_nightly_report

    stores = campaign_env.stores
    path = structures_spec(FILES, name="morning", score={"hit_threshold": 2.0})
    spec = load_spec(path)
    # the campaign runs as one night of the spec; an earlier night exists only as a record
    stores.campaigns.insert_one({"name": "morning-2025-01-01", "state": "completed"})
    run = run_campaign(spec, name=NIGHT, stores=stores, root_dir=tmp_path / "runs").as_dict()
    assert not run["failed_jobs"] and run["counts"]["scored"] == 2

    # an imported set: compositions + energies per atom, one composition shared with the night
    imported = tmp_path / "imported.csv"
    imported.write_text("composition,energy_per_atom\nNaCl,-3.55\nSi,-5.30\nKBr,-3.1\n")
    out = tmp_path / "report"
    report = build_report(stores, NIGHT, out, others=[str(imported)])
    md = (out / "report.md").read_text()
    assert md.startswith(f"# Campaign {NIGHT}\n")
    for stage, n in {"generated": 4, "gated": 4, "relaxed": 2, "scored": 2}.items():
        assert f"| {stage} | {n} |" in md
    assert report["failure_counts"] == {"parse": 1, "validity": 1}
    assert "| parse | 1 |" in md and "| validity | 1 |" in md
    hits = {h["formula"]: h for h in report["hits"]}
    scored = stores.candidates.find({"campaign": NIGHT, "state": "scored"}, {"formula": 1})
    assert sorted(hits) == sorted(d["formula"] for d in scored)  # threshold 2 eV/atom: all
    for h in report["hits"]:
        # provenance: an imported file's content hash, the candidate id, engine and E_d
        doc = stores.candidates.find_one({"candidate_id": h["candidate_id"]})
        source = doc["provenance"]["conditioning"]["source"]
        digest = hashlib.sha256((DATA / source).read_bytes()).hexdigest()[:16]
        assert h["checkpoint_hash"] == digest and h["model_name"] == "import"
        row = (f"| {h['formula']} | mp2021 | {h['e_d']:.4f} | S{'✓' if h['stable'] else '✗'} U✓ "
               f"N{'✓' if h['novel'] else '✗'} | {h['novelty']}: {h['novelty_reason']} | "
               f"{h['spacegroup_generated']} → {h['spacegroup_relaxed']} | ")  # fmt: skip
        assert row in md
        assert f"| {h['engine']} | {h['checkpoint_hash']} | {h['candidate_id']} |" in md
        assert h["engine"] and h["engine"].startswith("mlip")
    assert set(report["plots"]) == {"funnel", "rejections", "e_d_mp2021", "hits_periodic_table",
                                    "delta_e_form_0_mp2021", "sites_per_structure"}  # fmt: skip
    for name, png in report["plots"].items():
        caption = report["captions"][name]  # what the plot shows, not its file name
        assert f"![{caption}]({name}.png)" in md and caption != name
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
            im.verify()
    assert len(report["e_d"]["mp2021"]) == 2
    (sun,) = report["sun"]  # SUN / MSUN with the reference set named and sized
    assert sun["hull"] == "mp2021" and sun["n_total"] == 4 and sun["n_judged"] == 2
    assert sun["n_references"] == sum(sun["references"].values()) > 10_000
    assert f"| mp2021 | 4 | 2 | {sun['n_sun']} | " in md and "reference structures (" in md
    _check_tables(report, md, stores, imported)
    _check_sites(report, md, stores, out)
    _check_html(report, out)
    _check_rounds_and_strata(stores, tmp_path)

    # --nightly SPEC: the latest <name>-<date> of the spec; nightly's writer: the night before
    assert latest_nightly(stores, "morning") == NIGHT
    assert latest_nightly(stores, "morning", before=NIGHT) == "morning-2025-01-01"
    assert latest_nightly(stores, "mor") is None
    written = write_nightly_report(stores, "morning", tmp_path / "nightly", before="z")
    assert written == tmp_path / "nightly" / NIGHT / "report.html" and written.is_file()
    assert (written.parent / "report.md").is_file()
    assert written.read_text().count('src="data:image/png;base64,') == 5  # no other set: no Δ

    from genflow.cli import app

    runner = CliRunner(env={"COLUMNS": "200"})
    res = runner.invoke(app, ["report", "--nightly", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["campaign"] == NIGHT
    res = runner.invoke(app, ["report", NIGHT, "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"# Campaign {NIGHT}") and (tmp_path / "cli/funnel.png").is_file()
    res = runner.invoke(app, ["report"])
    assert res.exit_code == 2 and "CAMPAIGN name or --nightly SPEC" in res.output
    res = runner.invoke(app, ["report", NIGHT, str(imported), "--json", "--training-rows", "0"])
    assert res.exit_code == 0, res.output
    pairs = json.loads(res.stdout)["pairs"]
    assert pairs == json.loads(json.dumps(report["pairs"]))
    assert json.loads(res.stdout)["sites"]["training"] == "left out (training_rows=0)"
    res = runner.invoke(app, ["report", NIGHT, "no-such-set"])
    assert res.exit_code == 2 and "not a campaign in the store, a file" in res.output

    # `genflow nightly --report`: submits the next night, writes the report of the one that ran
    res = runner.invoke(app, ["nightly", str(path), "--date", "2025-01-03", "--report",
                              str(tmp_path / "reports"), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    night = json.loads(res.stdout)
    assert night["campaign"] == "morning-2025-01-03" and night["submitted"]
    page = tmp_path / "reports" / NIGHT / "report.html"
    assert night["report"] == str(page) and (page.parent / "report.md").is_file()
    assert page.read_text().count('src="data:image/png;base64,') == 5


def _check_tables(report, md, stores, imported) -> None:
    """Table 3 per set, Table 2 for the pair (re-derived here), conditional rows: all filled."""
    from pymatgen.core import Composition

    from genflow.hull import load_hull

    sets = {r["set"]: r for r in report["sets"]}
    assert sets[NIGHT]["n_rows"] == 4 and sets[NIGHT]["n_scored"] == 2  # failed rows count
    assert sets["imported.csv"]["n_rows"] == 3 and sets["imported.csv"]["n_scored"] == 3
    assert sets[NIGHT]["n_metastable"] >= sets[NIGHT]["n_stable"] >= 0
    (pair,) = report["pairs"]
    docs = list(
        stores.candidates.find({"campaign": NIGHT, "state": "scored"}, {"formula": 1, "scores": 1})
    )
    mine = {Composition(d["formula"]).reduced_formula: d["scores"]["mp2021"]["e_form"]
            for d in docs}  # fmt: skip
    e_ds = {Composition(d["formula"]).reduced_formula: d["scores"]["mp2021"]["e_d"]
            for d in docs}  # fmt: skip
    theirs = load_hull("mp2021").score(["NaCl", "Si"], [-3.55, -5.30])
    expected = [mine[f] - s.e_form for f, s in zip(["NaCl", "Si"], theirs, strict=True)]
    assert pair["a"] == NIGHT and pair["b"] == "imported.csv" and pair["n_matched"] == 2
    assert pair["n_only_b"] == 1
    assert pair["delta_e_form"] == pytest.approx(sum(expected) / 2, abs=1e-9)
    assert pair["e_form_reduction_rate"] == sum(d < 0 for d in expected) / 2
    cond = report["conditional"]
    assert {r["composition"] for r in cond["rows"]} >= {"NaCl", "Si"}
    best = {r["composition"]: r["best_e_d"] for r in cond["rows"]}
    assert best["NaCl"] == pytest.approx(e_ds["NaCl"]) and best["Si"] == pytest.approx(e_ds["Si"])
    for hit in report["hits"]:
        reduced = Composition(hit["formula"]).reduced_formula
        assert best[reduced] == pytest.approx(hit["e_d"]), (reduced, best, hit["e_d"])
        assert f"| {reduced} | 1 | 1 | 1 | {hit['e_d']:.4f} |" in md
    assert cond["convergence_rate"] == 1.0  # both relaxes converged
    for title in ("## Sets on each hull", "## Pairs of sets", "## Conditional generation"):
        body = md.split(title, 1)[1].split("\n## ", 1)[0]
        assert body.count("\n| ") >= 2, f"{title}: empty table"  # header + at least one row
    assert f"| {NIGHT} | imported.csv | mp2021 | {pair['delta_e_form']:.4f} |" in md


def _check_sites(report, md, stores, out) -> None:
    """Sites per structure: the candidates' generated structures counted here, one by one,
    against the report's numbers; the imported formulas (all reduced) are named, not compared."""
    from collections import Counter

    from pymatgen.core import Structure

    docs = list(stores.candidates.find({"campaign": NIGHT}, {"structure": 1}))
    counts = [len(Structure.from_dict(d["structure"])) if d.get("structure") else None
              for d in docs]  # fmt: skip
    assert None in counts and len(set(counts)) >= 3  # malformed.cif has no structure
    tally = Counter("unreadable" if c is None else str(c) for c in counts)
    sites = report["sites"]
    (row,) = sites["rows"]  # imported.csv has no counts
    assert row["set"] == NIGHT and row["kind"] == "campaign" and row["n"] == len(docs) == 4
    assert row["hist"] == {k: v / 4 for k, v in tally.items()}
    assert list(row["hist"])[-1] == "unreadable"
    readable = [c for c in counts if c is not None]
    assert row["mean"] == pytest.approx(sum(readable) / len(readable))
    assert row["unreadable_share"] == 0.25 and row["empty_share"] == 0.0
    assert "only reduced formulas" in sites["skipped"]["imported.csv"]
    assert "'structures' samples no trained checkpoint" in sites["training"]
    assert (out / "sites_per_structure.png").stat().st_size > 1000
    assert "imported.csv: no structures" in report["captions"]["sites_per_structure"]
    assert f"| {NIGHT} | campaign | 4 | {row['mean']:.2f} | " in md
    assert "| 0.000 | 0.250 | – | – | – |" in md  # empty, no structure; no set to compare


def _check_rounds_and_strata(stores, tmp_path) -> None:
    """A candidate re-scored on round 1 counts in both rounds; strata from a CSV via the CLI."""
    from genflow.cli import app
    from genflow.evaluation.report import build_report

    scored = {"campaign": NIGHT, "state": "scored"}
    round0 = [d["scores"]["mp2021"]["e_d"] for d in stores.candidates.find(scored)]
    doc = stores.candidates.find_one(scored)
    old = doc["scores"]["mp2021"]
    stores.candidates.update_one({"_id": doc["_id"]}, {"$set": {
        "score_rounds.mp2021.0": old,
        "scores.mp2021": {**old, "e_d": -0.5, "round": 1},
    }})  # fmt: skip
    rounds = {r["round"]: r for r in build_report(stores, NIGHT)["rounds"]}
    assert rounds[0]["n_scored"] == 2 and rounds[1]["n_scored"] == 1
    assert rounds[0]["n_stable"] == sum(e < 0 for e in round0) and rounds[1]["n_stable"] == 1
    stores.candidates.update_one({"_id": doc["_id"]}, {"$set": {"scores.mp2021": old},
                                                       "$unset": {"score_rounds": ""}})  # fmt: skip
    strata = tmp_path / "strata.csv"
    strata.write_text("composition,stratum,size\nNaCl,binary,30\nSi,unary,10\n")
    runner = CliRunner(env={"COLUMNS": "200"})
    res = runner.invoke(app, ["report", NIGHT, "--strata", str(strata), "--json"])
    assert res.exit_code == 0, res.output
    st = json.loads(res.stdout)["conditional"]["stratified"]
    assert st["rate"] == 1.0 and st["strata"]["binary"]["tried"] == 1
    assert sorted(st["unassigned"]) == ["(no formula)", "NaCl2"]  # the two gate rejects


def _check_html(report, out) -> None:
    """One self-contained page: every PNG embedded byte for byte, nothing referenced outside."""
    import base64
    import re

    page = (out / "report.html").read_text()
    assert report["html"] == str(out / "report.html")
    embedded = re.findall(
        r'<figure id="([^"]+)"><img alt="[^"]+" src="data:image/png;base64,([^"]+)"', page
    )
    assert {name for name, _ in embedded} == set(report["plots"])
    for name, data in embedded:
        assert base64.b64decode(data) == (out / f"{name}.png").read_bytes()
    text = re.sub(r"base64,[^\"]+", "base64,", page)  # the markup without the image bytes
    assert len(re.findall(r"(?:src|href|url)\s*[=(]", text)) == len(embedded)  # data URIs only
    assert "http" not in text and "<script" not in text and "<link" not in text
    for title in ("Stages", "Rejections and failures", "Hits", "S.U.N.", "Sets on each hull",
                  "Pairs of sets", "Per hull round", "Sites per structure",
                  "Conditional generation"):  # fmt: skip
        table = page.split(f"<h2>{title}", 1)[1].split("</table>", 1)[0]
        assert table.count("<tr>") >= 2 and ">none<" not in table, title
