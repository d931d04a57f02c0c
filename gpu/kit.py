"""The GPU validation kit, run on the GPU machine in one command (`bash gpu/run.sh`).

Steps, each with its own time limit, its log and figures under $OUT, and a summary rewritten after
every step (so a run cut short still leaves one):
  install     the wheels of .gpu-kit/ into this Python, offline (--no-index), bubblewrap from the
              kit on PATH, the imports the grader needs checked
  facts       nvidia-smi, torch, CUDA, cuDNN, the CPU, bubblewrap
  cuda-tests  `pytest -m cuda tests/gpu` (training, determinism, sandbox with the NVIDIA device
              nodes, the memory caps on a GPU runner)
  training    benchmarks/bench_training.py at full size (full-synthetic: 50,000 / 10,000 images,
              10 epochs) on cuda
  grading     benchmarks/bench_grading.py, once per class (--classes, default 64 smoke and 16
              full-synthetic submissions, each file its own student id, so its own seed), each
              graded with every slot count of --slots per GPU (default 16, 12, 8, 4; never more
              than cores), warm start: submissions per hour, the GPU's busy share and memory
              peak (nvidia-smi, sampled), the CPUs' load, where a submission's time goes. Each
              class gets an equal share of the step's time; slot counts past it are skipped
  ray         the smoke class again through `--backend ray`, on a head started on loopback, with the
              slot count the local pool did best with: Ray's figures beside the pool's. Ray's wheel
              travels in two parts (.gpu-ray/a, .gpu-ray/b: gather.sh), joined, checked, installed
              offline; skipped, saying why, when a part is missing (the dry run: unless KIT_DRY_RAY=1)
Later steps are skipped, and say so, when the time left is short.

`--dry-run` runs every step's code on this machine's CPU with tiny sizes (2 smoke submissions, 2
CPU runners; tests/gpu/test_kit.py):
the kit is checked to install offline for CPython 3.12 (pip --dry-run) instead of installed.

Files under OUT (the device tool brings back at most 8): summary.txt, results.json, setup.log,
cuda-tests.log, training.log, grading.log.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KIT = REPO / ".gpu-kit"
RESERVE_S = 8  # kept back for the summary
TARGET = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312"] + [
    x for p in ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_24_x86_64", "manylinux_2_26_x86_64",
                "manylinux_2_27_x86_64", "manylinux_2_28_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64")
    for x in ("--platform", p)]
# Imported by the grader and the kernel; checked right after the install.
GRADER_IMPORTS = ("nbgrader.apps", "nbgrader.api", "nbgrader.preprocessors", "nbclient", "nbconvert", "nbformat",
                  "ipykernel.kernelapp", "jupyter_client", "nh3", "alembic", "sqlalchemy", "autograder.cli",
                  "autograder.submission.execute", "autograder.batch.coordinator")

# Per step: (time cap on the GPU, least time worth starting it with).
CAPS = {"install": (120, 20), "facts": (45, 10), "cuda-tests": (150, 30), "training": (120, 40),
        "grading": (900, 60), "ray": (300, 90)}
# Most slots first: the fastest runs come first, so a class cut short by its time share still has
# the most slot counts measured (4 slots, the slowest, was measured on both earlier visits).
DEFAULT_CLASSES, DEFAULT_SLOTS = "smoke:64,full-synthetic:16", "16,12,8,4"
DRY_CLASSES, DRY_SLOTS = "smoke:2", "2"  # one run: the dry run stays about a minute


def parse_classes(text: str) -> list[tuple[str, int]]:
    """'smoke:64,full-synthetic:16' -> [('smoke', 64), ('full-synthetic', 16)]."""
    classes = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        profile, _, count = item.partition(":")
        if not count.isdigit() or int(count) < 1:
            raise SystemExit(f"--classes: {item!r} is not PROFILE:COUNT (e.g. smoke:64); fix KIT_CLASSES or --classes")
        classes.append((profile, int(count)))
    return classes


def parse_slots(text: str, cores: int) -> list[int]:
    """'4,8,12,16' -> the slot counts, those above the machine's cores dropped (a slot is a core)."""
    try:
        slots = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"--slots: {text!r} is not a comma-separated list of numbers; fix KIT_SLOTS or --slots") from None
    kept = [s for s in slots if 1 <= s <= cores]
    if not kept:
        raise SystemExit(f"--slots: none of {text!r} fits this machine's {cores} cores; fix KIT_SLOTS or --slots")
    return kept

