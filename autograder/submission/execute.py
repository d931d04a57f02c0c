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

import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_core import synthetic
from alexnet_core.assets import cache_dir
from alexnet_core.contract import MB
from alexnet_core.errors import AssetError
from autograder.submission import gpu
from autograder.submission import sandbox as sb
from autograder.submission import warm as wm
from autograder.submission import zygote as zg
from autograder.submission.kernel import (
    PER_RUN_ENV,
    capped_client_class,
    cell_name,
    kernel_env,
    kernel_manager_class,
)
from autograder.submission.teardown import (
    IPC_PREFIX,
    kill_sandbox,
    noting_processes,
    seal_sockets,
    sweep_socket_folders,
)
from autograder.submission.watchdog import watch_memory
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
                wm.warm_failed(str(exc))
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
    if warm and sandboxed and wm.warm_off() is None:
        fixed = zg.fixed_part(env, PER_RUN_ENV)
        launch = wm.WarmLaunch(path=zygote or wm.own_zygote(fixed).path, fixed=fixed, fifo=sockets / "kernel.pid",
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


def _drive(notebook: str, *, wrap, env, workdir: Path, sockets: Path, owner, log, profile: Profile,
           limits: Limits, launch: wm.WarmLaunch | None = None, gpu_cap_mb: float | None = None) -> Execution:
    """Start the kernel, run every code cell, and build the executed notebook from what came back."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.reads(notebook, as_version=4)
    cell_s, notebook_s = profile.cell_timeout_s, profile.notebook_timeout_s
    km = kernel_manager_class()(kernel_name="python3", transport="ipc", ip=str(sockets / "k"),
                                 connection_file=str(sockets / "kernel.json"))
    km.wrap, km.owner, km.launch, km.log_fd = wrap, owner, launch, log.fileno()
    km.max_message = int(max(2 * limits.output_mb, MESSAGE_FLOOR_MB) * MB)
    # Immediate shutdown: a kernel stuck in a loop would otherwise hold the runner for a grace period.
    client = capped_client_class()(nb, km=km, timeout=cell_s, allow_errors=True, shutdown_kernel="immediate",
                                    iopub_timeout=IOPUB_WAIT_S, raise_on_iopub_timeout=True,
                                    resources={"metadata": {"path": str(workdir)}})
    client.owns_km = True  # made for this client: nbclient shuts the kernel down when the run ends
    client.output_budget = int(limits.output_mb * MB)
    client.truncated = []
    result = Execution(None)
    deadline = time.monotonic() + notebook_s
    # Each cell's limit: the per-cell one, or what is left of the whole notebook's (nbclient's hook).
    client.timeout_func = lambda _cell: max(1, int(min(cell_s, deadline - time.monotonic())))
    tripped: dict[str, float] = {}
    done = threading.Event()
    ending: list[int] = []
    try:
        with client.setup_kernel(env=env, cwd=str(workdir), stdout=log, stderr=log), noting_processes(km, ending):
            seal_sockets(sockets, km.connection_file)  # the kernel is ready: its sockets are bound
            threading.Thread(target=watch_memory, args=(client, limits.memory_mb, gpu_cap_mb, tripped, done),
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
        kill_sandbox(km, ending)
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
