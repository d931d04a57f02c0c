"""Where runners run: a local pool of pinned runner processes (default), or a Ray cluster.

Both take `Job`s (autograder.submission.job) and yield `SubmissionResult`s as they finish, in completion order; the
coordinator records each one (runners never write the output folder or the gradebook). Jobs are
pulled from their (lazy) iterable only as results come back, at most `JOBS_AHEAD_PER_SLOT` per
slot ahead, so the first results are recorded while later submissions are still being prepared.

Local pool: one slot per runner, each pinned to a GPU (`cuda:N`) or to a few CPU threads
(kernels that each use every core run slower together than one after the other: ARCHITECTURE.md).
Every job runs in its own process, `python -m autograder.submission.job JOB.pkl OUT.json`, so a runner
that dies (OOM killer, segfault, kill -9) is seen: its job is retried `Runners.retries` times,
then failed with the reason. Each slot keeps one zygote for the batch (the warm start,
`submission/zygote.py`): the job process asks it for its kernel, and a slot's GPU share
(1 / slots on that GPU) caps the GPU memory its kernels may hold.

Ray: the same `run_job` as a Ray task, asking for a GPU share (`Runners.ray_gpu_fraction`, which
is then its kernel's GPU memory share) where the cluster has GPUs and CPUs otherwise; Ray retries
a task whose worker died; a worker keeps its own zygote across tasks. Every node
needs this project installed (`pip install 'alexnet-lab[ray]'`) and the assets in its cache.
"""
from __future__ import annotations

import ctypes
import dataclasses
import glob
import itertools
import json
import os
import pickle
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from alexnet_core.assets import DATA_ENV
from autograder.config import BACKENDS
from autograder.errors import ConfigError
from autograder.submission.job import run_job
from autograder.submission.kernel import THREAD_VARS
from autograder.submission.results import SubmissionResult, failed_result
from autograder.submission.sandbox import bwrap_problem, sandbox_uid
from autograder.submission.warm import start_zygote
from autograder.submission.zygote import Zygote
from grading_config import GradingConfig

RUNNER_MODULE = "autograder.submission.job"
# Environment a Ray worker (and its kernel) needs from the coordinator: the asset cache. (The
# profile travels in the Job itself.)
FORWARDED_ENV = (DATA_ENV,)
# Jobs handed to the runners ahead of time, per runner slot. The job generator prepares each
# submission in the coordinator (coordinator.py `_jobs`), so it is pulled only as results come back:
# runners never starve, yet results are recorded (and the progress bar moves) from the first one.
IDLE_S = 1.0
"""How often (s) a pool waiting for results calls back its coordinator's `idle`."""
JOBS_AHEAD_PER_SLOT = 2


def _take(jobs: Iterator, count: int) -> list:
    """Up to `count` more jobs from the lazy generator; fewer (or none) once it runs out."""
    return list(itertools.islice(jobs, max(0, count)))


@dataclass(frozen=True)
class Slot:
    """One runner: which device its jobs use, how many CPU threads they may take, and on which cores
    (its kernels and every process they start are pinned there: `slot_cpus`)."""

    index: int
    device: str
    threads: int
    cpus: tuple[int, ...] = ()

    def describe(self) -> str:
        return f"{self.device} ({self.threads} thread{'s' if self.threads != 1 else ''})"


# -- how many runners, pinned where ---------------------------------------------------------
CUDA_DEVICE_FILES = ("/dev/nvidia[0-9]*", "/dev/dxg")
"""Where a CUDA driver's GPUs show up: Linux's device files, and WSL2's one GPU device."""


def visible_gpus() -> list[int]:
    """Physical indices of the GPUs this process may use (honours CUDA_VISIBLE_DEVICES)."""
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    if mask is not None:
        return [int(x) for x in mask.split(",") if x.strip().isdigit()]
    if not any(glob.glob(pattern) for pattern in CUDA_DEVICE_FILES):
        return []  # no driver to reach: importing torch to hear so cost every `grade` about 2 s
    try:
        import torch  # 1.3-2.3 s: only when CUDA_VISIBLE_DEVICES does not already say

        return list(range(torch.cuda.device_count()))
    except Exception:  # no torch build with CUDA, no driver: a CPU machine
        return []


