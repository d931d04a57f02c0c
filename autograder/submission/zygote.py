"""The warm start: a per-runner process that has already imported what every grading kernel
imports, and forks a fresh kernel into each submission's own sandbox.

A cold kernel pays for its interpreter, ipykernel, torch, torchvision and matplotlib (with its font
list) on every submission: about half of a smoke submission's time on CPU (docs/benchmarks.md). The
zygote pays once per runner. It never runs a line of a student's: it imports trusted libraries,
then waits for requests. For each submission (`Zygote.spawn`):

1. the runner starts the sandbox exactly as for a cold start, except that its program is a holder
   (`sandbox.holder_command`) that makes a FIFO in the socket folder and waits;
2. the zygote forks; the fork joins the holder's namespaces, limits, uid, capabilities and seccomp
   filter (`enter.enter`) and forks the kernel into the sandbox's PID namespace;
3. the kernel writes its PID to the FIFO; the holder then waits for that process, so the sandbox
   ends when the kernel does (and the kernel ends with the sandbox: it is in its PID namespace).

So no kernel, process or writable folder is shared by two students: each kernel is a new process
used once, in its own sandbox with its own tmpfs folders; only the zygote's read-only memory image
(libraries, as imported before any student ran) is common, copy on write.

Fork safety: the zygote runs no torch operation (no OpenMP pool, no CUDA context) and starts no
thread; with one BLAS thread per runner (the thread variables the kernels get) it has none.

This module is both sides: `Zygote` in the runner, `main()` in the zygote process (run as a
script, standard library only before the preload, so it imports nothing of the grader).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A kernel's first request may wait for the zygote's preload (3-5 s on CPU, more on a cold disk).
REPLY_TIMEOUT_S = 120
MESSAGE_BYTES = 1 << 20
# What ipykernel sets before any user code when nothing else is set; set before the preload so
# matplotlib's rcParams read at import are the ones a cold kernel's import reads.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
ENTER = Path(__file__).with_name("enter.py")
SOCKET = "zygote.sock"
PREFIX = "alexnet-lab-zygote-"
"""How a zygote's folder is named (its socket, HOME, matplotlib and torch caches), wherever it lies."""
OWNER = "zygote.pid"
"""The file in that folder naming the zygote process, written once it runs there."""
SOCKET_PATH_MAX = 100
"""Unix socket paths are limited to 108 bytes: past this, a zygote's folder and a run's socket
folder (execute.py) go to a short private folder under the system's temporary folder."""


def _cwds() -> set[str]:
    """The working folders of the processes this user can see (a zygote's is its own folder)."""
    found = set()
    for link in Path("/proc").glob("[0-9]*/cwd"):
        try:
            found.add(os.readlink(link))
        except OSError:
            pass
    return found


def stale_folders(parent: str | Path | None = None) -> list[Path]:
    """Zygote folders under `parent` (the system's temporary folder by default) whose zygote is gone
    (no process works in them): a zygote removes its own folder when it ends, but one killed by
    SIGKILL cannot. A folder being made (no owner file yet, under a minute old) is not stale."""
    folders = [f for f in Path(parent or tempfile.gettempdir()).glob(PREFIX + "*") if f.is_dir()]
    if not folders:
        return []
    busy = _cwds()
    stale = []
    for folder in folders:
        try:
            if folder.stat().st_uid != os.geteuid() or os.path.realpath(folder) in busy:
                continue
            if (folder / OWNER).exists() or time.time() - folder.stat().st_mtime > 60:
                stale.append(folder)
        except OSError:
            continue
    return stale


class WarmStartError(RuntimeError):
    """The warm start failed before any student code ran (the run can start cold instead).
    `lasting`: the zygote or the sandbox entry is broken (later runs start cold too); else only
    this run's settings did not suit it."""

    def __init__(self, message: str, lasting: bool = True):
        super().__init__(message)
        self.lasting = lasting


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def fixed_part(env: dict[str, str], per_run: tuple[str, ...]) -> dict[str, str]:
    """The part of a kernel's environment a zygote fixes at import time: all but the per-run names."""
    return {k: v for k, v in env.items() if k not in per_run}


# ---------------------------------------------------------------- the runner's side

