"""Install the project and its extras into the virtual environment: with uv, or with pip if uv fails.

Run by `make` with the system's python3: `python3 tools/install_venv.py VENV EXTRAS`.

Why uv: the environment holds torch's CUDA wheels (about 4.6 GB unpacked: nvidia-*, triton). pip
unpacks them on one core and took 2 min 15 s of a 2-core machine's fresh `make test`; uv unpacks in
parallel and installed the same versions in 54 s with an empty cache, bytecode included.

The bytecode matters: grading kernels run as an unprivileged user in the sandbox, which cannot
write `__pycache__` into the environment, so without compiled files every kernel compiled torch's
Python again (a fresh clone's test suite took 13 min instead of 7.5). pip compiles by default, uv
only when told (`--compile-bytecode`).

uv does not read pip's configuration, so what pip is configured with on this machine (pip.conf,
PIP_* variables: what `pip config list` prints) is handed to uv as flags; `unsafe-best-match`
makes uv pick the newest matching version across all indexes, as pip does, instead of stopping at
the first index that has the package. Where uv cannot be had or fails, pip does the install as
before, and a line says so: a slower install, never a failed one.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

# pip's option name -> uv's flag (each value of a multi-value option gets its own flag).
PIP_TO_UV_FLAGS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
    "trusted-host": "--allow-insecure-host",
}


def pip_settings(python: Path) -> dict[str, str]:
    """pip's effective options, from every file and PIP_* variable (`pip config list`): later wins."""
    listed = subprocess.run([str(python), "-m", "pip", "config", "list"],
                            capture_output=True, text=True, check=False).stdout
    settings: dict[str, str] = {}
    for line in listed.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        option = key.rsplit(".", 1)[-1]  # "global.find-links", ":env:.find-links", "install.no-index"
        settings[option] = value.strip().strip("'\"")
    return settings


def uv_arguments(settings: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """uv's flags and environment for pip's settings."""
    flags = ["--index-strategy", "unsafe-best-match"]
    env = {}
    for option, flag in PIP_TO_UV_FLAGS.items():
        for value in shlex.split(settings.get(option, "")):
            flags += [flag, value]
    if settings.get("no-index", "").lower() in {"1", "true", "yes", "on"}:
        flags.append("--no-index")
    if settings.get("cert"):
        env["SSL_CERT_FILE"] = settings["cert"]  # uv reads the bundle pip is told to trust from here
    return flags, env


def install_with_uv(python: Path, target: str) -> bool:
    got_uv = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "uv"],
                            check=False)
    uv = python.parent / "uv"
    if got_uv.returncode != 0 or not uv.exists():
        return False
    flags, env = uv_arguments(pip_settings(python))
    done = subprocess.run([str(uv), "pip", "install", "-q", "--compile-bytecode", "--python", str(python), *flags,
                           "-e", target],
                          env={**os.environ, **env}, check=False)
    return done.returncode == 0


def main(argv: list[str]) -> int:
    venv, extras = Path(argv[1]), argv[2]
    python = venv / "bin" / "python"
    target = f".[{extras}]"
    if install_with_uv(python, target):
        return 0
    print(f"note: uv could not install {target} into {venv}; installing with pip instead (slower)", file=sys.stderr)
    return subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", target],
                          check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
