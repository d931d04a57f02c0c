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

import json
import os
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
from autograder.submission import sandbox as sb
from grading_config import Limits, Profile

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
# Unix socket paths are limited to 108 bytes; past this, the sockets go to a short private folder.
SOCKET_PATH_MAX = 100
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


def kernel_env(workdir: Path, profile: Profile, device: str, threads: int) -> dict[str, str]:
    """The kernel's whole environment: a few names from the grader's, the rest set here."""
    env = {name: os.environ[name] for name in KERNEL_ENV_NAMES if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env[PROFILE_ENV] = profile.name
    env[RECIPE_ENV] = recipe_to_json(profile)  # the recipe as this config resolved it, overrides included
    env[DATA_ENV] = str(cache_dir())
    for name in THREAD_VARS:
        env[name] = str(max(1, threads))
    env["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1] if device.startswith("cuda") else ""
    # Homes inside the kernel's own working folder. (No MPLBACKEND: ipykernel then uses the inline
    # backend, as a student's Jupyter does.)
    env["HOME"] = env["TMPDIR"] = str(workdir)
    # Who the kernel is, for getpass.getuser() (torch's compile cache asks): its uid has no
    # account on the host.
    env["USER"] = env["LOGNAME"] = sb.KERNEL_USER
    for name, sub in (("JUPYTER_RUNTIME_DIR", ".runtime"), ("IPYTHONDIR", ".ipython"), ("MPLCONFIGDIR", ".mpl")):
        env[name] = str(workdir / sub)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The project's student floor must import inside, installed or editable.
    env["PYTHONPATH"] = os.pathsep.join(str(root) for root in sb.code_roots())
    return env


def execute(notebook: str, *, profile: Profile, limits: Limits, device: str = "cpu", threads: int = 1,
            sandbox: bool = True, hidden: list = (), scratch: Path | None = None) -> Execution:
    """Run the notebook (nbformat JSON text) with a fresh kernel; never raises for the notebook's faults.

    `scratch`: the folder to make this run's scratch in (the batch passes OUT/.work/scratch); the
    run's folder is removed when it ends.
    """
    started = time.monotonic()
    if scratch is not None:
        Path(scratch).mkdir(parents=True, exist_ok=True)
    # Absolute: the sandbox's command line is run from the kernel's folder, not from here.
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=scratch)).resolve()
    try:
        result = _execute(notebook, run_dir, profile=profile, limits=limits, device=device, threads=threads,
                          sandbox=sandbox, hidden=list(hidden))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _execute(notebook: str, run_dir: Path, *, profile, limits, device, threads, sandbox, hidden) -> Execution:
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
    if len(str(sockets.resolve())) > SOCKET_PATH_MAX:  # a deep OUT: sockets only, never a notebook
        sockets = Path(tempfile.mkdtemp(prefix="alexnet-lab-ipc-"))
    else:
        sockets.mkdir()
    owner = uid if sandboxed else None
    if owner is not None:
        os.chown(sockets, owner, owner)  # the kernel makes its sockets there
        if cache_dir().is_dir():
            sb.open_to_others(cache_dir())
    env = kernel_env(workdir, profile, device, threads)
    gpu = device.startswith("cuda")

    def wrap(kernel: list[str]) -> list[str]:
        # On CPU the address-space cap makes a runaway allocation a MemoryError inside the kernel;
        # CUDA reserves huge address ranges, so GPU runs rely on the resident-memory watchdog.
        caps = {"processes": limits.processes, "memory_mb": None if gpu else limits.memory_mb,
                "file_mb": limits.scratch_mb}
        if sandboxed:
            accounts = sb.write_accounts(run_dir, uid, workdir) if uid is not None else None
            return sb.sandbox_command(kernel, workdir=workdir, shared=sockets, env=env, uid=uid, readable=[cache_dir()],
                                      accounts=accounts,
                                      hidden=hidden, device=device, scratch_mb=limits.scratch_mb, **caps)
        return sb.confine_command(sb.confine_spec(uid=None, seccomp=False, **caps), kernel)

    try:
        with open(run_dir / "kernel.log", "wb") as log:
            result = _drive(notebook, wrap=wrap, env=env, workdir=workdir, sockets=sockets, owner=owner, log=log,
                            profile=profile, limits=limits)
        if result.status == CRASHED:
            tail = (run_dir / "kernel.log").read_bytes()[-2000:].decode("utf-8", "replace").strip().splitlines()
            if tail:
                result.reason += f" (kernel said: {tail[-1][:200]})"
    finally:
        if sockets.parent != run_dir:
            shutil.rmtree(sockets, ignore_errors=True)
    result.sandboxed = sandboxed
    return result


def _kernel_manager_class():
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        """A kernel manager whose kernel is this interpreter's ipykernel, wrapped by `wrap` (the
        sandbox and the limits), reading a connection file its unprivileged uid may read."""

        wrap = staticmethod(lambda cmd: cmd)
        owner: int | None = None
        max_message = 0

        def format_kernel_cmd(self, extra_arguments=None):
            kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
                      "--HistoryManager.enabled=False"]
            return self.wrap(kernel)

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


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants (the sandbox's processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
                        break
        except OSError:
            pass
    return total


def _watch_memory(client, limit_mb: int, tripped: threading.Event, done: threading.Event) -> None:
    """Kill the kernel's whole sandbox when its resident memory passes the cap."""
    while not done.wait(0.5):
        process = getattr(getattr(client.km, "provisioner", None), "process", None)
        if process is not None and _tree_rss_mb(process.pid) > limit_mb:
            tripped.set()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(process.pid, signal.SIGKILL)
                except OSError:
                    pass
            return


def _kill_sandbox(km) -> None:
    """Make sure nothing of the run outlives it (nbclient has asked the kernel to stop; a fork of
    the kernel would not have): killing the sandbox's first process takes its whole PID namespace."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is None:
        return
    for kill in (lambda: os.killpg(process.pid, signal.SIGKILL), process.kill):
        try:
            kill()
        except OSError:
            pass
    try:
        process.wait(timeout=10)
    except Exception:
        pass


def _drive(notebook: str, *, wrap, env, workdir: Path, sockets: Path, owner, log, profile: Profile,
           limits: Limits) -> Execution:
    """Start the kernel, run every code cell, and build the executed notebook from what came back."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.reads(notebook, as_version=4)
    cell_s, notebook_s = profile.cell_timeout_s, profile.notebook_timeout_s
    km = _kernel_manager_class()(kernel_name="python3", transport="ipc", ip=str(sockets / "k"),
                                 connection_file=str(sockets / "kernel.json"))
    km.wrap, km.owner = wrap, owner
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
    tripped, done = threading.Event(), threading.Event()
    try:
        with client.setup_kernel(env=env, cwd=str(workdir), stdout=log, stderr=log):
            threading.Thread(target=_watch_memory, args=(client, limits.memory_mb, tripped, done), daemon=True).start()
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
                    if tripped.is_set():
                        result.status = MEMORY
                        result.reason = f"cell {name} used more than {limits.memory_mb} MB of memory; the kernel was stopped"
                    else:
                        result.status, result.reason = DEAD, f"the kernel died while running cell {name}"
                    break
                _record_errors(result, cell, name, limits)
    except Exception as exc:  # the kernel could not start, etc.: recorded, never raised to the runner
        if result.status == OK:
            result.status = CRASHED
            result.reason = f"execution failed: {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        done.set()
        _kill_sandbox(km)
    result.truncated = list(client.truncated)
    result.notebook = nbformat.writes(nb)
    return result


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
