"""S.U.N. end to end with CHGNet: verdicts come from the relaxed cell, not the generated one.

Two differently perturbed copies of rocksalt NaCl (the MP-20 row mp-22862, bundled): the
conventional cell and a 2x1x1 primitive supercell, each with 0.2 Å displacements on every site
and a 5 % anisotropic strain. Neither matches the reference (nor each other) as generated, so
the gate (``novelty: flag``) passes both; after the CHGNet relax the first is ``known`` as
mp-22862 and the second is its ``duplicate_of``: one hit. ``genflow hits --json`` and the
campaign report say the same, and ``eval proxy --json`` / ``report`` carry SUN and MSUN.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pymatgen.core import Structure

from genflow.campaign.runner import run_campaign
from genflow.campaign.spec import load_spec
from genflow.core.candidates import CandidateKey as K
from genflow.core.candidates import get_path
from genflow.workflows.references import bundled_in_memory

pytestmark = pytest.mark.slow

STRAIN = [0.05, 0.0, -0.05]
DISPLACEMENT = 0.2  # Å, every site


def _nacl_reference() -> Structure:
    (doc,) = bundled_in_memory().by_formula["NaCl"]
    assert doc["ref_id"] == "mp-22862"
    return Structure.from_str(doc["cif"], fmt="cif")


def _perturbed(structure: Structure, seed: int) -> Structure:
    """``structure`` strained by STRAIN with every site moved by exactly DISPLACEMENT Å.

    pymatgen's ``perturb`` draws from its own ``default_rng(seed)``: without ``seed`` every run
    perturbs differently (and the gate's verdict with it), and without ``min_distance=None``
    the magnitudes are uniform in [0, DISPLACEMENT] rather than DISPLACEMENT.
    """
    out = structure.copy()
    out.apply_strain(STRAIN)
    out.perturb(DISPLACEMENT, min_distance=None, seed=seed)
    return out


def _spec(tmp_path: Path, spec: dict):
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(path)


def test_perturbed_copies_of_a_reference_are_one_known_hit(campaign_env, tmp_path):
    from genflow.campaign.hits import find_hits

    stores = campaign_env.stores
    ref = _nacl_reference()
    conventional = ref.to_conventional()  # 8 sites
    supercell = ref.get_primitive_structure().make_supercell([2, 1, 1], in_place=False)
    files = []
    for name, cell, seed in (("a", conventional, 1), ("b", supercell, 2)):
        path = tmp_path / f"NaCl_{name}.json"
        path.write_text(_perturbed(cell, seed).to_json())
        files.append(str(path))
    spec = _spec(
        tmp_path,
        {
            "name": "sun-nacl",
            "generator": {"kind": "structures", "batch_size": 16, "structures": files},
            "hulls": ["mp2021"],
            "engine": "mlip",
            "gate": {"novelty": "flag", "prescreen": False},
            "relax": {"fmax": 0.05, "steps": 300, "force_field": "CHGNet"},
            "score": {"hit_threshold": 0.5},
            "categories": {"generate": "cpu", "gate": "cpu", "relax": "cpu", "score": "cpu"},
        },
    )
    report = run_campaign(spec, stores=stores, root_dir=str(tmp_path / "runs")).as_dict()
    assert not report["failed_jobs"] and report["counts"]["scored"] == 2, report

    docs = sorted(stores.candidates.find({K.CAMPAIGN.value: "sun-nacl"}),
                  key=lambda d: d["provenance"]["conditioning"]["source"])  # fmt: skip
    # as generated, the gate found no match: the pre-relax check is only a filter
    assert [get_path(d, K.GATE_NOVEL) for d in docs] == [True, True]
    first, second = (d["verdict"] for d in docs)
    assert (first["novelty"], first["novelty_ref_id"], first["novelty_source"]) == (
        "known", "mp-22862", "mp_20",
    )  # fmt: skip
    assert first["duplicate_of"] is None
    assert second["duplicate_of"] == docs[0][K.CANDIDATE_ID]
    assert second["novelty"] == "known"  # its own verdict, not only "duplicate"

    hits = find_hits(stores, "mp2021", max_ed=0.5, campaign="sun-nacl")
    assert [h.candidate_id for h in hits] == [docs[0][K.CANDIDATE_ID]]
    (hit,) = [h.as_dict() for h in hits]
    assert hit["spacegroup_relaxed"] == "Fm-3m (225)" and hit["spacegroup_generated"] != (
        "Fm-3m (225)"
    )
    assert hit["prototype"] and not hit["novel"] and not hit["sun"]
    assert [h["candidate_id"] for h in report["hits"]] == [hit["candidate_id"]]


QUICK = Path(__file__).resolve().parents[2] / "examples" / "quick.yaml"
MP_REFS = Path(__file__).resolve().parents[1] / "test_data" / "structures" / "mp_refs"


def test_demo_hits_are_known_once_the_mp_structures_are_references(campaign_env, tmp_path):
    """``examples/quick.yaml`` as the demo runs it, after ``refs add`` of the two MP
    structures: BaTiO3 (P4mm) and KNbO3 (Amm2, 5 sites) come out ``known`` with their ids."""
    from typer.testing import CliRunner

    from genflow.cli import app

    stores = campaign_env.stores
    added = CliRunner().invoke(app, ["refs", "add", str(MP_REFS), "--source", "mp"])
    assert added.exit_code == 0, added.output
    spec = yaml.safe_load(QUICK.read_text())
    spec["name"] = "quick-refs"  # same seed and compositions: the demo's own samples
    report = run_campaign(_spec(tmp_path, spec), stores=stores,
                          root_dir=str(tmp_path / "runs")).as_dict()  # fmt: skip
    assert not report["failed_jobs"], report
    hits = {h["reduced_formula"]: h for h in report["hits"]}
    assert {
        f: (h["novelty"], h["novelty_ref_id"], h["novelty_source"]) for f, h in hits.items()
    } == {
        "BaTiO3": ("known", "mp-5986", "mp"),
        "KNbO3": ("known", "mp-7375", "mp"),
    }
    assert {f: h["spacegroup_relaxed"] for f, h in hits.items()} == {
        "BaTiO3": "P4mm (99)", "KNbO3": "Amm2 (38)",
    }  # fmt: skip
    assert not any(h["novel"] or h["sun"] or h["msun"] for h in hits.values())
