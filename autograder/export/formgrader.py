"""`alexnet-lab formgrader OUT`: nbgrader's formgrader on the class graded into OUT.

In nbgrader 0.9.6 formgrader is a Jupyter server extension (`nbgrader formgrader` only lists
subcommands): this starts `jupyter server` inside `OUT/nbgrader` (the course root `grade` made:
its gradebook, nbgrader_config.py pointing nbgrader at it, autograded/), with a token of its own, waits until it answers,
then prints one line `formgrader: http://IP:PORT/formgrader?token=...` and runs until interrupted
(SIGINT or SIGTERM stop the server cleanly).

formgrader's views ask the filesystem, not only the gradebook, whether a student submitted
(nbgrader 0.9.6, `NbGraderAPI`): a submission is counted (Manage Assignments' "# Submissions",
Manage Students' assignment row and its link) only where `submitted/<student>/<assignment>/` exists
and its `timestamp.txt` is the gradebook's timestamp for that submission, and its notebook is
listed only where `autograded/<student>/<assignment>/<notebook>.ipynb` exists. `gradebook.mark_submitted`
writes that record for one submission (the recorder calls it after each result) and
`sync_submitted` for every submission in the gradebook (before the server starts: a class graded
by an older version, or a timestamp that drifted). The submitted folder holds no notebook on
purpose: nothing of nbgrader's reads one there except its autograde (formgrader's flash button in
Manage Submissions, `nbgrader autograde`), which would run it outside the sandbox and replace our
scores; with no notebook it stops at "No notebooks were matched" before it touches anything.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import webbrowser
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from autograder import database
from autograder.course import NbgraderRoot, OutputFolder
from autograder.errors import LabError
from autograder.files import exclusive_lock
from autograder.gradebook import Gradebook, MissingEntry, mark_submitted, write_nbgrader_config
from autograder.urls import DEFAULT_PORT, formgrader_url, grading_page_url
from grading_config import GradingConfig

STARTUP_S = 120


def _safe_folder_name(student_id: str) -> bool:
    """A gradebook id usable as one folder name under submitted/ (grade's ids always are: collect.safe_id)."""
    return bool(student_id) and student_id not in (".", "..") and "/" not in student_id and "\0" not in student_id


def sync_submitted(root: NbgraderRoot) -> int:
    """`mark_submitted` for every submission of the assignment in the gradebook; how many changed."""
    with Gradebook(root.gradebook_url, root.course.course_id) as gb:
        try:
            submissions = [(s.student.id, s.timestamp) for s in gb.find_assignment(root.course.assignment).submissions]
        except MissingEntry:
            return 0
    return sum(mark_submitted(root, sid, when) for sid, when in submissions if _safe_folder_name(sid))


def _free(ip: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def server_command(root: Path, ip: str, port: int, token: str) -> list[str]:
    command = [sys.executable, "-m", "jupyter_server", f"--ServerApp.root_dir={root}", f"--ServerApp.ip={ip}",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.open_browser=False",
               f"--IdentityProvider.token={token}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


FORMGRADER_HOLDER = "`alexnet-lab formgrader` bringing submitted/ in line"
GRADING_NOTE = ("formgrader serves it meanwhile, without bringing submitted/ in line: grade records each "
                "submission for formgrader as it finishes")


def run_formgrader(out: Path, config: GradingConfig, port: int = DEFAULT_PORT, ip: str = "127.0.0.1",
                   open_browser: bool = True, config_source: Path | None = None, master: Path | None = None) -> int:
    """Serve formgrader and the grading page on OUT/nbgrader until interrupted; returns the server's
    exit status. `config_source`: the settings file the grader read (the page loads it too); `master`: the
    course's master, whose rubrics the page's items start from (None: OUT's registered copy, which keeps them)."""
    folder = OutputFolder.of(Path(out), config)
    root = folder.nbgrader.root.resolve()
    database.open_checked(folder.nbgrader)  # the gradebook OUT was graded into (a server: reachable)
    with contextlib.ExitStack() as lock:
        try:  # grade keeps submitted/ in line as it records; two writers of it would race
            lock.enter_context(exclusive_lock(folder.lock, f"{folder.root} is in use by another command",
                                              holder=FORMGRADER_HOLDER, advice=GRADING_NOTE))
        except LabError as busy:
            print(f"note: {busy}", flush=True)
            changed = 0
        else:
            try:
                write_nbgrader_config(folder.nbgrader, config)  # this command's URL (a password it gained)
                changed = sync_submitted(folder.nbgrader)
            except (SQLAlchemyError, OSError) as exc:
                reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise LabError(f"{folder.nbgrader.gradebook_shown}: cannot read or record its submissions ({reason}); "
                               f"grade into a fresh --out folder, or restore the gradebook") from None
    if changed:  # a class graded before grade wrote these (or a timestamp that drifted)
        print(f"{changed} submission record(s) under {root / 'submitted'} brought in line with the gradebook "
              "(formgrader counts submissions from them)", flush=True)
    if not _free(ip, port):
        raise LabError(f"port {port} on {ip} is in use (another formgrader?); stop it or pass --port N")
    token = secrets.token_hex(24)
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs alembic from the venv's bin/
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    # The grading page: its extension and settings live in OUT/nbgrader (a hub service gets the
    # same folder on its config path), so this server and any other started there load it.
    from autograder.manual.server import write_server_config

    write_server_config(root, folder.root, config_source, master)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(p for p in (str(root), env.get("JUPYTER_CONFIG_PATH", "")) if p)
    # Its own session: Ctrl-C reaches this process, which stops the server (no "Shutdown?" prompt).
    server = subprocess.Popen(server_command(root, ip, port, token), cwd=root, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    stop = {"signal": None}

    def _stop(signum, _frame):
        stop["signal"] = signum
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        url = formgrader_url(port, ip, token)
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline and server.poll() is None and stop["signal"] is None:
            try:
                with urllib.request.urlopen(f"http://{ip}:{port}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        if server.poll() is not None:
            tail = (server.stderr.read() if server.stderr else "")[-2000:]
            raise LabError(f"the Jupyter server stopped while starting (exit {server.returncode}): {tail.strip()}")
        print(f"formgrader: {url}", flush=True)
        print(f"grading page: {grading_page_url(port, ip, token)}", flush=True)
        print(f"(the gradebook {folder.nbgrader.gradebook_shown}; Ctrl-C stops the server; then: alexnet-lab export "
              f"{folder.root})", flush=True)
        if open_browser:
            webbrowser.open(url)
        # Drain the server's log so it never blocks on a full pipe; show its errors only.
        assert server.stderr is not None
        for line in server.stderr:
            if " E " in line[:40] or "Traceback" in line:
                print(line.rstrip(), file=sys.stderr)
        server.wait()
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop["signal"] is not None:
        print("formgrader stopped", flush=True)
        return 0
    return server.returncode or 0
