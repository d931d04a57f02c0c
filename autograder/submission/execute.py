"""Execute a prepared notebook: a trusted nbclient client here, the kernel alone in the sandbox.

`execute()` makes a fresh scratch folder (under the output folder's private `.work/` when the
batch runs), starts the Jupyter kernel through `sandbox.sandbox_command` with the IPC transport,
its sockets in a folder shared for that alone, and drives it cell by cell from this process under
a per-cell and a whole-notebook time limit, a resident-memory watchdog and an output budget. The
executed notebook is the client's own record of the messages it received: nothing the kernel
writes to a file is read back, so a submission cannot forge its outputs or its status. A timeout,
a dead kernel or the memory cap stops the run; an error in a cell is recorded with the cell's
grade_id and the run goes on (later cells may still earn points).
"""
from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_core import synthetic
from alexnet_core.assets import DATA_ENV, cache_dir
from alexnet_core.contract import MB, grade_id
from alexnet_core.errors import AssetError
from alexnet_core.profiles import PROFILE_ENV, RECIPE_ENV, recipe_to_json
from autograder.submission import gpu
from autograder.submission import sandbox as sb
from autograder.submission import zygote as zg
from grading_config import Limits, Profile

log = logging.getLogger(__name__)

OK, ERROR, TIMEOUT, DEAD, MEMORY, CRASHED = "ok", "error", "timeout", "dead-kernel", "memory", "crashed"
OUTPUT = "output-channel"
"""The kernel sent one message over the output limit: ZeroMQ refused it and closed the output
channel, so nothing after it can be collected."""
# The largest single message read from the kernel: twice the output budget, and never less than
# this many MiB, since ipykernel batches a print loop's output into messages of several MiB.
MESSAGE_FLOOR_MB = 32
# Seconds the client waits for a cell's last outputs after the kernel says the cell is done.
IOPUB_WAIT_S = 10
# The grader's environment variables a kernel gets, by exact name; every other one it sees is set
# here. No prefix: a prefix let NVIDIA_API_KEY through with NVIDIA_VISIBLE_DEVICES.
KERNEL_ENV_NAMES = ("PATH", "LANG", "LC_ALL", "TZ", "LD_LIBRARY_PATH")
# The thread counts a kernel honours: set to the runner's share so kernels do not fight for cores.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# What a warm start's zygote imports once for all its kernels: what the lab's cells and ipykernel
# import (torch 1.3-2 s, torchvision, matplotlib and its font list, IPython), and the student floor.
PRELOAD = ("torch", "torchvision", "numpy", "PIL.Image", "matplotlib.pyplot", "ipykernel.kernelapp",
           "ipykernel.ipkernel", "alexnet_core", *(f"alexnet_core.{name}" for name in (
               "assets", "cifar", "display", "identity", "imagenet", "models", "plots", "profiles", "runtime",
               "synthetic", "training")))
KERNEL_ARGS = ("--HistoryManager.enabled=False",)
UNNAMED = "cell "
"""How a cell without a grade id is named in results: 'cell N' (1-based); only a student's own cell has none."""


@dataclass
class Execution:
    """What one execution produced."""

    notebook: str | None
    """The executed notebook (nbformat JSON text), also when the run stopped early; None if none."""
    status: str = OK
    """ok | error (a cell raised, the run went on) | timeout | dead-kernel | memory | output-channel | crashed."""
    reason: str = ""
    failed_cell: str | None = None
    """grade_id (or 'cell N') where the run stopped, or of the first cell that raised."""
    errors: list[dict] = field(default_factory=list)
    """One {'cell', 'ename', 'evalue'} per cell that raised."""
    truncated: list[str] = field(default_factory=list)
    """Cells whose outputs were cut at the output cap."""
    seconds: float = 0.0
    sandboxed: bool = False
    warm_start: bool = False
    """The kernel was forked from a zygote (else started from nothing)."""

    @property
    def stopped(self) -> bool:
        """True when execution did not reach the end of the notebook."""
        return self.status in (TIMEOUT, DEAD, MEMORY, OUTPUT, CRASHED)


def cell_name(cell, index: int) -> str:
    """A cell's grade_id, or 'cell N' (1-based) for cells without one."""
    return grade_id(cell) or f"{UNNAMED}{index + 1}"


