"""MLIP registry: model per stage, MP2020 scale per model, the model's reasons as rows."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from genflow.workflows.mlips import mp2020_energy_per_atom, resolve_mlip


def _rocksalt(a: str, b: str, lat: float = 4.3) -> Structure:
    return Structure(Lattice.cubic(lat), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_registry_names_and_atomate2_names():
    assert resolve_mlip("CHGNet").energy_scale == "mp2020"
    l3i5 = resolve_mlip("7net-l3i5")
    assert (l3i5.force_field, l3i5.calculator_kwargs, l3i5.energy_scale) == (
        "SevenNet", {"model": "7net-l3i5"}, "pbe",
    )  # fmt: skip
    assert resolve_mlip("SevenNet", {"model": "7net-0"}).calculator_kwargs == {"model": "7net-0"}
    mace = resolve_mlip("MACE-MPA-0")  # by atomate2 name, for users with network
    assert (mace.force_field, mace.offline, mace.energy_scale) == ("MACE-MPA-0", False, "pbe")
    assert resolve_mlip("MLFF.Nequip").force_field == "Nequip"
    with pytest.raises(ValueError, match=r"unknown MLIP .nope.*CHGNet"):
        resolve_mlip("nope")


def test_mp2020_scale_per_model():
    feo = _rocksalt("Fe", "O")
    assert mp2020_energy_per_atom(feo, -7.0, resolve_mlip("CHGNet")) == (-7.0, 0.0)
    corrected, corr = mp2020_energy_per_atom(feo, -7.0, resolve_mlip("7net-l3i5"))
    # MP2020: Fe U correction -2.256 eV/Fe, oxide -0.687 eV/O (GGA+U entry)
    assert corr == pytest.approx((-2.256 - 0.687) / 2, abs=2e-3)
    assert corrected == pytest.approx(-7.0 + corr)
    nacl = _rocksalt("Na", "Cl", 5.6)
    assert mp2020_energy_per_atom(nacl, -3.0, resolve_mlip("7net-l3i5"))[1] == pytest.approx(
        -0.614 / 2, abs=2e-3
    )  # chloride anion correction, GGA entry


def test_spec_fields_validate_model_names():
    from genflow.campaign.flows import campaign_maker
    from genflow.campaign.spec import CampaignSpec

    spec = CampaignSpec(
        name="m",
        gate={"prerelax": {"model": "7net-l3i5"}, "prescreen_max_ed": 0.1},
        relax={"force_field": "SevenNet", "calculator_kwargs": {"model": "7net-0"}},
    )
    maker = campaign_maker(spec)
    assert maker.gate_maker.prerelax_model == "7net-l3i5"
    relax = maker.relax_maker.relax_maker
    assert str(relax.force_field_name).endswith("SevenNet")
    assert relax.calculator_kwargs == {"model": "7net-0"}
    with pytest.raises(ValueError, match="unknown MLIP"):
        CampaignSpec(name="m", gate={"prerelax": {"model": "nope"}})
    with pytest.raises(ValueError, match="unknown MLIP"):
        CampaignSpec(name="m", relax={"force_field": "nope"})


def test_model_reasons_are_rows_and_the_batch_goes_on():
    from genflow.workflows.gate.run import run_gate

    nacl = _rocksalt("Na", "Cl", 5.6)
    disordered = Structure(Lattice.cubic(5.6), [{"Na": 0.5, "K": 0.5}, "Cl"],
                           [[0, 0, 0], [0.5, 0.5, 0.5]])  # fmt: skip
    exploded = _rocksalt("K", "Br", 40.0)
    og = _rocksalt("Og", "Cl", 5.6)
    recs = run_gate(
        [("ok", nacl), ("dis", disordered), ("cif", disordered.to(fmt="cif")),
         ("big", exploded), ("og", og)],
        smact=False, prerelax=True, prerelax_model="CHGNet",
    )  # fmt: skip
    by = {r.key: r for r in recs}
    assert by["ok"].passed and by["ok"].prerelax.forcefield == "CHGNet"
    assert by["ok"].prerelax.correction_per_atom == 0.0
    for key in ("dis", "cif"):
        assert (by[key].stage, "disordered" in by[key].reason) == ("parse", True)
    assert by["big"].stage == "prerelax" and "exploded cell" in by["big"].reason
    assert by["og"].stage == "prerelax" and "Og outside its training set" in by["og"].reason


@pytest.mark.slow
def test_sevennet_torch_sim_matches_atomate2(require_module):
    require_module("sevenn")
    require_module("torch_sim")
    from genflow.workflows.gate.prerelax import prerelax_structures

    s = _rocksalt("Na", "Cl", 5.5)
    s.perturb(0.05, seed=1)
    kw = {"steps": 200, "relax_kwargs": {"fmax": 0.05, "final_atoms_object_file": None}}
    ts = prerelax_structures([s, _rocksalt("Og", "Cl")], model="7net-l3i5", **kw)
    a2 = prerelax_structures([s], model="7net-l3i5", method="atomate2", **kw)
    assert ts[0].method == "torch-sim" and ts[1].error and "Og" in ts[1].error
    assert ts[0].correction_per_atom == pytest.approx(a2[0].correction_per_atom)
    assert abs(ts[0].energy_per_atom - a2[0].energy_per_atom) < 1e-3


def test_chgnet_loads_once_per_process():
    # atomate2 pads CHGNet's calculator kwargs ({"stress_unit": ...}); the relax and static
    # makers and the batched pre-relax must still share the one loaded model
    from genflow.workflows.gate.ts_relax import load_torch_sim_model
    from genflow.workflows.mlips import load_chgnet
    from genflow.workflows.relax import MLIPRelaxMaker, MLIPStaticMaker, shared_calculator

    model = load_chgnet(1)
    assert shared_calculator(MLIPRelaxMaker(torch_threads=1)).model is model
    assert shared_calculator(MLIPStaticMaker(torch_threads=1)).model is model
    assert load_torch_sim_model("chgnet", {}, 1).model is model
