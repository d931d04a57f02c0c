#!/usr/bin/env bash
# The GPU validation kit, in one command on the GPU machine (after `bash gpu/gather.sh` here):
#
#   run(command="ls -l .gpu-ray/a", carry=[".gpu-ray/a"], timeout_s=60)    # Ray's first part
#   run(command="bash gpu/run.sh --steps install,facts,grading,ray", carry=[".gpu-kit", ".gpu-ray/b"], timeout_s=540)
#   (docs/runners.md says why cuda-tests and training are left out of that call)
#
# installs .gpu-kit/ offline into the image's python3, puts the kit's bubblewrap on PATH, then runs
# the CUDA-marked tests, bench_training.py at full size and bench_grading.py's slots-per-GPU sweep
# of a class (KIT_CLASSES, KIT_SLOTS: see gpu/kit.py) and the same class through Ray, each within its own time limit
# (KIT_BUDGET_S in all, default 500 s); logs, figures and a summary
# go to $OUT (see gpu/kit.py). `bash gpu/run.sh --dry-run --out DIR` (or DRY_RUN=1) runs every step
# on this machine's CPU with tiny sizes and installs nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "${KIT_PYTHON:-}" ]; then PY=$KIT_PYTHON
elif [[ " $* " == *" --dry-run "* || "${DRY_RUN:-}" == 1 ]] && [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
exec "$PY" gpu/kit.py "$@"
