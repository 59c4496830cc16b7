"""The mlip (CHGNet) and gpaw (real DFT) engines: relax+static through atomate2's makers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gate_data import mp20
from jobflow import run_locally
from monty.json import MontyDecoder, MontyEncoder

from genflow.workflows.energies import mp_compatible_energy
from genflow.workflows.relax import MLIPRelaxMaker, RelaxStaticMaker, relax_static_maker


def _run(maker, structure, store):
    flow = maker.make(structure)
    responses = run_locally(flow, store=store, ensure_success=True)
    relax_doc = responses[flow.jobs[0].uuid][1].output
    static_doc = responses[flow.output.uuid][1].output
    return flow, relax_doc, static_doc


def _check_relax_static(relax_doc, static_doc, start):
    steps = relax_doc.output.ionic_steps
    assert len(steps) > 1 and steps[-1].energy < steps[0].energy  # it relaxed downhill
    assert relax_doc.is_force_converged
    assert relax_doc.structure.volume != pytest.approx(start.volume, rel=1e-3)
    # the static is a single point on the relaxed cell: same structure, same energy
    assert static_doc.structure.lattice.abc == pytest.approx(relax_doc.structure.lattice.abc)
    assert static_doc.output.energy == pytest.approx(relax_doc.output.energy, abs=1e-3)


def test_maker_serialises():
    maker = relax_static_maker("mlip", fmax=0.1, steps=50)
    restored = json.loads(json.dumps(maker, cls=MontyEncoder), cls=MontyDecoder)
    assert isinstance(restored, RelaxStaticMaker)
    assert isinstance(restored.relax_maker, MLIPRelaxMaker)
    assert restored.relax_maker.torch_threads == 1
    assert restored.relax_maker.steps == 50 and restored.relax_maker.relax_kwargs["fmax"] == 0.1
    with pytest.raises(TypeError, match="gpaw_kwargs"):
        relax_static_maker("mlip", gpaw_kwargs={})


@pytest.mark.slow
def test_chgnet_relax_static_real_structure(memory_job_store, in_tmp_dir):
    """Na2Se (mp-1266), strained 5% and rattled, relaxed and re-computed with CHGNet."""
    import torch

    start = mp20("mp-1266")
    start.apply_strain(0.05)
    start.perturb(0.05, seed=0)
    flow, relax_doc, static_doc = _run(relax_static_maker("mlip"), start, memory_job_store)

    assert [j.name for j in flow.jobs] == ["CHGNet relax", "CHGNet static"]
    assert relax_doc.forcefield_name == "MLFF.CHGNet"
    _check_relax_static(relax_doc, static_doc, start)
    assert torch.get_num_threads() == 1

    energy = mp_compatible_energy(static_doc, "mlip")
    assert energy.mp_compatible and energy.natoms == 3 and energy.formula == "Na2Se"
    assert energy.energy_per_atom == pytest.approx(static_doc.output.energy / 3)
    # read back from the JobStore as a plain dict, as the campaign does
    stored = memory_job_store.query_one({"uuid": flow.jobs[1].uuid}, load=True)
    assert mp_compatible_energy(stored["output"], "mlip") == energy


@pytest.mark.slow
def test_gpaw_relax_static_two_atom_cell(memory_job_store, in_tmp_dir, require_module):
    """AlAs (mp-2172, 2 atoms) strained 4%: real plane-wave DFT relax + static with GPAW."""
    require_module("gpaw")
    start = mp20("mp-2172")
    start.apply_strain(0.04)
    maker = relax_static_maker("gpaw", fmax=0.05, gpaw_kwargs={"ecut": 250, "kpoint_density": 1.5})
    flow, relax_doc, static_doc = _run(maker, start, memory_job_store)

    assert [j.name for j in flow.jobs] == ["GPAW relax", "GPAW static"]
    assert relax_doc.forcefield_name == "GPAW"
    assert relax_doc.forcefield_version  # gpaw's version, recorded by atomate2
    _check_relax_static(relax_doc, static_doc, start)
    assert relax_doc.structure.volume < start.volume  # strained cell shrinks back

    energy = mp_compatible_energy(static_doc, "gpaw")
    assert not energy.mp_compatible and "not MP2020-compatible" in energy.reason
    assert energy.energy_per_atom == pytest.approx(static_doc.output.energy / 2)
    assert np.isfinite(energy.energy_per_atom)


def test_gpaw_setup_path_fallback(monkeypatch, tmp_path, require_module):
    """Without setups on GPAW's path, $GPAW_SETUP_PATH is used; with none at all, a clear error."""
    gpaw = require_module("gpaw")
    from genflow.workflows import gpaw_calc

    setups = tmp_path / "setups"
    setups.mkdir()
    (setups / "H.PBE.gz").write_bytes(b"")
    monkeypatch.setattr(gpaw, "setup_paths", [str(tmp_path / "empty")])
    monkeypatch.setattr(gpaw_calc, "DEBIAN_SETUP_PATH", tmp_path / "nowhere")
    monkeypatch.setenv("GPAW_SETUP_PATH", str(setups))
    gpaw_calc._ensure_setup_path()
    assert gpaw.setup_paths[0] == str(setups)

    monkeypatch.setattr(gpaw, "setup_paths", [])
    monkeypatch.delenv("GPAW_SETUP_PATH")
    with pytest.raises(FileNotFoundError, match="GPAW_SETUP_PATH"):
        gpaw_calc._ensure_setup_path()