def warm_assets(profile: Profile) -> None:
    """Build what the kernel would otherwise write into the (read-only) asset cache: the synthetic
    set of a synthetic profile, real CIFAR-10 extracted from its archive. A missing asset is left
    for the notebook to report, with the command that fetches it."""
    if synthetic.dataset_ready(profile):
        return
    try:
        if profile.synthetic:
            synthetic.ensure_synthetic(profile)
        else:
            from alexnet_core.cifar import load_dataset  # torch: only on the rare cold start

            load_dataset(profile)
    except (AssetError, OSError):
        pass


def fixed_kernel_env(device: str, threads: int) -> dict[str, str]:
    """The part of a kernel's environment that is the same for every run of a runner slot: a few
    names from the grader's, the rest set here (a zygote imports with exactly this)."""
    env = {name: os.environ[name] for name in KERNEL_ENV_NAMES if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env[DATA_ENV] = str(cache_dir())
    for name in THREAD_VARS:
        env[name] = str(max(1, threads))
    env["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1] if device.startswith("cuda") else ""
    # Who the kernel is, for getpass.getuser() (torch's compile cache asks): its uid has no
    # account on the host. (No MPLBACKEND: ipykernel then uses the inline backend, as a student's
    # Jupyter does.)
    env["USER"] = env["LOGNAME"] = sb.KERNEL_USER
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The project's student floor must import inside, installed or editable.
    env["PYTHONPATH"] = os.pathsep.join(str(root) for root in sb.code_roots())
    return env


def kernel_env(workdir: Path, profile: Profile, device: str, threads: int) -> dict[str, str]:
    """The kernel's whole environment: the slot's fixed part and this run's names (PER_RUN_ENV)."""
    env = fixed_kernel_env(device, threads)
    env[PROFILE_ENV] = profile.name
    env[RECIPE_ENV] = recipe_to_json(profile)  # the recipe as this config resolved it, overrides included
    env["HOME"] = env["TMPDIR"] = str(workdir)  # homes inside the kernel's own working folder
    for name, sub in (("JUPYTER_RUNTIME_DIR", ".runtime"), ("IPYTHONDIR", ".ipython"), ("MPLCONFIGDIR", ".mpl")):
        env[name] = str(workdir / sub)
    return env


PER_RUN_ENV = (PROFILE_ENV, RECIPE_ENV, "HOME", "TMPDIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR")
"""The names `kernel_env` sets per run (read by alexnet_core when called, never at import)."""


def start_zygote(device: str, threads: int, parent: Path | None = None) -> zg.Zygote:
    """A zygote for the kernels of a runner slot (the local pool starts one per slot, its folder in
    `parent`, the pool's work folder)."""
    return zg.Zygote(fixed_kernel_env(device, threads), preload=PRELOAD, parent=parent)


def execute(notebook: str, *, profile: Profile, limits: Limits, device: str = "cpu", threads: int = 1,
            sandbox: bool = True, hidden: list = (), scratch: Path | None = None, warm: bool = True,
            zygote: str | None = None, gpu_share: float = 1.0, cpus: list[int] | None = None) -> Execution:
    """Run the notebook (nbformat JSON text) with a fresh kernel; never raises for the notebook's faults.

    `scratch`: the folder to make this run's scratch in (the batch passes OUT/.work/scratch); the
    run's folder is removed when it ends. `warm`: fork the kernel from a zygote (zygote.py) when
    the run is sandboxed: the one listening at `zygote` (the pool's, for this slot), else one this
    process starts and keeps; a warm start that fails is said once, and this run and every later one
    in this process start cold. `gpu_share`: the part of its GPU this run's slot owns; a kernel
    holding more GPU memory than that share (or `limits.gpu_memory_mb`) is stopped, so a runner
    that takes the GPU from the others fails alone. `cpus`: the runner's own cores; the kernel and
    every process it starts are pinned to them (cold and warm alike), so a student's busy
    processes cannot slow another runner's student. None: no pinning (one run alone).
    """
    started = time.monotonic()
    if scratch is not None:
        Path(scratch).mkdir(parents=True, exist_ok=True)
    gpu_cap_mb = None
    if device.startswith("cuda"):
        total = gpu.total_mb(device) if not limits.gpu_memory_mb and gpu_share < 1 else None
        gpu_cap_mb = limits.gpu_memory_mb or (total * gpu_share if total else None)
    kw = dict(profile=profile, limits=limits, device=device, threads=threads, sandbox=sandbox, hidden=list(hidden),
              zygote=zygote, gpu_cap_mb=gpu_cap_mb, cpus=cpus)
    # Absolute: the sandbox's command line is run from the kernel's folder, not from here.
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=scratch)).resolve()
    try:
        try:
            result = _execute(notebook, run_dir, warm=warm, **kw)
        except zg.WarmStartError as exc:  # before any student code ran: start this one cold
            if exc.lasting:
                _warm_failed(str(exc))
            else:
                log.info("%s", exc)
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.mkdir()
            result = _execute(notebook, run_dir, warm=False, **kw)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _execute(notebook: str, run_dir: Path, *, profile, limits, device, threads, sandbox, hidden, warm,
             zygote, gpu_cap_mb, cpus) -> Execution:
    uid = sb.sandbox_uid(limits.sandbox_uid_base)
    sandboxed = False
    if sandbox:
        problem = sb.bwrap_problem(uid)
        if problem is None:
            sandboxed = True
        elif limits.require_sandbox:
            return Execution(None, CRASHED, f"refused: no sandbox ({problem}) and limits.require_sandbox is on")
        else:
            sb.warn_unsandboxed(problem)
    workdir = run_dir / "kernel"
    workdir.mkdir()
    sockets = run_dir / "ipc"
    if len(str(sockets.resolve())) > zg.SOCKET_PATH_MAX:  # a deep OUT: sockets only, never a notebook
        sweep_socket_folders()
        sockets = Path(tempfile.mkdtemp(prefix=f"{IPC_PREFIX}{os.getpid()}-"))
    else:
        sockets.mkdir()
    owner = uid if sandboxed else None
    if owner is not None:
        os.chown(sockets, owner, owner)  # the kernel makes its sockets there
        if cache_dir().is_dir():
            sb.open_to_others(cache_dir())
    env = kernel_env(workdir, profile, device, threads)
    # On CPU the address-space cap makes a runaway allocation a MemoryError inside the kernel;
    # CUDA reserves huge address ranges, so GPU runs rely on the resident-memory watchdog.
    caps = {"processes": limits.processes, "memory_mb": None if device.startswith("cuda") else limits.memory_mb,
            "file_mb": limits.scratch_mb, "cpus": cpus}
    launch = None
    if warm and sandboxed and _zygote_problem is None:
        fixed = zg.fixed_part(env, PER_RUN_ENV)
        launch = WarmLaunch(path=zygote or _own_zygote(fixed).path, fixed=fixed, fifo=sockets / "kernel.pid",
                            env=env, cwd=workdir, spec=sb.confine_spec(uid=uid, **caps))

    def wrap(kernel: list[str]) -> list[str]:
        if launch is not None:  # the sandbox runs a holder; the zygote forks the kernel into it
            kernel = sb.holder_command(launch.fifo)
        if sandboxed:
            accounts = sb.write_accounts(run_dir, uid, workdir) if uid is not None else None
            return sb.sandbox_command(kernel, workdir=workdir, shared=sockets, env=env, uid=uid, readable=[cache_dir()],
                                      accounts=accounts,
                                      hidden=hidden, device=device, scratch_mb=limits.scratch_mb, **caps)
        return sb.confine_command(sb.confine_spec(uid=None, seccomp=False, **caps), kernel)

    try:
        with open(run_dir / "kernel.log", "wb") as kernel_log:
            result = _drive(notebook, wrap=wrap, env=env, workdir=workdir, sockets=sockets, owner=owner, log=kernel_log,
                            profile=profile, limits=limits, launch=launch, gpu_cap_mb=gpu_cap_mb)
        if result.status == CRASHED:
            tail = (run_dir / "kernel.log").read_bytes()[-2000:].decode("utf-8", "replace").strip().splitlines()
            if tail:
                result.reason += f" (kernel said: {tail[-1][:200]})"
    finally:
        if sockets.parent != run_dir:
            shutil.rmtree(sockets, ignore_errors=True)
    result.sandboxed = sandboxed
    result.warm_start = launch is not None and launch.pid is not None
    return result


