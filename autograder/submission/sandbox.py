"""The grading sandbox: the kernel alone, in a bubblewrap filesystem built from an allowlist.

Only the Jupyter kernel runs inside; the nbclient client that collects its outputs stays outside,
in the runner, and talks to it over IPC sockets in a folder shared for that alone
(ARCHITECTURE.md, "The sandbox"). What the kernel sees is listed, not masked: the system's
read-only folders (/usr, /etc less its secrets, /sys), the interpreter and its import path, the
project's importable code, the asset cache, a size-capped tmpfs for its working folder and /tmp,
fresh /dev and /proc, and the socket folder. Nothing else of the host exists in there: no home
folders, no /run, no course, no output folder, no other submission, no checkout.

The kernel gets no privilege back, also when the grader runs as root:
- it runs as an unprivileged uid of its own (root only: `sandbox_uid`), so no host file is its
  own, host sockets with owner-only modes refuse it, and the process limit counts this sandbox alone;
- in a user namespace with every capability dropped, no new privileges, and no further user
  namespaces (which would give a process capabilities over its own mounts);
- under a seccomp filter that refuses connect() and io_uring (so no socket outside the sandbox
  answers, wherever it lies), sched_setaffinity (it stays on its runner's cores, `cpus`) and any
  system call of another architecture;
- with the environment an exact list of names builds (`kernel_env`), nothing inherited.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

from alexnet_core.contract import MB

log = logging.getLogger(__name__)

# Read-only system folders every Python program needs; world-readable, bound by path.
SYSTEM_READ = ("/usr", "/etc", "/sys")
# Often symlinks into /usr (merged /usr); recreated as such, or bound when they are folders.
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
# Secrets under /etc laid over even though the kernel's uid could not read most of them.
ETC_SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/ssh", "/etc/sudoers",
               "/etc/sudoers.d", "/etc/ssl/private", "/etc/machine-id")
# What the kernel imports from the project: the student floor alone (the grader runs outside).
KERNEL_NEEDS = ("alexnet_core",)
CONFINE = Path(__file__).with_name("confine.py")
KERNEL_USER = "student"
"""The account name of a kernel's own uid inside (it has none on the host)."""
SECCOMP_FD = "@seccomp"  # confine.py puts the filter's descriptor there


