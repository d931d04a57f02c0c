"""Answers of their own for test students, and the processes the batch tests start and stop.

Sample notebooks themselves come from `autograder.demo.sample_class`, the builder the demo and the
benchmarks use too; what is here is only what a test needs beyond it.
"""
from __future__ import annotations

import dataclasses
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alexnet_core.contract import QUESTIONS

REPO = Path(__file__).resolve().parent.parent
WORDS = ["kernel", "edge", "colour", "blob", "data", "training", "epoch", "accuracy", "pattern", "texture", "filter", "layer", "image", "class", "random", "noise", "guess", "chance", "network", "learn", "weight", "gradient", "loss", "shape", "fur", "ear", "wheel", "sky", "grass", "pixel", "feature", "detector", "scale", "small", "large", "fast", "slow", "rise", "flat", "stripe", "corner"]


def prose(student: str, label: str, words: int = 18) -> str:
    """An answer of its own for each student and question (random words: no accidental duplicates)."""
    rng = random.Random(f"{student}/{label}")
    return f"{student.title()} on {label}: " + " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def all_answers(student: str) -> dict[str, str]:
    return {label: prose(student, label) for label in QUESTIONS}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the OS's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_matching(*needles: str) -> list[int]:
    """PIDs whose command line contains every needle (read from /proc; no broad kills)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(n in cmdline for n in needles):
            found.append(int(entry.name))
    return found


def wait_for(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cli_command(*args) -> list[str]:
    """`alexnet-lab --course REPO ARGS...` as a subprocess's command line, as the installed command runs it."""
    return [sys.executable, "-m", "autograder.cli", "--course", str(REPO), *map(str, args)]


@dataclasses.dataclass
class Served:
    """A running `alexnet-lab formgrader`: its process, the URL it printed and its token, and every
    line it printed so far (`line()` reads the next one into `printed`)."""

    process: subprocess.Popen
    url: str = ""
    printed: list[str] = dataclasses.field(default_factory=list)

    @property
    def token(self) -> str:
        return self.url.split("token=")[1]

    def line(self) -> str:
        line = self.process.stdout.readline()
        self.printed.append(line)
        assert line or self.process.poll() is None, self.process.stderr.read()
        return line


@contextmanager
def formgrader_running(*args, port: int) -> Iterator[Served]:
    """`alexnet-lab formgrader ARGS --no-browser --port PORT` as its own process, as a TA starts it,
    served once its `formgrader: URL` line is out. On leaving: SIGTERM, which must stop it cleanly
    (exit 0); a process still there after a failure is killed."""
    served = Served(subprocess.Popen(cli_command("formgrader", *args, "--no-browser", "--port", port), cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        line = ""
        while not line.startswith("formgrader: "):
            line = served.line()
        served.url = line.split(" ", 1)[1].strip()
        yield served
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=60) == 0
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()


def grade_command(inputs, out: Path, *extra: str) -> list[str]:
    return cli_command("grade", *inputs, "--out", out, "--profile", "smoke", *extra)


def start_coordinator(inputs, out: Path, *extra: str) -> subprocess.Popen:
    """`alexnet-lab grade` as its own process; its output goes to `<out>.log` (read with `log_of`)."""
    log = Path(f"{out}.log").open("w")  # noqa: SIM115 (the coordinator writes it after we return)
    return subprocess.Popen(grade_command(inputs, out, *extra), cwd=REPO, env=dict(os.environ),
                            stdout=log, stderr=subprocess.STDOUT, text=True)


def log_of(out: Path) -> str:
    return Path(f"{out}.log").read_text(errors="replace")


def fixed_seed(config):
    """The config with per-student seeds off: classes made of copies of the one shared run, made
    with the course's fixed seed (per-student seeds are tested in tests/grading/test_identity_*.py)."""
    return dataclasses.replace(config, identity=dataclasses.replace(config.identity, per_student_seeds=False))
