"""Many relax+static jobs in one SLURM allocation (issue 22): ``deploy/qadapter_slurm_packed.yaml``.

The template is rendered by FireWorks' own ``CommonAdapter`` into the SLURM script ``qlaunch``
would submit, unchanged; the test runs that script with ``bash`` as one local process (the
``#SBATCH`` lines are comments to bash; a no-op ``module`` stands in for the site's) against the
test LaunchPad. That one "allocation" runs every relax and static firework of the campaign back
to back, each once, and stops by itself when its launch count is reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genflow.campaign.spec import load_spec
from genflow.campaign.submit import submit_campaign

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "qadapter_slurm_packed.yaml"


def _script(launch_dir: Path) -> str:
    from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter

    adapter = CommonAdapter.from_dict(yaml.safe_load(TEMPLATE.read_text()))
    return adapter.get_script_str(str(launch_dir))


def test_template_is_a_packed_slurm_script(tmp_path):
    script = _script(tmp_path)
    assert "#SBATCH --time=08:00:00" in script and "#SBATCH --nodes=1" in script
    assert "rapidfire --nlaunches ${GENFLOW_JOBS_PER_ALLOCATION:-20}" in script
    assert "--max_loops 3" in script  # an allocation with nothing left to run ends


def test_n_relax_static_jobs_run_in_one_allocation(campaign_env, structures_spec, tmp_path):
    """Must show: 3 candidates × (relax + static) = 6 jobs run by one allocation's process."""
    stores = campaign_env.stores
    lpad = stores.launchpad
    spec = load_spec(structures_spec(["NaCl.cif", "Si.cif", "MgO.cif"], name="fw-packed"))
    submit_campaign(spec, stores=stores)
    campaign_env.run("gpu")  # import
    campaign_env.run("cpu")  # gate + fan-out
    hpc = {fw["fw_id"]: fw["name"] for fw in lpad.fireworks.find({"spec._category": "hpc"})}
    assert sorted(hpc.values()) == ["CHGNet relax"] * 3 + ["CHGNet static"] * 3

    alloc = tmp_path / "allocation"
    alloc.mkdir()
    (alloc / "genflow-packed.sh").write_text(_script(alloc))
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "module").write_text("#!/bin/sh\nexit 0\n")  # the site's `module load vasp`
    (fake_bin / "module").chmod(0o755)
    env = {
        **campaign_env.env,
        "PATH": f"{fake_bin}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "GENFLOW_RUNTIME_DIR": str(campaign_env.run_dir),
        "GENFLOW_VENV": sys.prefix,
        "GENFLOW_DEPLOY_DIR": str(REPO / "deploy"),
        "GENFLOW_JOBS_PER_ALLOCATION": "6",
        "GENFLOW_PACK_SLEEP_S": "1",
    }
    log = alloc / "slurm.out"
    with log.open("wb") as out:
        proc = subprocess.run(
            ["bash", str(alloc / "genflow-packed.sh")], cwd=alloc, env=env, stdout=out,
            stderr=subprocess.STDOUT, timeout=480,
        )  # fmt: skip
    assert proc.returncode == 0, log.read_text()[-3000:]

    launches = list(lpad.launches.find({"fw_id": {"$in": list(hpc)}}))
    assert len(launches) == 6, log.read_text()[-3000:]  # each job once
    assert {la["fw_id"] for la in launches} == set(hpc)
    assert all(la["state"] == "COMPLETED" for la in launches)
    # all in this allocation's directory: one process ran the six, relax then its static
    assert all(Path(la["launch_dir"]).is_relative_to(alloc) for la in launches)
    order = [hpc[la["fw_id"]] for la in sorted(launches, key=lambda la: la["launch_id"])]
    assert order.count("CHGNet relax") == 3 and order.index("CHGNet static") > 0

    campaign_env.run("cpu")  # score
    docs = list(stores.candidates.find({"campaign": "fw-packed"}))
    assert [d["state"] for d in docs] == ["scored"] * 3