# ---------------------------------------------------------------- what the kernel must see

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
    checkout for an editable one (the kernel's PYTHONPATH)."""
    return sorted({p.parent for p in code_paths()})


def _real(p) -> Path:
    return Path(os.path.realpath(p))


def _contains(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def _checkouts() -> list[Path]:
    """Code roots outside the interpreter's environment: an editable checkout, whose other
    folders (source/, tests/, release/) the kernel must not see."""
    env = [_real(sys.prefix), _real(sys.base_prefix)]
    return [root for root in code_roots() if not any(_contains(e, root) for e in env)]


def _import_path(private: list[Path]) -> list[Path]:
    """The folders this interpreter imports from (site-packages, user site, folders a .pth file
    adds): a venv or a --user install under /home or /root must still import inside. Not the
    current folder, and nothing that holds or sits in a private folder (a checkout, the course,
    the output, the submissions)."""
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


def visible_folders(readable: list[Path], hidden: list[Path]) -> list[Path]:
    """Every host folder bound read-only into the sandbox, outermost first, beyond the system's."""
    private = _checkouts() + [_real(p) for p in hidden if p]
    wanted = ([_real(sys.prefix), _real(sys.base_prefix), _real(sys.executable).parent]
              + code_paths() + _import_path(private)
              + [_real(p) for p in readable if p and Path(p).exists()])
    system = [Path(p) for p in SYSTEM_READ]
    kept: list[Path] = []
    for path in sorted(set(wanted), key=lambda p: (len(p.parts), str(p))):
        if any(_contains(k, path) for k in system + kept):
            continue
        kept.append(path)
    return kept


# ---------------------------------------------------------------- the seccomp filter

_ARCH = {"x86_64": (0xC000003E, {"connect": 42, "io_uring_setup": 425, "io_uring_enter": 426,
                                 "io_uring_register": 427, "sched_setaffinity": 203}),
         "aarch64": (0xC00000B7, {"connect": 203, "io_uring_setup": 425, "io_uring_enter": 426,
                                  "io_uring_register": 427, "sched_setaffinity": 122})}
_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW, _EPERM = 0x7FFF0000, 0x00050000 | 1
_X32_BIT = 0x40000000


def seccomp_program() -> bytes:
    """A classic BPF program for seccomp: EPERM for connect() and io_uring (which could connect
    without a system call the filter sees), for sched_setaffinity (a kernel's processes keep the
    cores confine.py gave them), and for every system call of an architecture other
    than the native ones (a 64-bit process can still make 32-bit calls). The rest is allowed."""
    insns: list[tuple[int, int, int, int]] = [(_LD_ABS, 0, 0, 4)]  # A = arch
    for name, (audit_arch, calls) in _ARCH.items():
        block = [(_LD_ABS, 0, 0, 0)]  # A = syscall number
        if name == "x86_64":
            block += [(_JGE, 0, 1, _X32_BIT), (_RET, 0, 0, _EPERM)]
        for number in calls.values():
            block += [(_JEQ, 0, 1, number), (_RET, 0, 0, _EPERM)]
        block.append((_RET, 0, 0, _ALLOW))
        insns.append((_JEQ, 0, len(block), audit_arch))
        insns += block
    insns.append((_RET, 0, 0, _EPERM))
    return b"".join(struct.pack("<HBBI", *i) for i in insns)


# ---------------------------------------------------------------- the warm start's holder

# The program a warm-started sandbox runs instead of the kernel (zygote.py): it makes the FIFO,
# reads the PID the kernel forked into the sandbox writes there, and waits for that process, so
# the sandbox ends with its kernel. Standard library only, no site: it starts in milliseconds.
_HOLDER = """
import os, select, sys
os.mkfifo(sys.argv[1], 0o600)
with open(sys.argv[1], 'rb') as fifo:
    said = fifo.read(32).strip()
if said.isdigit():
    try:
        select.select([os.pidfd_open(int(said))], [], [])
    except ProcessLookupError:
        pass
"""


def holder_command(fifo: Path) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", _HOLDER, str(fifo)]


# ---------------------------------------------------------------- the command line

def sandbox_uid(base: int) -> int | None:
    """The uid the sandbox runs as: when the grader is root, one of its own per runner process
    (unused on the host, so the process limit counts this sandbox alone); else the grader's."""
    return base + os.getpid() if os.geteuid() == 0 else None


def open_to_others(folder: Path) -> None:
    """Let every user read `folder` (the asset cache: public datasets and weights), so a sandbox
    running as its own uid can. Only what lacks the bits is changed."""
    import stat

    for path in [Path(folder), *Path(folder).rglob("*")]:
        try:
            mode = path.lstat().st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            continue
        wanted = mode | stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0)
        if wanted != mode:
            try:
                path.chmod(stat.S_IMODE(wanted))
            except OSError:
                pass


def write_accounts(folder: Path, uid: int, home: Path) -> dict[str, Path]:
    """/etc/passwd and /etc/group for the sandbox: root, nobody and the kernel's own uid, so that
    a library asking who it runs as gets an answer (and the host's accounts stay unlisted)."""
    passwd, group = Path(folder) / "passwd", Path(folder) / "group"
    passwd.write_text(f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                      f"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                      f"{KERNEL_USER}:x:{uid}:{uid}:grading kernel:{home}:/usr/sbin/nologin\n")
    group.write_text(f"root:x:0:\nnogroup:x:65534:\n{KERNEL_USER}:x:{uid}:\n")
    for path in (passwd, group):
        path.chmod(0o644)
    return {"/etc/passwd": passwd, "/etc/group": group}


def user_threads(uid: int) -> int:
    """Threads the user already runs: RLIMIT_NPROC counts them all, so a grader that is not root
    gets its sandbox's allowance on top of what it already runs."""
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            count += int(fields.get("Threads", "1").strip() or 1)
    return count


def confine_spec(*, uid: int | None, processes: int | None, memory_mb: int | None, file_mb: int | None,
                 cpus: list[int] | None = None, seccomp: bool = True) -> dict:
    """What confine.py applies before it execs: limits, the cores (`cpus`, the runner's own; None:
    all), the drop to `uid` (None: stay), and the seccomp filter for the bubblewrap it starts."""
    nproc = None
    if processes:
        nproc = processes if uid is not None else user_threads(os.geteuid()) + processes
    return {"uid": uid, "nproc": nproc, "as_bytes": memory_mb * MB if memory_mb else None,
            "fsize_bytes": file_mb * MB if file_mb else None, "cpus": sorted(cpus) if cpus else None,
            "seccomp": seccomp_program().hex() if seccomp else None}


def confine_command(spec: dict, command: list[str]) -> list[str]:
    return [sys.executable, "-I", "-S", str(CONFINE), json.dumps(spec), "--"] + list(command)


_NAMESPACES = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session"]
# The unprivileged stage: a user namespace with no capability and no nested user namespace.
# bubblewrap started by a user that is not root also sets no-new-privileges.
_UNPRIVILEGED = ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]


def _view(*, workdir: Path, shared: Path, readable: list[Path], hidden: list[Path], device: str,
          scratch_mb: int, accounts: dict[str, Path] | None) -> list[str]:
    """bubblewrap arguments building the filesystem the kernel sees, from nothing."""
    size = str(scratch_mb * MB)
    args = []
    for folder in SYSTEM_READ:
        args += ["--ro-bind", folder, folder]
    for target, source in (accounts or {}).items():
        args += ["--ro-bind", str(source), target]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for secret in ETC_SECRETS:
        if os.path.isdir(secret) and not os.path.islink(secret):
            args += ["--tmpfs", secret]
        elif os.path.lexists(secret):
            args += ["--ro-bind", "/dev/null", secret]
    # Writable tmpfs folders open to the kernel's uid (sticky, as /tmp is), each capped in size.
    scratch = ["--perms", "1777", "--size", size, "--tmpfs"]
    args += ["--dev", "/dev", "--proc", "/proc"] + scratch + ["/tmp"] + scratch + ["/dev/shm"]
    if device.startswith("cuda"):
        for node in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(node), str(node)]
    workdir, shared = _real(workdir), _real(shared)
    binds = visible_folders(readable, hidden) + [CONFINE]
    # The folders above each bind are made by bubblewrap, root-only unless said otherwise: the
    # kernel's uid must be able to walk them (their contents stay invisible: only binds are there).
    above = sorted({a for p in binds + [workdir, shared] for a in p.parents
                    if a != Path("/") and not any(_contains(Path(f), a) for f in SYSTEM_READ)},
                   key=lambda a: len(a.parts))
    for folder in above:
        args += ["--perms", "0755", "--dir", str(folder)]
    for path in binds:
        args += ["--ro-bind", str(path), str(path)]
    return args + scratch + [str(workdir), "--bind", str(shared), str(shared), "--chdir", str(workdir)]