IPC_PREFIX = "alexnet-lab-ipc-"
"""A deep OUT's socket folders under the system's temporary folder: `alexnet-lab-ipc-<runner pid>-*`."""


def sweep_socket_folders() -> None:
    """Remove the socket folders of runners that are gone (killed before their `finally`): when a
    run needs one, and when a batch ends (its pool may have lost a runner)."""
    for folder in Path(tempfile.gettempdir()).glob(IPC_PREFIX + "*-*"):
        pid = folder.name[len(IPC_PREFIX):].split("-", 1)[0]
        try:
            # As root the folder belongs to the kernel's uid until the kernel is ready (`seal_sockets`):
            # a runner killed before that leaves one owned by that uid, which is still ours to remove.
            if not pid.isdigit() or (os.geteuid() != 0 and folder.stat().st_uid != os.geteuid()):
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


# ---------------------------------------------------------------- the warm start

_zygote: zg.Zygote | None = None
"""The zygote this process started for itself (a Ray worker, a test): kept across runs."""
_zygote_lock = threading.Lock()
_zygote_problem: str | None = None
"""Why this process starts its kernels cold from now on (a warm start failed once), or None."""


def _own_zygote(fixed: dict[str, str]) -> zg.Zygote:
    """This process's zygote for kernels with the `fixed` environment (a new one when that changed)."""
    global _zygote
    with _zygote_lock:  # runs on several threads of one process (the tests) share it
        if _zygote is not None and (_zygote.fixed != fixed or not _zygote.alive):
            _close_zygote()
        if _zygote is None:
            _zygote = zg.Zygote(fixed, preload=PRELOAD)
        return _zygote