def plan_slots(runners: int | None, config: GradingConfig, gpus: list[int] | None = None) -> list[Slot]:
    """`--runners N`, else `slots_per_gpu` per visible GPU, else a CPU count that suits the machine."""
    r = config.runners
    gpus = visible_gpus() if gpus is None else gpus
    if runners is not None and runners < 1:
        raise ConfigError(f"--runners {runners}: give at least 1 (or leave it out for the default).")
    cores = os.cpu_count() or 1
    if gpus:
        # A slot's kernel is mostly Python on one core: more slots per GPU than cores per GPU wait.
        per_gpu = min(max(1, r.slots_per_gpu), max(1, cores // len(gpus)))
        count = runners or len(gpus) * per_gpu
        # Round-robin over GPUs: with 2 GPUs and 4 slots, slots 0 and 2 share GPU 0.
        threads = max(1, r.threads_per_runner)
        return [Slot(i, f"cuda:{gpus[i % len(gpus)]}", threads, slot_cpus(i, threads)) for i in range(count)]
    count = runners or (r.cpu_runners if r.cpu_runners >= 1 else max(1, cores // 2))
    threads = max(1, r.threads_per_runner)
    return [Slot(i, "cpu", threads, slot_cpus(i, threads)) for i in range(count)]


def slot_cpus(index: int, threads: int, available: list[int] | None = None) -> tuple[int, ...]:
    """The cores of slot `index`: the next `threads` of the cores this process may use, in turn, so
    slots share a core only when there are more threads than cores (then as evenly as can be)."""
    cores = sorted(os.sched_getaffinity(0)) if available is None else sorted(available)
    return tuple(sorted({cores[(index * threads + k) % len(cores)] for k in range(threads)}))


def _pin(job, slot: Slot, zygote: str | None = None, sharing: int = 1):
    """The job on `slot`, whose GPU (if any) `sharing` slots share."""
    pinned = {"cpus": slot.cpus} if slot.cpus else {}  # a slot planned without cores leaves the job's
    return dataclasses.replace(job, device=slot.device, threads=slot.threads, zygote=zygote,
                               gpu_share=1.0 / max(1, sharing), **pinned)


def _identity(job) -> tuple[str, str]:
    prepared = job.prepared
    return prepared.student_id, str(prepared.source)


def _died(job, reason: str, attempts: int, seconds: float, device: str) -> SubmissionResult:
    sid, source = _identity(job)
    return failed_result(sid, source, reason, job.points, attempts=attempts, seconds=seconds, device=device)


# -- local pool -----------------------------------------------------------------------------
def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the coordinator thread that started us dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a runner and everything it started (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class LocalPool:
    """Runner processes on this machine, one job at a time per slot."""

    def __init__(self, slots: list[Slot], config: GradingConfig, workdir: Path | None = None,
                 timeout_s: float | None = None, runner_module: str = RUNNER_MODULE):
        self.slots = slots
        self.retries = max(0, config.runners.retries)
        self.timeout_s = timeout_s
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="alexnet-lab-jobs-"))
        self.runner_module = runner_module
        self._running: set[subprocess.Popen] = set()
        self._stopping = threading.Event()
        # One zygote per slot (warm start, zygote.py), started with the slot's first job and kept
        # for the batch: each job's runner process is new, the zygote outlives it.
        self._zygotes: dict[int, Zygote] = {}
        self._zygote_lock = threading.Lock()

    def describe(self) -> str:
        return f"local pool, {len(self.slots)} runner(s): " + ", ".join(s.describe() for s in self.slots)

    def run(self, jobs: Iterable, idle: Callable[[], None] | None = None) -> Iterator[SubmissionResult]:
        """`idle`: called every `IDLE_S` seconds that no result arrives (the coordinator brings its
        tables up to date while the runners work)."""
        self._stopping.clear()
        free: queue.Queue[Slot] = queue.Queue()
        for slot in self.slots:
            free.put(slot)
        executor = ThreadPoolExecutor(max_workers=len(self.slots), thread_name_prefix="runner")
        window = max(1, JOBS_AHEAD_PER_SLOT * len(self.slots))
        jobs = iter(jobs)
        in_flight: set = set()
        try:
            while True:
                # Top up from the (lazy) job generator: at most `window` jobs submitted, not done.
                for job in _take(jobs, window - len(in_flight)):
                    in_flight.add(executor.submit(self._run_on_free_slot, job, free))
                if not in_flight:
                    break
                done, in_flight = wait(in_flight, timeout=IDLE_S if idle else None, return_when=FIRST_COMPLETED)
                if not done and idle:
                    idle()
                for future in done:
                    yield future.result()
        finally:
            # Normal end: nothing is left. Ctrl-C or an error in the coordinator: stop the runners
            # now instead of letting them finish work nobody will record.
            self._stopping.set()
            for future in in_flight:
                future.cancel()
            for proc in list(self._running):
                _kill_group(proc)
            executor.shutdown(wait=True)
            with self._zygote_lock:
                for zygote in self._zygotes.values():
                    zygote.close()
                self._zygotes.clear()

    def _zygote(self, job, slot: Slot) -> str | None:
        """The socket of the slot's zygote when the job starts warm in a sandbox (started now if needed)."""
        if not (job.warm and job.sandbox) or bwrap_problem(sandbox_uid(job.limits.sandbox_uid_base)) is not None:
            return None
        with self._zygote_lock:
            zygote = self._zygotes.get(slot.index)
            if zygote is None or not zygote.alive:
                if zygote is not None:
                    zygote.close()
                zygote = self._zygotes[slot.index] = start_zygote(slot.device, slot.threads, parent=self.workdir)
            return zygote.path

    def _run_on_free_slot(self, job, free: queue.Queue) -> SubmissionResult:
        slot = free.get()
        try:
            sharing = sum(1 for s in self.slots if s.device == slot.device)
            return self.run_attempts(_pin(job, slot, self._zygote(job, slot), sharing), slot)
        finally:
            free.put(slot)

    def run_attempts(self, job, slot: Slot) -> SubmissionResult:
        """Run `job` on `slot`; a runner that dies is retried, then failed with the reason."""
        start = time.monotonic()
        reasons = []
        for attempt in range(1, self.retries + 2):
            if self._stopping.is_set():
                reasons.append("grading was stopped")
                break
            result, problem = self._run_process(job, slot, attempt)
            if result is not None:
                result.attempts = attempt
                result.seconds = result.seconds or time.monotonic() - start
                result.device = result.device or slot.device
                return result
            reasons.append(problem)
            if problem.startswith("timed out"):
                break  # a runner that overran its limit would overrun it again
        n = len(reasons)
        reason = f"runner failed {n} time{'s' if n > 1 else ''}: " + "; then ".join(reasons)
        return _died(job, reason, n, time.monotonic() - start, slot.device)

    def _run_process(self, job, slot: Slot, attempt: int) -> tuple[SubmissionResult | None, str]:
        sid, _ = _identity(job)
        # The student id and attempt are in the runner's command line: a TA (or a test) can see
        # which submission a runner process holds.
        stem = f"{sid}.attempt{attempt}"
        job_file, result_file = self.workdir / f"{stem}.pkl", self.workdir / f"{stem}.json"
        log = self.workdir / f"{stem}.log"
        result_file.unlink(missing_ok=True)
        job_file.write_bytes(pickle.dumps(job))
        env = dict(os.environ)
        for name in THREAD_VARS:
            env[name] = str(slot.threads)
        cmd = [sys.executable, "-m", self.runner_module, str(job_file), str(result_file)]
        with log.open("wb") as log_fh:
            proc = subprocess.Popen(cmd, env=env, stdout=log_fh, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_die_with_parent)
            self._running.add(proc)
            try:
                code = proc.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return None, f"timed out after {self.timeout_s:.0f} s"
            finally:
                self._running.discard(proc)
        try:
            result = SubmissionResult.from_dict(json.loads(result_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            detail = f" ({tail[0][:200]})" if tail else ""
            return None, f"runner process {_exit_reason(code)} before writing a result{detail}"
        for done in (job_file, result_file, log):  # kept only when the runner died, for the TA to read
            done.unlink(missing_ok=True)
        return result, ""


# -- Ray ------------------------------------------------------------------------------------
def _ray_task(job, threads: int):
    """Runs on a Ray worker: pin to the GPU Ray assigned (if any), then grade."""
    import ray  # an optional extra: imported where a Ray worker runs

    gpu_ids = ray.get_gpu_ids()
    device = f"cuda:{int(gpu_ids[0])}" if gpu_ids else "cpu"
    for name in THREAD_VARS:
        os.environ[name] = str(threads)
    start = time.monotonic()
    share = ray.get_runtime_context().get_assigned_resources().get("GPU", 1.0) if gpu_ids else 1.0
    result = run_job(dataclasses.replace(job, device=device, threads=threads, gpu_share=min(1.0, share)))
    result.seconds = result.seconds or time.monotonic() - start
    result.device = result.device or f"{device} on {ray.util.get_node_ip_address()}"
    return result


class RayPool:
    """The runner function as Ray tasks on an existing cluster (`ray start`, or `auto`)."""

    def __init__(self, address: str | None, config: GradingConfig):
        try:
            import ray
        except ImportError:
            raise ConfigError("--backend ray needs Ray: pip install 'ray[default]' (or the project's [ray] extra).") from None
        self.ray = ray
        r = config.runners
        address = address or r.ray_address
        env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
        try:
            ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False,
                     ignore_reinit_error=True, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot join the Ray cluster at {address!r}: {str(exc).splitlines()[0]} "
                              "(start one with `ray start --head`, or pass --address HOST:PORT).") from None
        resources = ray.cluster_resources()
        self.gpus = float(resources.get("GPU", 0))
        self.cpus = float(resources.get("CPU", 0))
        self.threads = max(1, r.threads_per_runner)
        self.retries = max(0, r.retries)
        if self.gpus:
            self.options = {"num_gpus": r.ray_gpu_fraction, "num_cpus": 1}
        else:
            self.options = {"num_cpus": self.threads}
        self.task = ray.remote(_ray_task).options(max_retries=self.retries, **self.options)

    def describe(self) -> str:
        per = f"{self.options.get('num_gpus')} GPU" if self.gpus else f"{self.threads} CPU"
        return f"Ray cluster with {self.cpus:g} CPUs and {self.gpus:g} GPUs; {per} per submission"

    def capacity(self) -> int:
        """How many tasks the cluster runs at once with these per-task resources (at least 1)."""
        if self.gpus:
            count = min(self.gpus / max(self.options["num_gpus"], 1e-9), self.cpus / self.options["num_cpus"])
        else:
            count = self.cpus / self.threads
        return max(1, int(count + 1e-9))

    def run(self, jobs: Iterable, idle: Callable[[], None] | None = None) -> Iterator[SubmissionResult]:
        ray = self.ray
        window = JOBS_AHEAD_PER_SLOT * self.capacity()
        jobs = iter(jobs)
        pending = {}
        started = {}
        while True:
            # Top up from the (lazy) job generator as tasks finish, as the local pool does.
            for job in _take(jobs, window - len(pending)):
                ref = self.task.remote(job, self.threads)
                pending[ref] = job
                started[ref] = time.monotonic()
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1, timeout=IDLE_S if idle else None)
            if not done:
                if idle:
                    idle()
                continue
            ref = done[0]
            job = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # the task's worker died past its retries, or the task raised
                message = str(exc).strip().splitlines()
                reason = f"Ray task failed after {self.retries + 1} attempt(s): {type(exc).__name__}"
                if message:
                    reason += f": {message[-1][:200]}"
                result = _died(job, reason, self.retries + 1, time.monotonic() - started.pop(ref), "ray")
            started.pop(ref, None)
            yield result

    def close(self) -> None:
        self.ray.shutdown()


def make_pool(backend: str | None, runners: int | None, address: str | None, config: GradingConfig,
              timeout_s: float | None = None, workdir: Path | None = None):
    """The pool the CLI asked for (`--backend local|ray`)."""
    backend = backend or ("ray" if address else config.runners.backend)  # --address alone means Ray
    if backend == "local":
        return LocalPool(plan_slots(runners, config), config, workdir=workdir, timeout_s=timeout_s)
    if backend == "ray":
        return RayPool(address, config)
    raise ConfigError(f"Unknown backend {backend!r}. Valid backends: {', '.join(BACKENDS)}.")
