"""The grading sandbox: a bubblewrap command line that hides everything a submission should not see.

The nbclient client and the Jupyter kernel run together inside one sandbox: a kernel inside a new
network namespace cannot talk to a client outside it over TCP (ARCHITECTURE.md, "The sandbox"). Inside:
no network, the whole system read-only, one writable scratch folder, and tmpfs laid over the
folders that hold grading secrets or other students' work (the gradebook, source/, tests/, the
output folder, the submissions' folder, /tmp, home folders). The asset cache stays readable.

Masking is by folder: a folder to hide that contains something the kernel needs (the virtual
environment, the project, the scratch folder) is not covered whole; its other entries are.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

# Folders that may hold other people's files or secrets on a grading machine.
SYSTEM_HIDDEN = ("/tmp", "/var/tmp", "/home", "/root", "/mnt", "/media", "/srv", "/run/user",
                 "/etc/shadow", "/etc/gshadow", "/etc/ssh")
# Never laid over, whatever a caller asks to hide: the sandbox needs the system to run.
PROTECTED = {"/", "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/opt", "/proc", "/dev",
             "/sys", "/var", "/run", "/boot"}
# What runs inside from the project: the kernel imports alexnet_core, and the client half is
# `python -m autograder.submission.execute`, which imports grading_config.
KERNEL_NEEDS = ("alexnet_core", "autograder", "grading_config")


def code_paths() -> list[Path]:
    """Where the project's importable code is, installed or editable (found, not imported)."""
    paths = []
    for name in KERNEL_NEEDS:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin).resolve()
        paths.append(origin.parent if spec.submodule_search_locations else origin)
    return paths


def code_roots() -> list[Path]:
    """The folders holding the project's code: site-packages for an installed project, the
    checkout for an editable one."""
    return sorted({p.parent for p in code_paths()})


def _import_path(private: list[Path]) -> list[Path]:
    """The folders this interpreter imports from (site-packages, user site, folders a .pth file
    adds), read-only inside: a venv or a --user install under /home or /tmp must still import.
    Not the current folder, and nothing that holds or sits in a private folder (a checkout, the
    course, the output, the submissions): those stay hidden."""
    cwd = _real(Path.cwd())
    found = []
    for entry in sys.path:
        if not entry or not Path(entry).is_dir():
            continue
        path = _real(entry)
        if path == cwd or any(_contains(path, p) or _contains(p, path) for p in private):
            continue
        found.append(path)
    return found


def _checkouts() -> list[Path]:
    """Code roots outside the interpreter's environment: an editable checkout, whose other
    folders (source/, tests/, release/) and neighbours the kernel must not see."""
    env = [_real(sys.prefix), _real(sys.base_prefix)]
    return [root for root in code_roots() if not any(_contains(e, root) for e in env)]
_warned = False


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """None when bubblewrap is installed and can start a sandbox here; else why not (one line)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed; `apt-get install bubblewrap` or `make sandbox` adds it"
    probe = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
             "--unshare-pid", "--die-with-parent", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start a sandbox: {exc}"
    if done.returncode != 0:
        return f"bubblewrap could not start a sandbox here: {done.stderr.strip()[:200]}"
    return None


def warn_unsandboxed(reason: str) -> None:
    """Say once per process, loudly, that submissions run without a sandbox."""
    global _warned
    if not _warned:
        log.warning("GRADING WITHOUT A SANDBOX: %s. Submissions run with the grader's own "
                    "permissions (network, files); set limits.require_sandbox to refuse instead.", reason)
        _warned = True


def _contains(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def _mask_args(target: Path, keep: list[Path]) -> list[str]:
    """bwrap arguments hiding `target` except the kept paths inside it."""
    if not target.exists() or target.is_symlink() or str(target) in PROTECTED:
        return []
    inside = sorted({k for k in keep if _contains(target, k)}, key=lambda k: len(k.parts))
    if not inside:
        if target.is_dir():
            return ["--tmpfs", str(target)]
        return ["--ro-bind", "/dev/null", str(target)]
    if target in inside or not target.is_dir():
        return []
    # Hide the whole folder, then bring back only what must stay. Masking file by file raced with
    # files that come and go meanwhile (a gradebook's -journal, other runners' scratch in /tmp).
    args = ["--tmpfs", str(target)]
    for kept in inside:
        if kept.exists():
            args += ["--ro-bind", str(kept), str(kept)]
    return args


def _real(p) -> Path:
    return Path(os.path.realpath(p))


def bwrap_command(inner: list[str], scratch: Path, *, readable: list[Path] = (),
                  hidden: list[Path] = (), device: str = "cpu") -> list[str]:
    """The full command running `inner` inside bubblewrap with only `scratch` writable.

    `readable`: folders the kernel must still read (the asset cache). `hidden`: extra folders to
    lay tmpfs over (course root, output folder, submissions). `device` "cuda:N" binds the
    NVIDIA device nodes.
    """
    scratch = _real(scratch)
    readable = [_real(p) for p in readable if p and Path(p).exists()]
    # What the kernel needs to run: the interpreter, the virtual environment, the project.
    # Of the project, only the importable code: source/ (master, reference), tests/, release
    # outputs and anything else kept in the checkout stay hidden.
    checkouts = _checkouts()
    private = checkouts + [_real(p) for p in hidden if p]
    needed = ([_real(sys.prefix), _real(sys.base_prefix), _real(sys.executable).parent] + code_paths()
              + _import_path(private))
    keep = needed + readable + [scratch]
    targets = [Path(p) for p in SYSTEM_HIDDEN] + checkouts + [c.parent for c in checkouts] + private

    cmd = [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
           "--die-with-parent", "--new-session"]
    if device.startswith("cuda"):
        for node in sorted(Path("/dev").glob("nvidia*")):
            cmd += ["--dev-bind", str(node), str(node)]
    # Outermost first: a folder already hidden by an outer mask needs no mask of its own, unless
    # it sits inside something the outer mask brought back.
    done: list[Path] = []
    for target in sorted({_real(t) for t in targets}, key=lambda t: len(t.parts)):
        if any(_contains(d, target) for d in done) and not any(_contains(k, target) for k in keep):
            continue
        cmd += _mask_args(target, keep)
        done.append(target)
    # Re-expose what the masks may have covered: readable folders read-only, scratch read-write.
    for folder in readable:
        cmd += ["--ro-bind", str(folder), str(folder)]
    cmd += ["--bind", str(scratch), str(scratch), "--chdir", str(scratch)]
    return cmd + ["--"] + list(inner)