class Zygote:
    """A zygote process this process started, serving kernels at `path` (a Unix socket in a
    folder only this user may enter). `fixed`: the kernels' environment less its per-run names.

    Started without waiting: the first `spawn` waits for the preload instead, so a pool can start
    one per runner slot at once. Its folder is made in `parent` (the pool gives OUT/.work/jobs, removed
    at the next start) where the socket's path fits, else in the system's temporary folder; the
    zygote removes it when it ends, also when its parent was killed, and stale ones in the same
    place (a zygote killed by SIGKILL) are removed when the next one starts."""

    def __init__(self, fixed: dict[str, str], *, preload: tuple[str, ...], parent: str | Path | None = None):
        self.fixed = dict(fixed)
        if parent is None or len(str(Path(parent).resolve() / (PREFIX + "x" * 8) / SOCKET)) > SOCKET_PATH_MAX:
            parent = None
        else:
            Path(parent).mkdir(parents=True, exist_ok=True)
        for stale in stale_folders(parent):
            shutil.rmtree(stale, ignore_errors=True)
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))  # mode 0700
        self.path = str(self.folder / SOCKET)
        own = dict(fixed, HOME=str(self.folder), TMPDIR=str(self.folder), MPLCONFIGDIR=str(self.folder / "mpl"),
                   IPYTHONDIR=str(self.folder / "ipython"), JUPYTER_RUNTIME_DIR=str(self.folder / "runtime"))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(self.path)
        listener.listen(8)
        # Its parent by PID: a coordinator killed while this new process is still starting Python
        # has already left it to init, which getppid() alone would take for the parent.
        settings = json.dumps({"fixed": self.fixed, "preload": list(preload), "folder": str(self.folder),
                               "parent": os.getpid()})
        with open(self.folder / "zygote.log", "wb") as log:
            self.process = subprocess.Popen([sys.executable, __file__, str(listener.fileno()), settings],
                                            pass_fds=[listener.fileno()], env=own, cwd=self.folder,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        listener.close()
        (self.folder / OWNER).write_text(str(self.process.pid))

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def spawn(path: str, *, fixed: dict[str, str], holder_pid: int, spec: dict, env: dict[str, str], cwd: str,
          argv: list[str], fifo: str, log_fd: int) -> int:
    """Ask the zygote at `path` to fork a kernel into the sandbox whose holder is `holder_pid`;
    the kernel's host PID. One connection per kernel: nothing of one request reaches the next.

    `fixed`: the kernel's environment less its per-run names (must be the zygote's); `spec`:
    confine.py's spec, what a cold kernel's confine.py applies (uid, limits, seccomp); `argv`: ipykernel's arguments; `fifo`: the holder's
    FIFO (the kernel writes its PID there); `log_fd`: the kernel's stdout and stderr.
    """
    request = {"fixed": fixed, "holder_pid": holder_pid, "spec": spec, "env": env, "cwd": cwd, "argv": argv,
               "fifo": fifo}
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as channel:
        channel.settimeout(REPLY_TIMEOUT_S)
        try:
            channel.connect(path)
            socket.send_fds(channel, [json.dumps(request).encode()], [log_fd])
            data = channel.recv(MESSAGE_BYTES)
        except OSError as exc:
            raise WarmStartError(f"the zygote at {path} did not answer: {exc}") from None
    if not data:
        raise WarmStartError(f"the zygote at {path} closed the connection without an answer")
    reply = json.loads(data)
    if "error" in reply:
        raise WarmStartError(reply["error"], lasting=not reply.get("this_run_only"))
    return int(reply["pid"])


# ---------------------------------------------------------------- the zygote process

def _load_enter():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_alexnet_lab_enter", ENTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fresh_process_state() -> None:
    """What a new interpreter would not share with its siblings: numpy's global random state (seeded
    at import), tempfile's cached folder, and the import system's listings of the host's folders
    (the sandbox shows fewer). Python's `random` reseeds itself after a fork."""
    import importlib
    import tempfile as tf

    tf.tempdir = None
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _kernel(request: dict) -> None:
    """In the sandbox, as the kernel: report the PID to the holder, then run ipykernel until shutdown."""
    os.setsid()
    # Blocking: the holder may not have opened its end yet (it made the FIFO, which is what the
    # runner waited for); if the holder is gone, so is the sandbox, and this process with it.
    fd = os.open(request["fifo"], os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"], PWD=request["cwd"])  # as bubblewrap's --chdir leaves it
    os.chdir(request["cwd"])
    _fresh_process_state()
    sys.argv = ["ipykernel_launcher", *request["argv"]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


def _fork_kernel(request: dict, log_fd: int, status: int, enter) -> None:
    """The zygote's fork: enter the sandbox, fork the kernel into its PID namespace, say its PID."""
    as_bytes = request["spec"].get("as_bytes")
    if as_bytes and _status_kb("VmSize") * 1024 >= as_bytes:
        os.write(status, json.dumps({"this_run_only": True, "error": (
            f"the address-space cap ({as_bytes >> 20} MiB) is below what the preloaded libraries map "
            f"({_status_kb('VmSize') >> 10} MiB): this kernel starts cold")}).encode())
        return
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    import resource

    os.closerange(3, status)  # the zygote's channel to the runner must not reach the sandbox
    os.closerange(status + 1, max(1 << 16, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    enter.enter(request["holder_pid"], request["spec"])
    pid = os.fork()
    if pid == 0:
        os.close(status)
        code = 0
        try:
            _kernel(request)
        except BaseException:  # noqa: BLE001 - into the kernel's log, which the runner reads on a crash
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.write(status, json.dumps({"pid": pid}).encode())


def _answer(connection: socket.socket, settings: dict, enter, problem: str | None) -> None:
    data, fds, _, _ = socket.recv_fds(connection, MESSAGE_BYTES, 4)
    try:
        if data:
            _fork_for(connection, json.loads(data), fds, settings, enter, problem)
    finally:
        for fd in fds:
            os.close(fd)


def _fork_for(connection: socket.socket, request: dict, fds: list[int], settings: dict, enter,
              problem: str | None) -> None:
    if problem is None and request.get("fixed") != settings["fixed"]:
        names = sorted(set(request.get("fixed", {}).items()) ^ set(settings["fixed"].items()))
        problem = f"this zygote serves kernels of another environment ({', '.join(sorted({n for n, _ in names}))} differ)"
    if problem is not None:
        connection.send(json.dumps({"error": problem}).encode())
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # a kernel waits for its own children
        connection.close()
        os.close(read)
        try:
            _fork_kernel(request, fds[0], write, enter)
        except BaseException as exc:  # noqa: BLE001 - everything is reported, then this fork ends
            os.write(write, json.dumps({"error": f"the kernel could not enter its sandbox: "
                                                 f"{type(exc).__name__}: {exc}"}).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        reply = answer.read() or json.dumps({"error": "the zygote's fork ended without a word"}).encode()
    connection.send(reply)


def _prctl(option: int, value: int) -> None:
    import ctypes

    ctypes.CDLL(None).prctl(option, value, 0, 0, 0)


def main(argv: list[str]) -> None:
    listener = socket.socket(fileno=int(argv[0]))
    settings = json.loads(argv[1])
    del sys.path[0]  # this file's folder: not on a kernel's import path
    parent = settings.get("parent", os.getppid())  # gone with the process that started it (checked each second)
    problem = None
    try:
        enter = _load_enter()
        os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
        import importlib

        for name in settings["preload"]:
            importlib.import_module(name)
        os.environ.pop("MPLBACKEND", None)  # ipykernel sets it in each kernel, as in a cold one
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_initialized():
            raise RuntimeError("CUDA was initialised while preloading; a fork could not use it")
        # Kernels whose fork has ended come back here (PR_SET_CHILD_SUBREAPER), and every child is
        # reaped by the kernel as it ends (SIGCHLD ignored): a kernel left a zombie would hold its
        # sandbox's PID namespace open (its init waits for processes that entered by setns+fork).
        _prctl(36, 1)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    except BaseException as exc:  # noqa: BLE001 - said to every runner that asks; they start kernels cold
        enter, problem = None, f"the zygote could not preload: {type(exc).__name__}: {exc}"
    listener.settimeout(1.0)
    while os.getppid() == parent:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        connection.settimeout(None)
        with connection:
            try:
                _answer(connection, settings, enter, problem)
            except Exception as exc:  # noqa: BLE001 - one bad request never ends the zygote
                try:
                    connection.send(json.dumps({"error": f"the zygote could not serve: {type(exc).__name__}: "
                                                         f"{exc}"}).encode())
                except OSError:
                    pass  # the runner went away mid-request; the next one connects afresh
    # The parent is gone (a coordinator killed with SIGKILL cannot close its zygotes): nothing of
    # this zygote stays behind. Its kernels are each in a sandbox of their own, not in here.
    shutil.rmtree(settings["folder"], ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
