"""CampaignSpec: validation errors name the file and field; batches and hashes are stable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genflow.campaign.spec import CampaignSpec, CampaignSpecError, load_spec

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_quick_spec_is_valid():
    spec = load_spec(REPO / "examples" / "quick.yaml")
    assert spec.engine == "mlip"
    assert spec.hulls == ("mp2021",)
    assert spec.generator.kind == "unimat" and spec.generator.checkpoint is None


def test_errors_name_file_and_every_bad_field(tmp_path):
    path = _write(
        tmp_path,
        "name: ok\n"
        "gate: {min_distance: -1}\n"
        "engine: cp2k\n"
        "conditioning: {mode: compositions, compositions: [Si2, Xx3]}\n"
        "categories: {generate: tpu, nope: 1}\n",
    )
    with pytest.raises(CampaignSpecError) as info:
        load_spec(path)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    text = str(info.value)
    assert "gate.min_distance: Input should be greater than 0" in text
    assert "engine: Input should be 'vasp', 'mlip' or 'gpaw'" in text
    assert "conditioning.compositions: compositions[1] 'Xx3': unknown element" in text
    assert "categories.nope: Extra inputs are not permitted" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [x\n", "not valid yaml"),
        ("- a\n- b\n", "expected a mapping"),
        ("generator: {n_samples: 3}\n", "name: Field required"),
        ("name: 'bad name!'\n", "name: String should match pattern"),
        ("name: a\nconditioning: {mode: chemsys}\n", "mode 'chemsys' needs `chemsys`"),
        ("name: a\nconditioning: {mode: chemsys, chemsys: Li-Qq}\n", "unknown element Qq"),
        ("name: a\nengine: gpaw\n", "score.force is true"),
        ("name: a\nhulls: [mp2021, mp2021]\n", "duplicate hull names"),
        ("name: a\ngenerator: {kind: structures}\n", "needs a non-empty `structures`"),
        ("name: a\ngenerator: {kind: structures, structures: [nope.cif]}\n", "does not exist"),
    ],
)
def test_bad_specs(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(CampaignSpecError, match=r"spec\.yaml") as info:
        load_spec(path)
    assert expected in str(info.value)


def test_missing_file_and_json(tmp_path):
    with pytest.raises(CampaignSpecError, match="cannot read campaign spec"):
        load_spec(tmp_path / "absent.yaml")
    path = _write(tmp_path, json.dumps({"name": "j", "engine": "vasp"}), "spec.json")
    assert load_spec(path).engine == "vasp"


def test_batches_split_conditions_with_distinct_seeds():
    spec = CampaignSpec.model_validate(
        {
            "name": "b",
            "generator": {"n_samples": 5, "batch_size": 4, "seed": 7},
            "conditioning": {"mode": "compositions", "compositions": ["Si2", "NaCl"]},
        }
    )
    batches = spec.batches()
    assert [sum(c.n_samples for c in b) for b in batches] == [4, 4, 2]
    pairs = [(c.composition, c.seed) for b in batches for c in b]
    assert len(set(pairs)) == len(pairs)  # no two pieces sample with one seed
    assert sum(c.n_samples for b in batches for c in b if c.composition == "NaCl") == 5


def test_spec_hash_ignores_name_and_order():
    a = CampaignSpec.model_validate({"name": "a", "hulls": ["mp2021"], "engine": "mlip"})
    b = CampaignSpec.model_validate({"engine": "mlip", "name": "b"})
    c = CampaignSpec.model_validate({"name": "a", "generator": {"n_samples": 9}})
    assert a.spec_hash() == b.spec_hash() != c.spec_hash()
    assert a.with_name("a-2026-01-01").spec_hash() == a.spec_hash()


def test_cli_reports_bad_spec_with_exit_code_2(tmp_path):
    from typer.testing import CliRunner

    from genflow.cli import app

    path = _write(tmp_path, "name: ok\nengine: cp2k\n")
    for command in (["campaign", "run"], ["campaign", "submit"], ["nightly"]):
        result = CliRunner().invoke(app, [*command, str(path)])
        assert result.exit_code == 2, result.output
        assert f"{path}: engine: Input should be" in result.output.replace("\n", "")


def test_cli_status_of_unknown_campaign_fails(campaign_env):
    from typer.testing import CliRunner

    from genflow.cli import app

    result = CliRunner().invoke(app, ["campaign", "status", "nope"])
    assert result.exit_code == 1 and "no campaign named 'nope'" in result.output
    result = CliRunner().invoke(app, ["hits", "--since", "yesterday"])
    assert result.exit_code == 2 and "expected an ISO date" in result.output


def test_chemsys_scan_conditions_every_smact_composition():
    spec = CampaignSpec.model_validate(
        {
            "name": "scan",
            "generator": {"n_samples": 2, "batch_size": 5},
            "conditioning": {"mode": "chemsys", "chemsys": "Sr-Ti-O", "max_coefficient": 3},
        }
    )
    formulas = spec.conditioning.formulas()
    assert "SrTiO3" in formulas and len(formulas) == len(set(formulas))
    from pymatgen.core import Composition

    from genflow.model.validity import smact_validity

    assert all(smact_validity(Composition(f)) for f in formulas)
    pieces = [c for batch in spec.batches() for c in batch]
    assert {c.composition for c in pieces} == set(formulas)
    assert sum(c.n_samples for c in pieces) == 2 * len(formulas)
    assert all(sum(c.n_samples for c in b) <= 5 for b in spec.batches())
