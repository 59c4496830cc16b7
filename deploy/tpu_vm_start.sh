#!/usr/bin/env bash
# Start a genflow generator worker on a Cloud TPU VM (tpu category).
# Run as the unprivileged user on each TPU VM (e.g. from the VM's startup-script metadata):
#   GENFLOW_DB_URI=... GENFLOW_DB_NAME=genflow ./tpu_vm_start.sh
set -euo pipefail
repo="${GENFLOW_REPO:-$HOME/genflow}"
venv="${GENFLOW_VENV:-$HOME/genflow-venv}"
[ -d "$venv" ] || python3 -m venv "$venv"
source "$venv/bin/activate"
pip install -q -e "$repo"
# The TPU build of JAX (libtpu) replaces the CPU jaxlib pulled in by genflow's dependencies.
pip install -q 'jax[tpu]' -f https://storage.googleapis.com/jax-releases/libtpu_releases.html
python -c "import jax; d = jax.devices(); assert d[0].platform == 'tpu', d; print(d)"
run="$("$repo/deploy/render_configs.sh")"
export JOBFLOW_CONFIG_FILE="$run/jobflow.yaml"
# -c: FireWorks config dir holding my_launchpad.yaml and my_fworker.yaml (the tpu worker).
cp "$run/fworker_tpu.yaml" "$run/my_fworker.yaml"
# Keep polling for generator jobs: rapidfire exits when the queue is empty, so loop it.
while true; do
  rlaunch -c "$run" rapidfire --nlaunches infinite --sleep 60 || sleep 60
done
