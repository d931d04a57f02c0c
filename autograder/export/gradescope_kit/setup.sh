#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image ("Autograder
# Specifications": setup.sh at the zip's root). It installs Python 3.11+, the grader's packages
# (requirements.txt, written from the package's own requirements), bubblewrap for the kernel's
# sandbox, and the lab's data into the asset cache run_autograder reads. Choose Gradescope's
# Ubuntu 24.04 base image: its Python is 3.12 (22.04's 3.10 is too old for the grader).
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROFILE="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["profile"])' "$SOURCE/kit.json")"
SYNTHETIC="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["synthetic"])' "$SOURCE/kit.json")"

apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "alexnet-lab needs Python 3.11 or newer: choose the Ubuntu 24.04 base image in Gradescope")'
python3 -m venv /opt/alexnet-lab
/opt/alexnet-lab/bin/pip install --upgrade pip
/opt/alexnet-lab/bin/pip install -r "$SOURCE/requirements.txt"

export ALEXNET_LAB_DATA=/opt/alexnet-lab/data PYTHONPATH="$SOURCE/package"
/opt/alexnet-lab/bin/python -m autograder.cli --course "$SOURCE/course" assets fetch
if [ "$SYNTHETIC" = "True" ]; then
    /opt/alexnet-lab/bin/python -m autograder.cli --course "$SOURCE/course" assets synthetic --profile "$PROFILE"
fi
chmod -R a+rX /opt/alexnet-lab/data  # the kernel runs as a uid of its own and must read the data
