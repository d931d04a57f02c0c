"""Execute a prepared notebook with nbclient, within limits, inside the sandbox when there is one.

`execute()` is the outside half: it writes the notebook into a fresh scratch folder, starts
`python -m autograder.submission.execute --inside SPEC` (under bubblewrap when available) with the device, the
thread count and a memory cap, and reads the executed notebook back. The inside half runs the
nbclient client and the kernel together, cell by cell, under a per-cell and a whole-notebook time
limit, a resident-memory watchdog and an output-size cap, and writes what happened to
`execution.json`. A timeout, a dead kernel or the memory cap stops the run; an error in a cell is
recorded with the cell's grade_id and the run goes on (later cells may still earn points).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_core import synthetic
from alexnet_core.assets import cache_dir
from alexnet_core.contract import MB, PLOT_MIME, TRAJECTORY_MIME, grade_id
from alexnet_core.errors import AssetError
from alexnet_core.profiles import PROFILE_ENV, RECIPE_ENV, recipe_to_json
from autograder.submission import sandbox as sb
from grading_config import Limits, Profile

OK, ERROR, TIMEOUT, DEAD, MEMORY, CRASHED = "ok", "error", "timeout", "dead-kernel", "memory", "crashed"
# Environment variables passed to the kernel (exact names or prefixes).
KERNEL_ENV_PREFIXES = ("PATH", "LANG", "LC_", "TZ", "LD_LIBRARY_PATH", "CUDA_", "NVIDIA_", "ALEXNET_LAB_",
                       "PYTHONPATH", "VIRTUAL_ENV", "TORCH_", "OMP_", "MKL_", "KMP_")
# Our own records are small and are what the checks read: a flood of other output must not push them out.
KEEP_MIMES = (TRAJECTORY_MIME, PLOT_MIME)
# The thread counts a kernel honours: set to the runner's share so kernels do not fight for cores.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# What the inside half writes about the run (status, errors), beside executed.ipynb in scratch.
EXECUTION_FILE = "execution.json"
# Seconds allowed on top of the notebook limit for the kernel to start and the files to be written.
STARTUP_GRACE_S = 90


@dataclass
class Execution:
    """What one execution produced."""

    notebook: str | None
    """The executed notebook (nbformat JSON text), also when the run stopped early; None if none."""
    status: str = OK
    """ok | error (a cell raised, the run went on) | timeout | dead-kernel | memory | crashed."""
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
        return self.status in (TIMEOUT, DEAD, MEMORY, CRASHED)


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


def kernel_env(scratch: Path, profile: Profile, device: str, threads: int) -> dict[str, str]:
    """The kernel's environment: the recipe, one device, a thread count, and homes in scratch."""
    # Only what a kernel needs from the grader's environment: no tokens or credentials reach
    # student code. (No MPLBACKEND: ipykernel then uses the inline backend, as a student's Jupyter does.)
    env = {k: v for k, v in os.environ.items() if k.startswith(KERNEL_ENV_PREFIXES)}
    env[PROFILE_ENV] = profile.name
    env[RECIPE_ENV] = recipe_to_json(profile)  # the recipe as this config resolved it, overrides included
    for name in THREAD_VARS:
        env[name] = str(max(1, threads))
    env["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1] if device.startswith("cuda") else ""
    for name, sub in (("HOME", "home"), ("TMPDIR", "tmp"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                      ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")):
        (scratch / sub).mkdir(exist_ok=True)
        env[name] = str(scratch / sub)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def execute(notebook: str, *, profile: Profile, limits: Limits, device: str = "cpu", threads: int = 1,
            sandbox: bool = True, hidden: list = ()) -> Execution:
    """Run the notebook (nbformat JSON text) in a fresh scratch folder; never raises for the notebook's faults."""
    cell_s, notebook_s = profile.cell_timeout_s, profile.notebook_timeout_s
    scratch = Path(tempfile.mkdtemp(prefix="alexnet-lab-run-"))
    started = time.monotonic()
    try:
        (scratch / "submission.ipynb").write_text(notebook, encoding="utf-8")
        spec = {"notebook": str(scratch / "submission.ipynb"), "executed": str(scratch / "executed.ipynb"),
                "result": str(scratch / EXECUTION_FILE), "cell_timeout_s": cell_s,
                "notebook_timeout_s": notebook_s, "memory_mb": limits.memory_mb,
                "output_mb": limits.output_mb}
        (scratch / "spec.json").write_text(json.dumps(spec))
        inner = [sys.executable, "-m", "autograder.submission.execute", "--inside", str(scratch / "spec.json")]
        sandboxed = False
        if sandbox:
            problem = sb.bwrap_problem()
            if problem is None:
                inner = sb.bwrap_command(inner, scratch, readable=[cache_dir()],
                                         hidden=list(hidden), device=device)
                sandboxed = True
            elif limits.require_sandbox:
                return Execution(None, CRASHED, f"refused: no sandbox ({problem}) and limits.require_sandbox is on")
            else:
                sb.warn_unsandboxed(problem)
        env = kernel_env(scratch, profile, device, threads)
        # The project's code must be importable inside, installed or editable (this makes sure).
        code = [str(root) for root in sb.code_roots()]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, code + [env.get("PYTHONPATH")]))
        run = _run_bounded(inner, env, scratch, notebook_s + STARTUP_GRACE_S,
                           limits.memory_mb if not device.startswith("cuda") else None)
        result = _read_result(scratch, run)
        result.sandboxed = sandboxed
        result.seconds = round(time.monotonic() - started, 2)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_bounded(cmd: list[str], env: dict, cwd: Path, wall_s: float, memory_mb: int | None):
    """Run the inside process in its own session; kill the whole group past `wall_s`."""
    def limit():
        if memory_mb:
            # Address space, inherited by the kernel: a runaway allocation fails inside the kernel
            # instead of taking the machine. (CUDA reserves huge address ranges: GPU runs rely on
            # the resident-memory watchdog instead.)
            cap = memory_mb * MB
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    proc = subprocess.Popen(cmd, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=limit)
    try:
        out, _ = proc.communicate(timeout=wall_s)
        return proc.returncode, out.decode("utf-8", "replace")[-4000:], False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return proc.returncode, out.decode("utf-8", "replace")[-4000:], True


def _read_result(scratch: Path, run) -> Execution:
    returncode, log_tail, killed = run
    executed = scratch / "executed.ipynb"
    nb_text = executed.read_text(encoding="utf-8") if executed.exists() else None
    result_file = scratch / EXECUTION_FILE
    if result_file.exists():
        data = json.loads(result_file.read_text())
        return Execution(notebook=nb_text, **data)
    last = log_tail.strip().splitlines()[-1:] or ["no output"]
    if killed:
        return Execution(nb_text, TIMEOUT, "the grading process overran the whole-notebook limit and was killed")
    return Execution(nb_text, CRASHED, f"the grading process exited with status {returncode}: {last[0][:300]}")


# ---------------------------------------------------------------- inside the sandbox

UNNAMED = "cell "
"""How a cell without a grade id is named in results: 'cell N' (1-based); only a student's own cell has none."""


def cell_name(cell, index: int) -> str:
    """A cell's grade_id, or 'cell N' (1-based) for cells without one."""
    return grade_id(cell) or f"{UNNAMED}{index + 1}"


# nbclient and nbformat are imported by the inside half only: the runner process imports this
# module too, for `execute`, and nbformat's schema validator alone costs it about a second.

def _capped_client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """nbclient that drops outputs past a byte budget, so a flood of output cannot fill memory."""

        output_budget = 0
        truncated: list = []

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            size = len(json.dumps(content, default=str))
            ours = any(m in (content.get("data") or {}) for m in KEEP_MIMES) and size < 2 * MB
            if self.output_budget - size < 0 and not ours:
                name = cell_name(self.nb.cells[cell_index], cell_index)
                if name not in self.truncated:
                    self.truncated.append(name)
                    from nbformat.v4 import new_output
                    outs.append(new_output("stream", name="stderr",
                                           text="[autograder: output cut here, over the output size limit]\n"))
                return None
            self.output_budget -= size
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _watch_memory(client, limit_mb: int, tripped: threading.Event, done: threading.Event) -> None:
    """Kill the kernel when its resident memory passes the cap (the GPU runs' only memory cap)."""
    while not done.wait(0.5):
        process = getattr(getattr(client.km, "provisioner", None), "process", None)
        if process is not None and _rss_mb(process.pid) > limit_mb:
            tripped.set()
            try:
                os.kill(process.pid, signal.SIGKILL)
            except OSError:
                pass
            return


def inside(spec_path: str) -> int:
    """Execute spec['notebook'] cell by cell; write the executed notebook and execution.json."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    spec = json.loads(Path(spec_path).read_text())
    nb = nbformat.read(spec["notebook"], as_version=4)
    cell_s, notebook_s = spec["cell_timeout_s"], spec["notebook_timeout_s"]
    # Immediate shutdown: a kernel stuck in a loop would otherwise hold the runner for a grace period.
    client = _capped_client_class()(nb, timeout=cell_s, kernel_name="python3", allow_errors=True,
                                    shutdown_kernel="immediate",
                                    resources={"metadata": {"path": str(Path(spec["notebook"]).parent)}})
    client.output_budget = int(spec["output_mb"] * MB)
    client.truncated = []
    result = {"status": OK, "reason": "", "failed_cell": None, "errors": []}
    deadline = time.monotonic() + notebook_s
    tripped, done = threading.Event(), threading.Event()
    try:
        with client.setup_kernel():
            threading.Thread(target=_watch_memory, args=(client, spec["memory_mb"], tripped, done),
                             daemon=True).start()
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                name = cell_name(cell, index)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    result.update(status=TIMEOUT, failed_cell=name,
                                  reason=f"whole-notebook limit of {notebook_s} s reached before cell {name}")
                    break
                client.timeout = max(1, int(min(cell_s, remaining)))
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    which = f"per-cell limit of {cell_s} s" if cell_s <= remaining else f"whole-notebook limit of {notebook_s} s"
                    result.update(status=TIMEOUT, failed_cell=name, reason=f"cell {name} ran past the {which}")
                    break
                except DeadKernelError:
                    if tripped.is_set():
                        result.update(status=MEMORY, failed_cell=name,
                                      reason=f"cell {name} used more than {spec['memory_mb']} MB of memory; the kernel was stopped")
                    else:
                        result.update(status=DEAD, failed_cell=name, reason=f"the kernel died while running cell {name}")
                    break
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        result["errors"].append({"cell": name, "ename": out.get("ename", ""),
                                                 "evalue": str(out.get("evalue", ""))[:300]})
                        if result["status"] == OK:
                            why = (f"ran out of memory (cap {spec['memory_mb']} MB)" if out.get("ename") == "MemoryError"
                                   else f"raised {out.get('ename')}: {str(out.get('evalue', ''))[:200]}")
                            result.update(status=ERROR, failed_cell=name, reason=f"cell {name} {why}")
                        break
    except Exception as exc:  # kernel could not start, etc.: recorded, never raised to the runner
        if result["status"] == OK:
            result.update(status=CRASHED, reason=f"execution failed: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        done.set()
    result["truncated"] = list(client.truncated)
    nbformat.write(nb, spec["executed"])
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.submission.execute", description=__doc__.splitlines()[0])
    parser.add_argument("--inside", metavar="SPEC", required=True, help="spec.json written by execute()")
    return inside(parser.parse_args(argv).inside)


if __name__ == "__main__":
    sys.exit(main())
