"""Generator kinds in a campaign: spec checks, failed samples as rows, the example specs run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from genflow.campaign.spec import CampaignSpecError, load_spec
from genflow.model.rows import SampleRow

REPO = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, data: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("kind", "checkpoint", "model"),
    [("unimat", "structrepdiff-perov5", "structrepdiff"),
     ("structrepdiff", "unimat-perov5", "unimat")],
)  # fmt: skip
def test_checkpoint_of_another_model_names_the_field(tmp_path, kind, checkpoint, model):
    path = _spec(tmp_path, {"name": "x", "generator": {"kind": kind, "checkpoint": checkpoint}})
    with pytest.raises(CampaignSpecError) as err:
        load_spec(path)
    assert str(err.value) == (
        f"{path}: generator.checkpoint: checkpoint {checkpoint!r} is a {model} checkpoint, "
        f"not {kind} (generator.kind is {kind!r})"
    )


def test_kind_options_checked(tmp_path):
    comps = {"mode": "compositions", "compositions": ["NaCl"]}
    cases = [
        ({"kind": "random"}, {}, "generator.kind 'random' needs compositions"),
        ({"kind": "random", "checkpoint": "unimat-perov5"}, comps,
         "generator.checkpoint: kind 'random' takes no checkpoint"),
        ({"kind": "unimat", "reconstruction": {"trials": 1}}, {},
         "generator: `reconstruction` is for structrepdiff, not kind 'unimat'"),
        ({"kind": "random", "steps": 3}, comps, "`steps` is for unimat/structrepdiff"),
        ({"kind": "random", "random": {"volume_scale": [1.2, 0.4]}}, comps,
         "generator.random.volume_scale: need 0 < low <= high"),
    ]  # fmt: skip
    for generator, conditioning, message in cases:
        path = _spec(tmp_path, {"name": "x", "generator": generator, "conditioning": conditioning})
        with pytest.raises(CampaignSpecError, match=message.replace("(", r"\(")):
            load_spec(path)


def test_example_specs_valid_and_become_generate_makers():
    from genflow.campaign.flows import campaign_maker

    srd = load_spec(REPO / "examples" / "structrepdiff.yaml")
    maker = campaign_maker(srd).generate_maker
    assert (maker.kind, maker.checkpoint) == ("structrepdiff", "structrepdiff-perov5")
    assert maker.options == {"num_steps": 50, "recon": {"trials": 2, "hops": 2, "iters": 100}}
    rnd = campaign_maker(load_spec(REPO / "examples" / "random_baseline.yaml")).generate_maker
    assert (rnd.kind, rnd.checkpoint) == ("random", None)
    assert rnd.options == {"volume_scale": [0.4, 1.2], "sphere_factor": 0.5, "max_attempts": 20}


class _Flaky:
    """A generator whose odd samples fail and which refuses the composition 'Xe'."""

    @property
    def provenance(self) -> dict:
        return {"model_name": "flaky", "checkpoint_hash": "f00"}

    def sample_rows(self, n, *, composition=None, seed=0):
        from pymatgen.core import Lattice, Structure

        if composition == "Xe":
            raise ValueError("element Xe is not in this model's table")
        s = Structure(Lattice.cubic(3.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        return [SampleRow(i, None, "did not decode: NaN lattice") if i % 2 else
                SampleRow(i, s.copy()) for i in range(n)]  # fmt: skip


def test_failed_samples_are_rejected_rows_the_rest_go_on(stores, monkeypatch):
    from genflow.workflows import generate

    monkeypatch.setattr(generate, "_generator", lambda *args: _Flaky())
    conditions = [{"composition": "NaCl", "n_samples": 3, "seed": 0},
                  {"composition": "Xe", "n_samples": 2, "seed": 1}]  # fmt: skip
    ids = generate.sample_candidates(stores, "flaky", conditions, kind="unimat")
    docs = {d["candidate_id"]: d for d in stores.candidates.find({"campaign": "flaky"})}
    assert sorted(ids) == sorted(docs) and len(ids) == 5
    rows = sorted(
        (d["provenance"]["conditioning"]["composition"], d["provenance"]["sample_index"],
         d["state"], d.get("reject_reason")) for d in docs.values()
    )  # fmt: skip
    assert rows == [
        ("NaCl", 0, "generated", None),
        ("NaCl", 1, "rejected", "generate: did not decode: NaN lattice"),
        ("NaCl", 2, "generated", None),
        ("Xe", 0, "rejected", "generate: element Xe is not in this model's table"),
        ("Xe", 1, "rejected", "generate: element Xe is not in this model's table"),
    ]
    assert all(d["provenance"]["model_name"] == "flaky" for d in docs.values())
    # idempotent: a rerun inserts nothing twice
    assert sorted(generate.sample_candidates(stores, "flaky", conditions)) == sorted(ids)
    assert stores.candidates.count_documents({"campaign": "flaky"}) == 5


def _run_example(campaign_env, tmp_path, example: str, **generator) -> dict:
    from genflow.campaign.runner import run_campaign

    data = yaml.safe_load((REPO / "examples" / example).read_text())
    data["generator"].update(generator)
    data["conditioning"]["compositions"] = data["conditioning"]["compositions"][:1]
    spec = load_spec(_spec(tmp_path, data, example))
    report = run_campaign(spec, stores=campaign_env.stores, root_dir=tmp_path / "runs").as_dict()
    assert not report["failed_jobs"], report["failed_jobs"]
    return report


@pytest.mark.slow
def test_random_baseline_example_runs(campaign_env, tmp_path, require_module):
    require_module("pyxtal")
    report = _run_example(campaign_env, tmp_path, "random_baseline.yaml")
    docs = list(campaign_env.stores.candidates.find({"campaign": "random-baseline"}))
    assert len(docs) == 2 and report["stages"]["generated"] == 2
    for d in docs:
        prov = d["provenance"]
        assert prov["model_name"] == "random-search"
        assert prov["parameters"] == {"volume_scale": [0.4, 1.2], "sphere_factor": 0.5,
                                      "max_attempts": 20}  # fmt: skip
        assert prov["seed"] == 0 and prov["conditioning"] == {"composition": "SrTiO3"}
        assert d["state"] in ("scored", "rejected"), d["state"]
    assert report["counts"].get("scored", 0) + report["counts"].get("rejected", 0) == 2


@pytest.mark.slow
def test_structrepdiff_example_runs_cheaply(campaign_env, tmp_path):
    report = _run_example(
        campaign_env, tmp_path, "structrepdiff.yaml",
        steps=10, reconstruction={"trials": 1, "hops": 1, "iters": 30},
    )  # fmt: skip
    docs = list(campaign_env.stores.candidates.find({"campaign": "structrepdiff-demo"}))
    assert len(docs) == 2 and report["stages"]["generated"] == 2
    for d in docs:
        prov = d["provenance"]
        assert prov["model_name"] == "structrepdiff"
        assert prov["sample_options"] == {
            "num_steps": 10,
            "recon": {"trials": 1, "hops": 1, "iters": 30},
        }
        assert d["state"] in ("scored", "rejected"), d["state"]
        if d["state"] == "scored":
            assert d["formula"] == "SrTiO3"