FACTS = r"""
import os, platform, sys, time
t = time.perf_counter()
import torch
print(f"python {sys.version.split()[0]} ({sys.executable}); torch {torch.__version__} "
      f"(CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}); import torch {time.perf_counter() - t:.2f} s")
print(f"cpu: {os.cpu_count()} cores, {platform.platform()}")
if torch.cuda.is_available():
    t = time.perf_counter()
    torch.zeros(1, device="cuda")
    p = torch.cuda.get_device_properties(0)
    print(f"cuda: {torch.cuda.device_count()} device(s); 0: {p.name}, {p.total_memory / 2**30:.1f} GiB, "
          f"{p.multi_processor_count} SMs, capability {p.major}.{p.minor}; first CUDA context {time.perf_counter() - t:.2f} s")
else:
    print("cuda: not available")
for name in ("torchvision", "matplotlib", "numpy", "nbgrader", "nbclient", "ipykernel", "jupyter_client", "nh3"):
    try:
        module = __import__(name)
        print(f"{name} {getattr(module, '__version__', '?')}")
    except Exception as exc:
        print(f"{name}: NOT IMPORTABLE ({type(exc).__name__}: {exc})")
import shutil
from autograder.batch.pool import plan_slots, visible_gpus
from autograder.config import load_config
from autograder.submission import sandbox
config = load_config().config
try:  # as grading starts it: as root, with an unprivileged uid of its own where the sandbox has one
    uid = sandbox.sandbox_uid(config.limits.sandbox_uid_base) if hasattr(sandbox, "sandbox_uid") else None
    problem = sandbox.bwrap_problem(uid) if uid is not None else sandbox.bwrap_problem()
except Exception as exc:
    problem = f"the probe raised {type(exc).__name__}: {exc}"
print(f"bwrap: {shutil.which('bwrap')}; sandbox: {problem or 'works'}")
print(f"visible GPUs {visible_gpus()}; default slots: {[s.describe() for s in plan_slots(None, config)]}")
"""

# What the sandbox depends on: user namespaces (the unprivileged inner bubblewrap), the device nodes.
SYSTEM_FACTS = r"""
echo "id: $(id)"; echo "kernel: $(uname -r)"; grep PRETTY_NAME /etc/os-release 2>/dev/null
for f in /proc/sys/user/max_user_namespaces /proc/sys/kernel/unprivileged_userns_clone \
         /proc/sys/kernel/apparmor_restrict_unprivileged_userns /proc/sys/kernel/yama/ptrace_scope; do
  [ -r "$f" ] && echo "$f = $(cat "$f")"; done
ls -l /dev/nvidia* 2>/dev/null | head -12; ldd --version 2>/dev/null | head -1
"""

COMPILE = r"""
import compileall, importlib.metadata as md, sys
roots = set()
for line in open(sys.argv[1]).read().split():
    dist = md.distribution(line.split("==")[0])
    for f in dist.files or []:
        if f.suffix == ".py" and len(f.parts) > 1 and f.parts[0] != "..":
            roots.add(dist.locate_file(f.parts[0]))
ok = all(compileall.compile_dir(str(r), quiet=1, workers=0) for r in sorted(roots) if r.is_dir())
print(f"byte-compiled {len(roots)} package folders (the sandboxed kernels cannot write .pyc files)")
sys.exit(0 if ok else 1)
"""


UI_ONLY = ("jupyterlab", "jupyterlab-server", "jupyter-lsp", "jupyter-builder", "babel", "json5", "async-lru",
           "ipywidgets", "widgetsnbextension", "jupyterlab-widgets")
"""Needed only by formgrader's web UI (jupyter lab/notebook front ends), never imported when grading:
left out of the kit (jupyterlab and babel alone are 28 MiB of the 64 a device call may carry)."""
TARGET_ENV = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
              "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
              "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_packages() -> set[str]:
    """What the GPU image already holds (gpu/image-packages.txt)."""
    text = (REPO / "gpu" / "image-packages.txt").read_text()
    return {_norm(w) for line in text.splitlines() if not line.startswith("#") for w in line.split()}


def check_kit(kit: Path) -> str:
    """Raise unless the kit's wheel set is closed for CPython 3.12 on Linux x86-64: one wheel per
    pinned requirement, one version of each, and every requirement of every wheel carried, in the
    image or formgrader UI only. Returns a one-line account."""
    import zipfile

    from packaging.requirements import Requirement

    image, carried, needs = image_packages(), {}, {}
    for wheel in sorted((kit / "wheels").glob("*.whl")):
        with zipfile.ZipFile(wheel) as z:
            meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        name = _norm(re.search(r"^Name: (.+)$", meta, re.M).group(1).strip())
        if name in carried:
            raise SystemExit(f"two versions of {name} in the kit: {carried[name]} and {wheel.name}")
        carried[name] = wheel.name
        for line in re.findall(r"^Requires-Dist: (.+)$", meta, re.M):
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(TARGET_ENV):
                needs.setdefault(_norm(req.name), []).append(name)
    pins = [_norm(p.split("==")[0]) for p in (kit / "requirements.txt").read_text().split()]
    missing = sorted(set(pins) - set(carried))
    unmet = {n: who for n, who in needs.items() if n not in carried and n not in image and n not in UI_ONLY}
    if missing or unmet:
        raise SystemExit(f"the kit's wheel set is not closed: no wheel for {missing}; unmet requirements {unmet}")
    absent = [n for n in ("nbgrader", "nbclient", "nbconvert", "nbformat", "ipykernel", "jupyter-client", "nh3")
              if n not in carried]
    if absent:
        raise SystemExit(f"the kit lacks {absent}")
    return (f"closed: {len(carried)} wheels; every requirement is carried, in the image "
            f"({len(needs.keys() & image)} used) or formgrader UI only")


