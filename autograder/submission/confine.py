"""The last step before a grading kernel starts: drop everything the grader holds, then exec.

Run as `python -I -S confine.py SPEC -- COMMAND...` (standard library only, no site: it starts in
a few milliseconds and imports nothing a submission could have touched). In this order it:

1. closes every inherited file descriptor but 0-2 (jupyter_client launches kernels with
   close_fds=False; a runner's sockets to Ray or its log files must not reach student code);
2. writes the seccomp program, if SPEC has one, into a memfd whose number replaces `@seccomp` in
   COMMAND (bubblewrap loads it);
3. sets the resource limits (processes, address space, file size, no core dumps) and pins the
   process to its runner's cores (inherited by every process it starts; the seccomp filter
   refuses sched_setaffinity, so no child takes another runner's cores back);
4. leaves root for the sandbox's own unprivileged uid and gid, with no supplementary groups;
5. execs COMMAND (bubblewrap, or the kernel itself when there is no sandbox).

SPEC is JSON: {"uid": int|null, "nproc": int|null, "as_bytes": int|null, "fsize_bytes": int|null,
"cpus": [int]|null, "seccomp": hex|null}.
"""
import json
import os
import resource
import sys

SECCOMP = "@seccomp"


def _seccomp(program: bytes) -> str:
    fd = os.memfd_create("alexnet-lab-seccomp", 0)
    os.set_inheritable(fd, True)  # bubblewrap reads it after the exec
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return str(fd)


def set_limits(spec: dict) -> None:
    """The spec's process, address-space and file-size limits, no core dumps, and its cores (also
    applied by enter.py to a warm-started kernel)."""
    for name, key in (("RLIMIT_NPROC", "nproc"), ("RLIMIT_AS", "as_bytes"), ("RLIMIT_FSIZE", "fsize_bytes")):
        if spec.get(key):
            resource.setrlimit(getattr(resource, name), (spec[key], spec[key]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if spec.get("cpus"):
        os.sched_setaffinity(0, spec["cpus"])


def main(argv: list[str]) -> None:
    spec, separator, command = json.loads(argv[0]), argv[1], argv[2:]
    if separator != "--" or not command:
        raise SystemExit("usage: confine.py SPEC -- COMMAND...")
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    resolved = list(command)
    if spec.get("seccomp"):  # the first token only: a later one belongs to a nested confine.py
        resolved[resolved.index(SECCOMP)] = _seccomp(bytes.fromhex(spec["seccomp"]))
    set_limits(spec)
    uid = spec.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.execv(resolved[0], resolved)


if __name__ == "__main__":
    main(sys.argv[1:])
