#!/usr/bin/env bash
# The GPU validation kit, in one command on the GPU machine (after `bash gpu/gather.sh` here):
#
#   run(command="bash gpu/run.sh", carry=[".gpu-kit"], timeout_s=480)
#
# installs .gpu-kit/ offline into the image's python3, puts the kit's bubblewrap on PATH, then runs
# the CUDA-marked tests, bench_training.py at full size and bench_grading.py's slots-per-GPU sweep,
# each within its own time limit (KIT_BUDGET_S in all, default 420 s); logs, figures and a summary
# go to $OUT (see gpu/kit.py). `bash gpu/run.sh --dry-run --out DIR` (or DRY_RUN=1) runs every step
# on this machine's CPU with tiny sizes and installs nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "${KIT_PYTHON:-}" ]; then PY=$KIT_PYTHON
elif [[ " $* " == *" --dry-run "* || "${DRY_RUN:-}" == 1 ]] && [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
exec "$PY" gpu/kit.py "$@"