def wheel_meta(wheel: Path) -> tuple[str, list[str]]:
    """A wheel's normalised name and the requirements that apply on the GPU image (no extras)."""
    import zipfile

    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    needs = []
    for line in re.findall(r"^Requires-Dist: (.+)$", meta, re.M):
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(TARGET_ENV):
            needs.append(_norm(req.name))
    return _norm(re.search(r"^Name: (.+)$", meta, re.M).group(1).strip()), needs


def check_ray(wheel: Path, kit: Path) -> str:
    """Raise unless every requirement of Ray's wheel (no extras) is in the image or the kit: it is
    installed --no-deps, offline. Returns a one-line account."""
    carried = {_norm(p.split("==")[0]) for p in (kit / "requirements.txt").read_text().split()}
    _, needs = wheel_meta(wheel)
    unmet = sorted(set(needs) - carried - image_packages())
    if unmet:
        raise SystemExit(f"Ray's wheel {wheel.name} needs {unmet}, neither in the image nor in {kit}")
    return f"{wheel.name}: its {len(needs)} requirements are in the image or the kit"


RAY_PARTS = REPO / ".gpu-ray"


def join_ray_wheel(into: Path) -> tuple[Path | None, str]:
    """Ray's wheel from the parts gather.sh cut (.gpu-ray/a/NAME.part1, .gpu-ray/b/NAME.part2 and
    b/RAY.sha256), joined in order and checked; (None, why) when a part is missing or the sum differs."""
    sums = RAY_PARTS / "b" / "RAY.sha256"
    if not sums.is_file():
        return None, "no .gpu-ray/b/RAY.sha256: run `bash gpu/gather.sh` here and carry .gpu-ray/a, then .gpu-ray/b"
    digest, name = sums.read_text().split()
    parts = [RAY_PARTS / "a" / f"{name}.part1", RAY_PARTS / "b" / f"{name}.part2"]
    missing = [str(p.relative_to(REPO)) for p in parts if not p.is_file()]
    if missing:
        return None, f"{', '.join(missing)} not here: carry .gpu-ray/a in a first call, then .gpu-ray/b (gather.sh prints both)"
    import hashlib

    wheel, h = into / name, hashlib.sha256()
    with open(wheel, "wb") as out:
        for part in parts:
            data = part.read_bytes()
            h.update(data)
            out.write(data)
    if h.hexdigest() != digest:
        return None, f"the joined {name} does not match RAY.sha256: the parts come from two gathers; gather again"
    return wheel, f"{name} joined from 2 parts, checksum ok"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pids_matching(text: str) -> list[int]:
    """Processes whose command line holds `text` (this run's Ray temp folder or port): ours alone."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


class Kit:
    def __init__(self, out: Path, budget_s: float, dry_run: bool, classes: list[tuple[str, int]] | None = None,
                 slots: list[int] | None = None):
        self.out = out
        self.dry_run = dry_run
        self.classes = classes or parse_classes(DRY_CLASSES if dry_run else DEFAULT_CLASSES)
        self.slots = slots or parse_slots(DRY_SLOTS if dry_run else DEFAULT_SLOTS, os.cpu_count() or 1)
        self.wanted = list(CAPS)  # the steps this run takes (main sets it from --steps)
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.work = Path(tempfile.mkdtemp(prefix="alexnet-kit-"))
        self.work.chmod(0o755)  # the asset cache inside: kernels that run as their own uid read it
        self.results: dict = {"mode": "dry-run (CPU, tiny sizes)" if dry_run else "gpu", "budget_s": budget_s,
                              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "steps": {}}
        self.env = dict(os.environ)
        self.env.update(PYTHONUNBUFFERED="1", MPLBACKEND="Agg", ALEXNET_LAB_DATA=str(self.work / "data"),
                        PIP_DISABLE_PIP_VERSION_CHECK="1")
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        # The interpreter's scripts first (nbgrader runs `alembic`).
        self.env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
        self.env.pop("ALEXNET_LAB_PROFILE", None)

    # ------------------------------------------------------------------ running steps
    def left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, name: str, text: str) -> None:
        print(text, flush=True)
        with open(self.out / name, "a") as fh:
            fh.write(text + "\n")

    def run(self, step: str, log: str, cmd: list[str], limit_s: float) -> tuple[int | None, str]:
        """Run cmd with its output to the console and the log; kill its process group past limit_s.
        Returns (exit status or None when it was stopped, its output)."""
        shown = " ".join(a if len(a) < 100 and "\n" not in a else a.strip().split("\n")[0][:60] + " ..." for a in cmd)
        self.log(log, f"\n$ {shown}    # {step}, limit {limit_s:.0f} s")
        lines: list[str] = []
        proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)

        def pump():
            with open(self.out / log, "a") as fh:
                for line in proc.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    fh.write(line)
                    fh.flush()
                    lines.append(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=max(1.0, limit_s))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
            self.log(log, f"[kit] {step}: stopped at its limit of {limit_s:.0f} s")
        reader.join(timeout=10)
        return code, "".join(lines)

    def step(self, name: str, log: str, body) -> None:
        """Run one step within its cap and the time left; record status, seconds and figures."""
        cap, least = CAPS[name]
        limit = min(cap, self.left() - RESERVE_S)
        record = self.results["steps"].setdefault(name, {})
        if limit < least:
            record.update(status="skipped", reason=f"out of time ({max(self.left(), 0):.0f} s left, needs {least})")
            self.log(log, f"[kit] {name}: SKIPPED, {record['reason']}")
        else:
            t = time.monotonic()
            try:
                status, figures = body(limit)
            except Exception as exc:  # a kit bug must not lose the other steps
                status, figures = "failed", {"error": f"{type(exc).__name__}: {exc}"}
            record.update(status=status, seconds=round(time.monotonic() - t, 1), **figures)
            self.log(log, f"[kit] {name}: {status} in {record['seconds']} s")
        self.write_summary()

    # ------------------------------------------------------------------ the steps
    def install(self, limit: float):
        log = "setup.log"
        figures: dict = {}
        requirements = KIT / "requirements.txt"
        pip = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check"]
        if not requirements.is_file():
            if not self.dry_run:
                self.log(log, "[kit] no .gpu-kit/requirements.txt: run `bash gpu/gather.sh` here first and carry .gpu-kit")
                return "failed", {"error": "kit not gathered"}
            self.log(log, "[kit] .gpu-kit not gathered here (bash gpu/gather.sh): the offline install check is skipped")
            figures["kit"] = "not gathered"
        else:
            wheels = sorted((KIT / "wheels").glob("*.whl"))
            figures["wheels"] = len(wheels)
            figures["closure"] = check_kit(KIT)
            self.log(log, f"[kit] wheel set {figures['closure']}")
            if self.dry_run:  # prove the set installs offline for CPython 3.12, without installing it
                cmd = pip + ["install", "-q", "--dry-run", "--no-index", "--no-deps", "--ignore-installed", "--target",
                             str(self.work / "site"), *TARGET, "--find-links", str(KIT / "wheels"), "-r", str(requirements)]
            else:
                cmd = pip + ["install", "-q", "--no-index", "--no-deps", "--no-compile", "--find-links",
                             str(KIT / "wheels"), "-r", str(requirements)]
            code, _ = self.run("install", log, cmd, limit - 10)
            if code != 0:
                return "failed", {**figures, "error": f"pip install exited with {code}"}
            if not self.dry_run:
                code, _ = self.run("install", log, [sys.executable, "-c", COMPILE, str(requirements)],
                                   max(5, self.left() - RESERVE_S))
        figures["bwrap"] = self.results.get("bwrap", "?")
        code, out = self.run("install", log, [sys.executable, "-c",
                                              "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
                                              "print('imports ok:', ', '.join(sys.argv[1:]))", *GRADER_IMPORTS],
                             max(5, min(60, self.left() - RESERVE_S)))
        if code != 0:
            return "failed", {**figures, "error": "the grader's imports fail (see setup.log)"}
        if not self.dry_run:  # informational: it names formgrader's UI packages, left out on purpose
            self.run("install", log, pip + ["check"], 30)
        return "ok", figures

    def place_bwrap(self, log: str) -> str:
        """Make the kit's bubblewrap the one grading finds. On the GPU machine (root, thrown away
        after the visit) it is copied to /usr/local/bin: the sandbox runs a second, unprivileged
        bwrap inside its own view, which holds /usr but not this checkout or /tmp. Libraries the
        system lacks go to /usr/local/lib (ldconfig). The dry run only checks the kit's bwrap
        starts, and grades with this machine's own."""
        kit_bwrap = KIT / "root" / "usr" / "bin" / "bwrap"
        if not kit_bwrap.is_file():
            found = shutil.which("bwrap", path=self.env["PATH"])
            self.log(log, f"[kit] no bubblewrap in the kit; bwrap on PATH: {found}")
            return f"not in the kit; on PATH: {found}"
        missing = []
        if shutil.which("ldd"):
            ldd = subprocess.run(["ldd", str(kit_bwrap)], capture_output=True, text=True)
            missing = [line.split()[0] for line in ldd.stdout.splitlines() if "not found" in line]
        libs = [KIT / "root" / d for d in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")]
        system = shutil.which("bwrap", path=self.env["PATH"])
        if self.dry_run or (system and not os.access("/usr/local/bin", os.W_OK)):
            probe = ([str(kit_bwrap)] if not missing else
                     ["/lib64/ld-linux-x86-64.so.2", "--library-path", ":".join(map(str, libs)), str(kit_bwrap)])
            version = subprocess.run(probe + ["--version"], capture_output=True, text=True)
            how = f"kit bwrap starts ({version.stdout.strip() or version.stderr.strip()[:100]}); grading uses {system}"
        else:
            for name in missing:
                lib = next((d / name for d in libs if (d / name).exists()), None)
                if lib is not None:
                    shutil.copy2(lib.resolve(), Path("/usr/local/lib") / name)
            if missing:
                subprocess.run(["ldconfig"], check=False)
            shutil.copy2(kit_bwrap, "/usr/local/bin/bwrap")
            os.chmod("/usr/local/bin/bwrap", 0o755)
            if "/usr/local/bin" not in self.env["PATH"].split(os.pathsep):
                self.env["PATH"] = "/usr/local/bin" + os.pathsep + self.env["PATH"]
            found = shutil.which("bwrap", path=self.env["PATH"])
            version = subprocess.run([found or "bwrap", "--version"], capture_output=True, text=True)
            how = ("kit bwrap copied to /usr/local/bin" + (f" with {', '.join(missing)} in /usr/local/lib" if missing else "")
                   + f"; PATH finds {found}: {version.stdout.strip() or version.stderr.strip()[:200]}")
        self.log(log, f"[kit] {how}")
        return how

    def facts(self, limit: float):
        figures: dict = {}
        if shutil.which("nvidia-smi", path=self.env["PATH"]):
            self.run("facts", "setup.log", ["nvidia-smi"], 20)
            _, out = self.run("facts", "setup.log", ["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                                     "--format=csv,noheader"], 20)
            figures["gpu"] = out.strip()
        else:
            self.log("setup.log", "[kit] nvidia-smi: not found")
        self.run("facts", "setup.log", ["sh", "-c", SYSTEM_FACTS], 15)
        code, out = self.run("facts", "setup.log", [sys.executable, "-c", FACTS], max(5, limit - 20))
        figures["facts"] = [line for line in out.splitlines() if line.strip()][:20]
        return ("ok" if code == 0 else "failed"), figures

    def cuda_tests(self, limit: float):
        code, out = self.run("cuda-tests", "cuda-tests.log",
                             [sys.executable, "-m", "pytest", "-m", "cuda", "tests/gpu", "-v", "-s", "-rA",
                              "-p", "no:cacheprovider"], limit)
        tail = [line for line in out.splitlines() if re.search(r"\b(passed|failed|skipped|error)\b", line)]
        figures = {"outcome": tail[-1].strip("= ") if tail else "no summary"}
        figures["tests"] = [line[:220] for line in out.splitlines()
                            if line.startswith(("PASSED", "FAILED", "SKIPPED", "ERROR"))]
        figures["figures"] = [line.strip() for line in out.splitlines()
                              if line.startswith(("smoke on", "two seeded runs", "inside bubblewrap", "host memory cap",
                                                  "filling the GPU", "GPU share"))]
        return ("ok" if code == 0 else "failed" if code is not None else "timeout"), figures

    def training(self, limit: float):
        result = self.work / "training.json"
        if self.dry_run:
            args = ["--device", "cpu", "--profile", "smoke", "--train-images", "256", "--test-images", "128",
                    "--epochs", "1", "--full-epochs", "1", "--threads", "1", "--workers", "0"]
        else:
            args = ["--device", "cuda", "--profile", "full-synthetic", "--epochs", "2"]
        code, _ = self.run("training", "training.log",
                           [sys.executable, "benchmarks/bench_training.py", *args, "--full-run",
                            "--data", str(self.work / "data"), "--json", str(result)], limit)
        figures = json.loads(result.read_text()) if result.is_file() else {}
        return ("ok" if code == 0 else "failed" if code is not None else "timeout"), figures

    def grade_class(self, step: str, profile: str, n: int, slots: list[int], limit: float,
                    backend: list[str] = ()) -> tuple[int | None, dict]:
        """bench_grading.py's sweep for one class: n submissions s01..sNN (each its own student id,
        so its own seed), graded with each slot count; its figures, or {} when it left none."""
        tag = f"{profile}-{n}" + ("-ray" if backend else "")
        result = self.work / f"grading-{tag}.json"
        args = ["--slots", ",".join(map(str, slots)), "--submissions", str(n), "--profile", profile]
        args += ["--cpu", "--unrun"] if self.dry_run else []
        code, _ = self.run(step, "grading.log",
                           [sys.executable, "benchmarks/bench_grading.py", *args, *backend,
                            "--keep", str(self.work / f"grading-{tag}"), "--deadline-s", str(max(20, limit - 10)),
                            "--json", str(result)], limit)
        shutil.rmtree(self.work / f"grading-{tag}", ignore_errors=True)  # the graded class: 100s of MiB
        return code, (json.loads(result.read_text()) if result.is_file() else {})

    def grading(self, limit: float):
        """Each class in turn, with an equal share of the time left (less what the Ray step keeps)."""
        end = time.monotonic() + limit - self.reserve_after("grading")
        classes, codes = [], []
        for i, (profile, n) in enumerate(self.classes):
            share = (end - time.monotonic()) / (len(self.classes) - i)
            if share < 40:
                classes.append({"profile": profile, "submissions": n,
                                "skipped": f"out of time (its share {max(share, 0):.0f} s, needs 40)"})
                self.log("grading.log", f"[kit] grading {n} {profile}: SKIPPED, {classes[-1]['skipped']}")
                continue
            code, figures = self.grade_class("grading", profile, n, self.slots, share)
            codes.append(code)
            classes.append(figures or {"profile": profile, "submissions": n, "failed": f"bench_grading exited with {code}"})
            self.write_summary_with("grading", classes=classes)
        if not codes:  # every class skipped: out of time, said per class
            return "skipped", {"classes": classes, "reason": "no class had time to be graded"}
        status = "ok" if all(c == 0 for c in codes) else "timeout" if None in codes else "failed"
        return status, {"classes": classes}

    def ray(self, limit: float):
        """The smoke class again, through `--backend ray` on a head started here on loopback, with
        the slot count the local pool graded it fastest with (a GPU share of 1/slots per task):
        both figures side by side. On the GPU machine Ray comes from .gpu-ray's parts, installed
        offline; the dry run uses this Python's own Ray."""
        log, end = "grading.log", time.monotonic() + limit
        figures: dict = {}
        if self.dry_run and os.environ.get("KIT_DRY_RAY") != "1":
            # A head on this 2-core machine takes 30-60 s to start: the dry run would double.
            return "skipped", {"reason": "left out of the dry run to keep it about a minute (KIT_DRY_RAY=1 runs it; "
                                         "tests/batch/test_ray_cluster.py grades on a local cluster)"}
        if not self.dry_run:
            wheel, how = join_ray_wheel(self.work)
            figures["wheel"] = how
            self.log(log, f"[kit] ray: {how}")
            if wheel is None:
                return "skipped", {**figures, "reason": how}
            code, _ = self.run("ray", log, [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                                            "--no-compile", str(wheel)], min(120, limit - 40))
            if code != 0:
                return "failed", {**figures, "error": f"pip install of Ray exited with {code}"}
        ray_cli = Path(sys.executable).parent / "ray"
        if not ray_cli.exists():
            return "skipped", {**figures, "reason": f"no Ray here ({ray_cli} missing)"}
        local = next((c for c in self.results["steps"].get("grading", {}).get("classes", [])
                      if c.get("profile") == "smoke" and c.get("best_slots_per_gpu")), None)
        if local is None:
            return "skipped", {**figures, "reason": "no smoke class was graded by the local pool to compare with"}
        slots, n = local["best_slots_per_gpu"], local["submissions"]
        gpus = 0 if self.dry_run else len(self.results["steps"].get("facts", {}).get("gpu", "").splitlines()) or 1
        # A task asks 1/slots of a GPU (and one CPU): the head runs `slots` tasks per GPU at once.
        config = self.work / "ray-config.toml"
        config.write_text(f"[runners]\nray_gpu_fraction = {1 / slots:.6f}\n")
        temp = Path(tempfile.mkdtemp(prefix="rk", dir="/tmp"))  # short: Ray's socket paths have a length limit
        port = free_port()
        ports = [f"--{p}={free_port()}" for p in ("ray-client-server-port", "dashboard-port", "dashboard-agent-listen-port",
                                                  "dashboard-agent-grpc-port", "metrics-export-port",
                                                  "runtime-env-agent-port")]
        cpus = slots if self.dry_run or not gpus else min(os.cpu_count() or 1, slots * gpus)
        self.env.update(RAY_USAGE_STATS_ENABLED="0")
        start = [str(ray_cli), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false",
                 f"--num-cpus={cpus}", f"--num-gpus={gpus}", f"--temp-dir={temp}", "--disable-usage-stats", *ports]
        try:
            for attempt in (1, 2):  # the raylet gives its agents 15 s to start: a loaded machine can miss it
                code, _ = self.run("ray", log, start, min(90, end - time.monotonic() - 30))
                if code == 0 or attempt == 2 or end - time.monotonic() < 120:
                    break
                self.kill_ray(temp, port)
            if code != 0:
                return "failed", {**figures, "error": f"`ray start --head` exited with {code} (see grading.log)"}
            self.env["ALEXNET_LAB_CONFIG"] = str(config)
            code, on_ray = self.grade_class("ray", "smoke", n, [slots], end - time.monotonic() - 10,
                                            ["--backend", "ray", "--address", f"127.0.0.1:{port}"])
        finally:
            self.env.pop("ALEXNET_LAB_CONFIG", None)
            self.kill_ray(temp, port)
            shutil.rmtree(temp, ignore_errors=True)
        figures["ray"] = on_ray
        ray_row = next((r for r in on_ray.get("sweep", []) if "per_hour" in r), None)
        local_row = next(r for r in local["sweep"] if r["slots_per_gpu"] == slots)
        if ray_row is None:
            return "failed", {**figures, "error": "Ray graded nothing (see grading.log)"}
        figures["compared"] = {"slots_per_gpu": slots, "submissions": n, "local_per_hour": local_row["per_hour"],
                               "ray_per_hour": ray_row["per_hour"],
                               "ray_vs_local": round(ray_row["per_hour"] / local_row["per_hour"], 2)}
        return ("ok" if code == 0 else "failed"), figures

    @staticmethod
    def kill_ray(temp: Path, port: int) -> None:
        """Stop this run's cluster by PID: every process of it names its temp folder or its port
        (never `ray stop`, which stops every cluster on the machine)."""
        for pid in set(pids_matching(str(temp))) | set(pids_matching(f"127.0.0.1:{port}")):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def reserve_after(self, name: str) -> float:
        """Seconds the steps after `name` that this run will try keep back (their least time)."""
        later = list(CAPS)[list(CAPS).index(name) + 1:]
        return sum(CAPS[s][1] for s in later if s in self.wanted)

    def write_summary_with(self, name: str, **figures) -> None:
        """A partial record of a running step in the summary (a run cut short still leaves it)."""
        self.results["steps"].setdefault(name, {}).update(status="running", **figures)
        self.write_summary()

    # ------------------------------------------------------------------ the summary
    def write_summary(self) -> None:
        r = self.results
        r["seconds"] = round(time.monotonic() - self.started, 1)
        (self.out / "results.json").write_text(json.dumps(r, indent=1) + "\n")
        lines = [f"GPU validation kit ({r['mode']}), started {r['started']}, {r['seconds']} s of a {r['budget_s']:.0f} s budget"]
        for name in CAPS:
            s = r["steps"].get(name)
            if s is None:
                lines.append(f"{name:<11} not reached")
                continue
            lines.append(f"{name:<11} {s['status']:<8} {s.get('seconds', 0):6.1f} s  {s.get('reason', '')}{s.get('error', '')}")
            lines += [f"    {x}" for x in self.describe(name, s) if x]
        (self.out / "summary.txt").write_text("\n".join(lines) + "\n")

    @staticmethod
    def describe(name: str, s: dict) -> list[str]:
        if name == "install":
            return [f"{s.get('wheels', 0)} wheels ({s.get('kit', 'from .gpu-kit')}); bubblewrap: {s.get('bwrap', '?')}"]
        if name == "facts":
            return ([s["gpu"]] if s.get("gpu") else []) + s.get("facts", [])
        if name == "cuda-tests":
            return [s.get("outcome", "")] + s.get("figures", []) + [t for t in s.get("tests", []) if not t.startswith("PASSED")]
        if name == "training" and "core_images_per_s" in s:
            out = [f"{s['profile']} on {s['device']} ({s.get('device_name')}): alexnet_core {s['core_images_per_s']:,} "
                   f"images/s" + (f", usual PIL+DataLoader {s['usual_images_per_s']:,} images/s ({s['ratio']}x)"
                                  if "usual_images_per_s" in s else "")]
            if "lab_run" in s:
                lab = s["lab_run"]
                out.append(f"lab run: {lab['epochs']} epochs of {s['train_images']:,} images + {lab['test_images']:,} "
                           f"test images: {lab['seconds']} s, {lab['images_per_s']:,} images/s, accuracy "
                           f"{lab['accuracy'][0]} -> {lab['accuracy'][-1]} %"
                           + (f", peak GPU memory {lab['peak_gpu_mib']} MiB" if "peak_gpu_mib" in lab else ""))
            return out
        if name == "grading":
            return [line for c in s.get("classes", []) for line in Kit.describe_class(c)]
        if name == "ray":
            out = [s["wheel"]] if s.get("wheel") else []
            if s.get("ray"):
                out += Kit.describe_class(s["ray"])
            if s.get("compared"):
                c = s["compared"]
                out.append(f"{c['submissions']} smoke submissions, {c['slots_per_gpu']} slot(s)/GPU: Ray {c['ray_per_hour']} "
                           f"submissions/hour, local pool {c['local_per_hour']} ({c['ray_vs_local']}x)")
            return out
        return []

    @staticmethod
    def describe_class(s: dict) -> list[str]:
        if "sweep" not in s:
            return [f"{s.get('submissions')} {s.get('profile')} submissions: {s.get('skipped') or s.get('failed')}"]
        out = [f"{s['submissions']} {s['profile']} submissions, {s['where']}, prepared in {s['prepare_seconds']} s"]
        for row in s["sweep"]:
            head = f"{row['slots_per_gpu']} slot(s)/GPU: "
            if "per_hour" not in row:
                out.append(head + row.get("skipped", row.get("failed", "?")))
                continue
            b, g = row.get("breakdown") or {}, row.get("gpu") or {}
            out.append(head + f"{row['seconds']} s, {row['per_hour']} submissions/hour, {row['graded']} graded")
            if b:
                out.append(f"    per submission {b['total']} s: outside cells {b['outside_cells']}, setup {b['setup']}, "
                           f"imports {b['imports']}, train {b['train']} (loop {b['training_loop']}), other cells "
                           f"{b['other_cells']}; coordinator about {b.get('coordinator', '?')} s per run")
            if "per_kernel_mib_max" in g:
                out.append(f"    GPU memory: {g['per_kernel_mib_max']} MiB per kernel at most, peak {g['gpu_used_mib_peak']} "
                           f"MiB in all; mean GPU utilisation {g['gpu_utilisation_mean_pct']} %")
            elif g:
                out.append(f"    GPU memory: {g.get('gpu_memory')}")
            if row.get("cpu"):
                c = row["cpu"]
                out.append(f"    CPU: {c.get('busy_pct', '?')} % busy ({c.get('cores_busy', '?')} of {c['cores']} cores), "
                           f"load average {c['load_1m']} at the end")
            if row.get("failures"):
                out.append(f"    not graded: {row['failures']}")
        if "best_slots_per_gpu" in s:
            out.append(f"most submissions per hour with {s['best_slots_per_gpu']} slot(s) per GPU")
        return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", default=os.environ.get("DRY_RUN") == "1",
                        help="on this machine's CPU, tiny sizes, nothing installed (also DRY_RUN=1)")
    parser.add_argument("--out", default=os.environ.get("OUT"), help="where logs and figures go (default: $OUT)")
    parser.add_argument("--budget-s", type=float, default=float(os.environ.get("KIT_BUDGET_S", 500)),
                        help="the whole run's time; later steps are skipped when it runs short (default 500: "
                             "one device call of 540 s)")
    parser.add_argument("--steps", default=",".join(CAPS),
                        help="comma-separated subset of the steps, in their order")
    parser.add_argument("--classes", default=os.environ.get("KIT_CLASSES"),
                        help=f"the classes graded, PROFILE:COUNT,... (also KIT_CLASSES; default {DEFAULT_CLASSES}, "
                             f"dry run {DRY_CLASSES})")
    parser.add_argument("--slots", default=os.environ.get("KIT_SLOTS"),
                        help=f"slots per GPU to grade each class with (also KIT_SLOTS; default {DEFAULT_SLOTS}, dry run "
                             f"{DRY_SLOTS}); counts above the cores are dropped")
    parser.add_argument("--check-kit", metavar="KIT", help="only check that KIT's wheel set is closed (gather.sh)")
    parser.add_argument("--check-ray", metavar="WHEEL", help="with --check-kit: only check that Ray's wheel needs "
                        "nothing beyond the image and KIT (gather.sh)")
    args = parser.parse_args(argv)
    if args.check_kit and args.check_ray:
        print(f"   {check_ray(Path(args.check_ray), Path(args.check_kit))}")
        return 0
    if args.check_kit:
        print(f"   {check_kit(Path(args.check_kit))}")
        return 0
    if not args.out:
        parser.error("no output folder: set $OUT or pass --out")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kit = Kit(out, args.budget_s, args.dry_run, parse_classes(args.classes) if args.classes else None,
              parse_slots(args.slots, os.cpu_count() or 1) if args.slots else None)
    try:
        kit.results["bwrap"] = kit.place_bwrap("setup.log")
    except OSError as exc:
        kit.results["bwrap"] = f"could not place the kit's bwrap: {exc}"
        kit.log("setup.log", f"[kit] {kit.results['bwrap']}")
    wanted = kit.wanted = args.steps.split(",")
    bodies = {"install": (kit.install, "setup.log"), "facts": (kit.facts, "setup.log"),
              "cuda-tests": (kit.cuda_tests, "cuda-tests.log"), "training": (kit.training, "training.log"),
              "grading": (kit.grading, "grading.log"), "ray": (kit.ray, "grading.log")}
    try:
        for name in CAPS:
            if name in wanted:
                body, log = bodies[name]
                kit.step(name, log, body)
    finally:
        kit.write_summary()
        shutil.rmtree(kit.work, ignore_errors=True)
    print("\n" + (out / "summary.txt").read_text(), flush=True)
    bad = [n for n, s in kit.results["steps"].items() if s.get("status") not in ("ok", "skipped")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