def sandbox_command(inner: list[str], *, workdir: Path, shared: Path, env: dict[str, str], uid: int | None,
                    processes: int | None, memory_mb: int | None, file_mb: int | None,
                    cpus: list[int] | None = None, readable: list[Path] = (), hidden: list[Path] = (), device: str = "cpu",
                    scratch_mb: int = 1024, accounts: dict[str, Path] | None = None) -> list[str]:
    """The command running `inner` (the kernel) in the sandbox, with the limits applied.

    `workdir`: the kernel's working folder (a fresh tmpfs of `scratch_mb` at that path);
    `shared`: the socket folder, read-write, at the same path inside and out; `readable`: extra
    folders to read (the asset cache); `hidden`: folders whose contents must not come in through
    the import path (course, output, submissions); `device` "cuda:N" binds the NVIDIA device nodes.
    `uid`: when the grader is root, the unprivileged uid the kernel runs as (`sandbox_uid`), and
    `accounts` the /etc files that name it (`write_accounts`).

    As a user that is not root, one bubblewrap does it all. As root, bubblewrap can read every
    path the view needs, but its sandbox would keep root's powers; a sandbox started as another
    uid could not read those paths (a Python under /root, say). So root takes two stages: an
    outer bubblewrap builds the view and the namespaces, keeping only the capability to change
    uid; confine.py leaves root for `uid` there; an inner, unprivileged bubblewrap adds the user
    namespace, drops every capability, loads the seccomp filter and starts the kernel.
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    view = _view(workdir=workdir, shared=shared, readable=list(readable), hidden=list(hidden), device=device,
                 scratch_mb=scratch_mb, accounts=accounts)
    setenv = [arg for name, value in sorted(env.items()) for arg in ("--setenv", name, value)]
    limits = confine_spec(uid=uid, processes=processes, memory_mb=memory_mb, file_mb=file_mb, cpus=cpus)
    if uid is None:
        sandbox = ([bwrap] + _UNPRIVILEGED + _NAMESPACES + ["--clearenv"] + view + setenv
                   + ["--add-seccomp-fd", SECCOMP_FD, "--"] + list(inner))
        return confine_command(limits, sandbox)
    inner_stage = confine_command(limits, [bwrap] + _UNPRIVILEGED + [
        "--die-with-parent", "--dev-bind", "/", "/", "--chdir", str(_real(workdir)),
        "--add-seccomp-fd", SECCOMP_FD, "--"] + list(inner))
    outer = ([bwrap] + _NAMESPACES + ["--clearenv", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID",
                                      "--cap-add", "CAP_SETGID"] + view + setenv + ["--"] + inner_stage)
    return confine_command(confine_spec(uid=None, processes=None, memory_mb=None, file_mb=None, cpus=cpus,
                                        seccomp=False), outer)


# ---------------------------------------------------------------- is there a sandbox here

_warned = False


@functools.lru_cache(maxsize=1)
def bwrap_problem(uid: int | None = None) -> str | None:
    """None when bubblewrap starts a sandbox here the way grading starts it (as `uid` when the
    grader is root); else why not, in one line."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed; `apt-get install bubblewrap` or `make sandbox` adds it"
    import tempfile

    with tempfile.TemporaryDirectory(prefix="alexnet-lab-probe-") as probe:  # empty; gone at once
        shared, workdir = Path(probe) / "ipc", Path(probe) / "kernel"
        shared.mkdir()
        workdir.mkdir()
        if uid is not None:
            os.chown(shared, uid, uid)
        command = sandbox_command(["/bin/true"], workdir=workdir, shared=shared, env={"PATH": "/usr/bin:/bin"},
                                  uid=uid, processes=64, memory_mb=None, file_mb=16)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=workdir)
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
