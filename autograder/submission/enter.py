"""Move a freshly forked process into a running sandbox, confined as bubblewrap and confine.py
would have confined a kernel they started there (the warm start's half of the sandbox).

The sandbox is built exactly as for a cold start (`sandbox.sandbox_command`), but the program it
runs is a holder that waits; the zygote's fork then joins the holder's namespaces and drops what
the grader holds, in this order (what each step needs is in its comment):

1. opens the holder's namespace files (host paths: they stop resolving once it joins the mounts);
2. as root: joins the sandbox's net, ipc, uts, cgroup, pid and mount namespaces (root may; they
   belong to the outer, root-made stage), then sets the limits and leaves root for the kernel's uid;
   not root: joins the sandbox's outer user namespace first (its owner may), then the others;
3. joins the holder's own user namespace (the innermost: no further user namespaces there);
4. drops every capability that joining gave it (bounding, ambient, permitted, effective), sets
   no-new-privileges and loads the seccomp filter;
5. (the caller) forks once more: only a child enters the PID namespace.

Standard library and ctypes only: it runs in the zygote, which imports nothing of the grader.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x10000000, 0x20000000, 0x40000000
# Joined in this order after the user namespace that owns them; the mounts last (after them, host
# paths under /proc no longer resolve).
NAMESPACES = (("net", CLONE_NEWNET), ("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS), ("cgroup", CLONE_NEWCGROUP),
              ("pid", CLONE_NEWPID), ("mnt", CLONE_NEWNS))
NS_GET_PARENT = 0xB702  # ioctl: the parent of a user namespace
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_CAP_AMBIENT, PR_SET_DUMPABLE = 24, 38, 22, 47, 4
PR_CAP_AMBIENT_CLEAR_ALL, SECCOMP_MODE_FILTER = 4, 2
CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.capset.argtypes = [ctypes.c_void_p, ctypes.c_void_p]


class SandboxEntryError(RuntimeError):
    """The fork could not enter the sandbox (the warm start is then off; the cold start still works)."""


def _call(what: str, result: int) -> int:
    if result == -1:
        errno = ctypes.get_errno()
        raise SandboxEntryError(f"{what} failed: {os.strerror(errno)}")
    return result


def _setns(fd: int, kind: int, name: str) -> None:
    _call(f"joining the sandbox's {name} namespace", _libc.setns(fd, kind))


def _outer_user_namespace(user_fd: int, own: int) -> int:
    """The ancestor of the holder's user namespace whose parent is ours (`own`, an inode): the one
    bubblewrap made first (`--disable-userns` nests the holder one level deeper)."""
    import fcntl

    current = os.dup(user_fd)
    for _ in range(32):
        parent = _call("finding the sandbox's user namespace", fcntl.ioctl(current, NS_GET_PARENT))
        if os.fstat(parent).st_ino == own:
            os.close(parent)
            return current
        os.close(current)
        current = parent
    raise SandboxEntryError("the sandbox's user namespaces nest deeper than expected")


def _drop_capabilities() -> None:
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        last = int(fh.read())
    for cap in range(last + 1):
        _call("dropping a bounding capability", _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
    _call("clearing ambient capabilities", _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable for both 32-bit halves: none
    _call("dropping capabilities", _libc.capset(ctypes.addressof(header), ctypes.addressof(data)))


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp(program: bytes) -> None:
    """Load a classic BPF seccomp program (8 bytes per instruction; no-new-privileges must be set)."""
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    _call("loading the seccomp filter", _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0))


def _confine():
    """confine.py, beside this file (a script: loaded by path, as this module is in the zygote)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_alexnet_lab_confine", Path(__file__).with_name("confine.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def enter(holder_pid: int, spec: dict) -> None:
    """Join the sandbox whose holder is `holder_pid` (a host PID) and confine this process.

    `spec`: confine.py's spec, applied as confine.py applies it to a cold kernel: "uid" the kernel's
    uid when the grader is root (None: stay this user), "nproc" / "as_bytes" / "fsize_bytes" the
    limits, "seccomp" the filter (hex). The process must be single-threaded (a fresh
    fork is). A PID namespace is entered by the children of this process only.
    """
    uid = spec.get("uid")
    confine = _confine()  # read from the host's folder, before this process is in the sandbox's mounts
    names = ("user",) + tuple(n for n, _ in NAMESPACES)
    # Read now: once this process is in the sandbox's mounts, /proc/self is not this process.
    own = {name: os.stat(f"/proc/self/ns/{name}").st_ino for name in names}
    files = {name: os.open(f"/proc/{holder_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for name in names}

    def joined(name: str) -> bool:
        return os.fstat(files[name]).st_ino == own[name]

    try:
        if uid is None:  # the sandbox's namespaces belong to its outer user namespace: join that first
            outer = _outer_user_namespace(files["user"], own["user"])
            _setns(outer, CLONE_NEWUSER, "outer user")
            os.close(outer)
        for name, kind in NAMESPACES:
            if not joined(name):
                _setns(files[name], kind, name)
        confine.set_limits(spec)
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # every capability in the host's namespace goes with root
        if not joined("user"):
            _setns(files["user"], CLONE_NEWUSER, "user")
    finally:
        for fd in files.values():
            os.close(fd)
    _drop_capabilities()
    # Leaving root cleared the dumpable flag, which an exec would have set again: without it the
    # kernel could not read its own /proc/self/environ, as a cold kernel can.
    _call("setting the process dumpable", _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
    _call("setting no-new-privileges", _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    load_seccomp(bytes.fromhex(spec["seccomp"]))