def _close_zygote() -> None:
    global _zygote
    if _zygote is not None:
        _zygote.close()
        _zygote = None


atexit.register(_close_zygote)


def _warm_failed(reason: str) -> None:
    global _zygote_problem
    _zygote_problem = reason
    _close_zygote()
    log.warning("warm start off in this runner, kernels start cold from now on: %s", reason)


@dataclass
class WarmLaunch:
    """A kernel to fork from the zygote into the sandbox that `wrap` starts with a holder."""

    path: str
    """The zygote's socket."""
    fixed: dict
    fifo: Path
    env: dict
    cwd: Path
    spec: dict
    """confine.py's spec for the kernel: its uid, limits and seccomp program."""
    pid: int | None = None
    """The kernel's host PID once forked."""

    def start(self, sandbox_process, connection_file: str, log_fd: int) -> None:
        holder = _find_holder(sandbox_process, self.fifo)
        self.pid = zg.spawn(self.path, fixed=self.fixed, holder_pid=holder, spec=self.spec, env=self.env,
                            cwd=str(self.cwd), argv=["-f", connection_file, *KERNEL_ARGS], fifo=str(self.fifo),
                            log_fd=log_fd)


def _find_holder(process, fifo: Path, timeout_s: float = 30) -> int:
    """The host PID of the sandbox's holder, once it has made its FIFO."""
    deadline = time.monotonic() + timeout_s
    while not fifo.exists():
        if process.poll() is not None:
            raise zg.WarmStartError(f"the sandbox ended (exit {process.returncode}) before its holder started")
        if time.monotonic() > deadline:
            raise zg.WarmStartError(f"the sandbox's holder did not start within {timeout_s:g} s")
        time.sleep(0.005)
    wanted = sb.holder_command(fifo)
    for pid in _descendants(process.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        if argv == wanted:
            return pid
    raise zg.WarmStartError("the sandbox's holder process was not found")


# ---------------------------------------------------------------- the kernel and its client

def _kernel_manager_class():
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        """A kernel manager whose kernel is this interpreter's ipykernel, wrapped by `wrap` (the
        sandbox and the limits), reading a connection file its unprivileged uid may read."""

        wrap = staticmethod(lambda cmd: cmd)
        owner: int | None = None
        max_message = 0
        launch: WarmLaunch | None = None
        log_fd: int = 2

        def format_kernel_cmd(self, extra_arguments=None):
            return self.wrap([sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *KERNEL_ARGS])

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            await super()._async_launch_kernel(kernel_cmd, **kw)
            if self.launch is not None:
                self.launch.start(self.provisioner.process, self.connection_file, self.log_fd)

        def client(self, **kwargs):
            kc = super().client(**kwargs)
            if self.max_message:
                # A message past this is refused by ZeroMQ before it is read into memory. (The
                # client makes its own context, so the option is set on that one.)
                import zmq

                kc.context.setsockopt(zmq.MAXMSGSIZE, self.max_message)
            return kc

        def write_connection_file(self, **kwargs):
            super().write_connection_file(**kwargs)
            if self.owner is not None:
                os.chown(self.connection_file, self.owner, self.owner)

    return SandboxedKernelManager


def _capped_client_class():
    from nbclient import NotebookClient
    from nbformat.v4 import new_output

    class CappedClient(NotebookClient):
        """nbclient that keeps no more than a byte budget of outputs, whatever their MIME type,
        so a flood of output, display updates included, cannot fill the grader's memory."""

        output_budget = 0
        truncated: list = []

        def _charge(self, content, cell_index: int) -> bool:
            size = len(json.dumps(content, default=str))
            if size > self.output_budget:  # dropped; smaller outputs later may still fit
                name = cell_name(self.nb.cells[cell_index], cell_index)
                if name not in self.truncated:
                    self.truncated.append(name)
                    self.nb.cells[cell_index].setdefault("outputs", []).append(new_output(
                        "stream", name="stderr", text="[autograder: output cut here, over the output size limit]\n"))
                return False
            self.output_budget -= size
            return True

        def output(self, outs, msg, display_id, cell_index):
            if not self._charge(msg.get("content", {}), cell_index):
                return None
            return super().output(outs, msg, display_id, cell_index)

        def _update_display_id(self, display_id, msg):
            # An update replaces outputs in place; it is charged like a new output all the same,
            # to the first cell showing that display (nbclient maps display id -> {cell: outputs}).
            cell_index = next(iter(self._display_id_map.get(display_id, {})), None)
            if cell_index is not None and not self._charge(msg.get("content", {}), cell_index):
                return None
            return super()._update_display_id(display_id, msg)

    return CappedClient


def _descendants(*roots: int) -> list[int]:
    """The processes and all their descendants, roots first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _memory_mb(pids: list[int]) -> float:
    """Memory of the processes (the sandbox's, and a warm-started kernel's, with their descendants):
    their proportional set size, so pages shared between them,
    or with the zygote they were forked from, count once in all (resident size would count the
    preloaded torch once per forked process). Resident size where the kernel has no smaps_rollup."""
    total = 0.0
    for pid in pids:
        for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
            try:
                with open(path) as fh:
                    kb = next((int(line.split()[1]) for line in fh if line.startswith(key)), None)
            except OSError:
                continue
            if kb is not None:
                total += kb / 1024
                break
    return total


# Seconds between two looks at the GPU's memory (nvidia-smi costs about 0.1 s of a core).
GPU_WATCH_S = 2.0


def _run_roots(km) -> list[int]:
    """The run's first processes: the sandbox jupyter_client started and, started warm, the kernel
    the zygote forked into it (its parent is the zygote, outside the sandbox's process tree)."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    kernel = km.launch.pid if km.launch is not None and km.launch.pid else None
    return [pid for pid in (process.pid if process is not None else None, kernel) if pid]


def _watch_memory(client, limit_mb: int, gpu_cap_mb: float | None, tripped: dict, done: threading.Event) -> None:
    """Kill the kernel's whole sandbox when its memory passes the cap, or its GPU memory its share
    of the GPU (`gpu_cap_mb`); `tripped` says which: {"memory": MiB} or {"gpu": MiB}."""
    next_gpu = time.monotonic()
    while not done.wait(0.5):
        process = getattr(getattr(client.km, "provisioner", None), "process", None)
        if process is None:
            continue
        pids = _descendants(*_run_roots(client.km))
        used = _memory_mb(pids)
        if used > limit_mb:
            tripped["memory"] = used
        elif gpu_cap_mb and time.monotonic() >= next_gpu:
            next_gpu = time.monotonic() + GPU_WATCH_S
            held = gpu.memory_by_pid()
            on_gpu = sum(held.get(pid, 0.0) for pid in pids)
            if on_gpu > gpu_cap_mb:
                tripped["gpu"] = on_gpu
        if tripped:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(process.pid, signal.SIGKILL)
                except OSError:
                    pass
            return


# Seconds to wait for the processes of a killed sandbox to be gone.
TEARDOWN_WAIT_S = 10


def _sandbox_processes(km) -> list[int]:
    """Handles (pidfds) on every process of the run's sandbox and kernel now: a reused PID is
    never mistaken for one of them."""
    handles = []
    for pid in _descendants(*_run_roots(km)):
        try:
            handles.append(os.pidfd_open(pid))
        except OSError:
            pass
    return handles


@contextlib.contextmanager
def _noting_processes(km, into: list[int]):
    """On leaving, add the sandbox's processes to `into`: entered after nbclient's kernel context,
    it leaves first, while they are all still there to be found."""
    try:
        yield
    finally:
        into.extend(_sandbox_processes(km))


def _kill_sandbox(km, ending: list[int]) -> None:
    """Make sure nothing of the run outlives it (nbclient has asked the kernel to stop; a fork of
    the kernel would not have): killing the sandbox's first process takes its whole PID namespace.
    Returns once they have all ended: the namespace goes down asynchronously (processes that mapped
    torch take a while to unmap it), and the next run in this runner has the same uid, whose process
    limit the last ones would otherwise still hold."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    ending = ending + _sandbox_processes(km)
    if process is not None:  # else nbclient's shutdown has killed it already
        for kill in (lambda: os.killpg(process.pid, signal.SIGKILL), process.kill):
            try:
                kill()
            except OSError:
                pass
        try:
            process.wait(timeout=TEARDOWN_WAIT_S)
        except Exception:
            pass
    _wait_ended(ending, time.monotonic() + TEARDOWN_WAIT_S)


def _wait_ended(pidfds: list[int], deadline: float) -> None:
    """Wait until every process behind `pidfds` has ended (a pidfd turns readable then), or the deadline."""
    import select

    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    left = set(pidfds)
    try:
        while left and time.monotonic() < deadline:
            for fd, _ in poller.poll(max(1, int((deadline - time.monotonic()) * 1000))):
                poller.unregister(fd)
                left.discard(fd)
    finally:
        for fd in pidfds:
            os.close(fd)


def _drive(notebook: str, *, wrap, env, workdir: Path, sockets: Path, owner, log, profile: Profile,
           limits: Limits, launch: WarmLaunch | None = None, gpu_cap_mb: float | None = None) -> Execution:
    """Start the kernel, run every code cell, and build the executed notebook from what came back."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.reads(notebook, as_version=4)
    cell_s, notebook_s = profile.cell_timeout_s, profile.notebook_timeout_s
    km = _kernel_manager_class()(kernel_name="python3", transport="ipc", ip=str(sockets / "k"),
                                 connection_file=str(sockets / "kernel.json"))
    km.wrap, km.owner, km.launch, km.log_fd = wrap, owner, launch, log.fileno()
    km.max_message = int(max(2 * limits.output_mb, MESSAGE_FLOOR_MB) * MB)
    # Immediate shutdown: a kernel stuck in a loop would otherwise hold the runner for a grace period.
    client = _capped_client_class()(nb, km=km, timeout=cell_s, allow_errors=True, shutdown_kernel="immediate",
                                    iopub_timeout=IOPUB_WAIT_S, raise_on_iopub_timeout=True,
                                    resources={"metadata": {"path": str(workdir)}})
    client.owns_km = True  # made for this client: nbclient shuts the kernel down when the run ends
    client.output_budget = int(limits.output_mb * MB)
    client.truncated = []
    result = Execution(None)
    deadline = time.monotonic() + notebook_s
    tripped: dict[str, float] = {}
    done = threading.Event()
    ending: list[int] = []
    try:
        with client.setup_kernel(env=env, cwd=str(workdir), stdout=log, stderr=log), _noting_processes(km, ending):
            seal_sockets(sockets, km.connection_file)  # the kernel is ready: its sockets are bound
            threading.Thread(target=_watch_memory, args=(client, limits.memory_mb, gpu_cap_mb, tripped, done),
                             daemon=True).start()
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                name = cell_name(cell, index)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    result.status, result.failed_cell = TIMEOUT, name
                    result.reason = f"whole-notebook limit of {notebook_s} s reached before cell {name}"
                    break
                client.timeout = max(1, int(min(cell_s, remaining)))
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError as exc:
                    result.failed_cell = name
                    if "IOPub" in str(exc):
                        result.status = OUTPUT
                        result.reason = (f"cell {name}'s outputs stopped arriving: a single output over "
                                         f"{km.max_message // MB} MB closes the output channel")
                        break
                    which = f"per-cell limit of {cell_s} s" if cell_s <= remaining else f"whole-notebook limit of {notebook_s} s"
                    result.status, result.failed_cell = TIMEOUT, name
                    result.reason = f"cell {name} ran past the {which}"
                    break
                except DeadKernelError:
                    result.failed_cell = name
                    if "gpu" in tripped:
                        result.status = MEMORY
                        result.reason = (f"cell {name} held {tripped['gpu']:,.0f} MiB of GPU memory, more than its "
                                         f"share of the GPU ({gpu_cap_mb:,.0f} MiB); the kernel was stopped")
                    elif tripped:
                        result.status = MEMORY
                        result.reason = f"cell {name} used more than {limits.memory_mb} MB of memory; the kernel was stopped"
                    else:
                        result.status, result.reason = DEAD, f"the kernel died while running cell {name}"
                    break
                _record_errors(result, cell, name, limits)
    except zg.WarmStartError:
        raise  # nothing of the student's ran: execute() starts it again, cold
    except Exception as exc:  # the kernel could not start, etc.: recorded, never raised to the runner
        if result.status == OK:
            result.status = CRASHED
            result.reason = f"execution failed: {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        done.set()
        _kill_sandbox(km, ending)
    result.truncated = list(client.truncated)
    result.notebook = nbformat.writes(nb)
    return result


def seal_sockets(sockets: Path, connection_file: str) -> None:
    """Take the socket folder back from the kernel once it is ready: the only host folder it could
    write (every other writable folder inside is a size-capped tmpfs). Its sockets are bound by
    then, before any cell runs, and stay usable (connecting needs no write access to the folder), so
    from here on no file a kernel writes lands on the host's disk. As root the folder and the
    connection file become the grader's again (0700, 0600: the kernel's uid can no longer enter).
    Not root, the kernel has the grader's own uid, which could take the folder back: nothing is
    done (ARCHITECTURE, "The sandbox")."""
    if os.geteuid() != 0:
        return
    for path, mode in ((Path(connection_file), 0o600), (sockets, 0o700)):
        try:
            os.chown(path, 0, 0)
            path.chmod(mode)
        except OSError as exc:  # a folder that cannot be sealed is said, never a stopped run
            log.warning("could not take the kernel's socket folder back (%s): %s", path, exc)


def student_view(notebook: dict) -> list[dict]:
    """What a student sees of each code cell, less what differs between two runs of the same code:
    its stream text (however the kernel split it into messages), its rich outputs and errors, with
    wall-clock seconds and execution counters left out. Two runs of a seeded lab compare equal."""
    cells = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        streams: dict[str, str] = {}
        rich = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                streams[out.get("name")] = streams.get(out.get("name"), "") + (
                    "".join(text) if isinstance(text, list) else text)
            else:
                rich.append({k: v for k, v in out.items() if k not in ("execution_count", "metadata", "transient")})
        cells.append(_steady({"streams": streams, "outputs": rich}))
    return cells


_SECONDS = re.compile(r"\b\d+(\.\d+)? ?s\b")


def _steady(value):
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return _SECONDS.sub("<seconds>", value) if isinstance(value, str) else value


def _record_errors(result: Execution, cell, name: str, limits: Limits) -> None:
    for out in cell.get("outputs", []):
        if out.get("output_type") != "error":
            continue
        result.errors.append({"cell": name, "ename": str(out.get("ename", ""))[:100],
                              "evalue": str(out.get("evalue", ""))[:300]})
        if result.status == OK:
            why = (f"ran out of memory (cap {limits.memory_mb} MB)" if out.get("ename") == "MemoryError"
                   else f"raised {out.get('ename')}: {str(out.get('evalue', ''))[:200]}")
            result.status, result.failed_cell, result.reason = ERROR, name, f"cell {name} {why}"
        break
