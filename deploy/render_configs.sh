#!/usr/bin/env bash
# Render the genflow FireWorks/jobflow templates in deploy/ into a private directory.
#
#   GENFLOW_DB_URI=... GENFLOW_DB_NAME=genflow deploy/render_configs.sh [OUT_DIR]
#
# OUT_DIR defaults to $GENFLOW_RUNTIME_DIR, else $XDG_RUNTIME_DIR/genflow, else ~/.genflow/run.
# The rendered files hold the database URI (and so possibly credentials): they are written
# mode 0600 and never committed. Unset variables are an error, so nothing renders half-filled.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-${GENFLOW_RUNTIME_DIR:-${XDG_RUNTIME_DIR:-$HOME/.genflow}/genflow-run}}"
mkdir -p "$out" && chmod 700 "$out"
umask 077
python3 - "$here" "$out" <<'PY'
import os, string, sys, pathlib
src, out = map(pathlib.Path, sys.argv[1:3])
names = ["my_launchpad.yaml", "jobflow.yaml"] + sorted(p.name for p in src.glob("fworker_*.yaml"))
for name in names:
    text = (src / name).read_text()
    try:
        rendered = string.Template(text).substitute(os.environ)
    except KeyError as err:
        sys.exit(f"{src / name}: environment variable {err.args[0]} is not set")
    (out / name).write_text(rendered)
print(out)
PY
echo "export FW_CONFIG_FILE=  # (not needed: pass -l/-w explicitly)" >/dev/null
echo "rendered into $out; use: rlaunch -l $out/my_launchpad.yaml -w $out/fworker_cpu.yaml rapidfire" >&2
echo "and export JOBFLOW_CONFIG_FILE=$out/jobflow.yaml on every worker" >&2
