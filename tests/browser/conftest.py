"""A real browser for the TA's tests: Debian's Chromium driven by Playwright, and formgrader served
on a graded class.

Playwright's own browser download is not reachable here, so the browser is the system's
`chromium` (`make browser` installs Debian's package, as `make sandbox` installs bubblewrap).
Without it, or without Playwright, every test of this folder skips with one line saying why.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import notebooks
import pytest
from browser_ta import DOWNLOAD, REPO, ROSTER, SERVER_START_S, SERVER_STOP_S, STUDENTS, grade_class
from classes import all_answers, cli_command, free_port, kill, processes_matching

from autograder.demo.sample_class import answer

CHROMIUM = shutil.which("chromium")
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the [dev] extra not installed
    sync_playwright = None

if CHROMIUM is None:
    SKIP_REASON = "chromium not installed (run `make browser` as root, or `apt-get install chromium`)"
elif sync_playwright is None:
    SKIP_REASON = "playwright not installed (pip install -e '.[dev]')"
else:
    SKIP_REASON = ""


def pytest_collection_modifyitems(config, items):
    """Skip this folder's tests, with the reason, where there is no browser to drive."""
    if not SKIP_REASON:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture(scope="session")
def chromium_browser():
    """One headless Chromium (Debian's) for the session."""
    with sync_playwright() as playwright:
        # As root, Chromium's own sandbox cannot start ("Running as root without --no-sandbox is
        # not supported"): it is built to drop to an unprivileged user. The pages it opens here
        # are ours: formgrader on loopback and the grader's report files.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageLog:
    """What a page said that a user would never see: console errors, uncaught exceptions, failed loads."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(
            f"console error: {msg.text} ({msg.location.get('url', '')})"))
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("requestfailed", lambda req: self.errors.append(
            f"failed request: {req.method} {req.url} ({req.failure})"))


@pytest.fixture()
def page(chromium_browser):
    """A fresh browser context and page, with a log of what went wrong in it (`page.log`)."""
    context = chromium_browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.log = PageLog()
    page.log.watch(page)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A Canvas download of two students (ada, ben) with a roster, graded by `alexnet-lab grade`: OUT."""
    executed = notebooks.executed_release(tmp_path_factory)
    base = tmp_path_factory.mktemp("ta")
    download = base / DOWNLOAD
    with zipfile.ZipFile(download, "w") as zf:
        for sid, (lms_id, name) in STUDENTS.items():
            lastfirst = "".join(reversed(name.lower().split()))
            nb = answer(executed, all_answers(sid))
            zf.writestr(f"{lastfirst}_{lms_id}_{int(lms_id) + 4000}_alexnet.ipynb", nbformat.writes(nb))
    roster = base / ROSTER
    with roster.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "lms_id", "name"])
        for sid, (lms_id, name) in STUDENTS.items():
            writer.writerow([sid, lms_id, name])
    out = base / "out"
    done = grade_class([download], out, roster)
    for sid in STUDENTS:
        assert (out / sid / "graded.json").exists(), f"{sid} was not graded:\n{done.stdout}\n{done.stderr}"
    return out


FORMGRADER_LINE = re.compile(r"^formgrader: (http://\S+)", re.MULTILINE)


@dataclass
class Formgrader:
    url: str
    """The URL the command printed (with its token)."""
    process: subprocess.Popen
    log: Path

    @property
    def base(self) -> str:
        return self.url.split("/formgrader", 1)[0]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, as a TA's Ctrl-C or a service manager would stop it; SIGKILL the group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(SERVER_STOP_S)
        except subprocess.TimeoutExpired:
            pass
    try:  # its own process group (start_new_session): nothing it started outlives the test
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(SERVER_STOP_S)


@pytest.fixture(scope="module")
def formgrader(graded, tmp_path_factory):
    """`alexnet-lab formgrader OUT --port P --no-browser` on the graded class; stopped after the tests."""
    port = free_port()
    log = tmp_path_factory.mktemp("formgrader") / "formgrader.log"
    env = dict(os.environ)
    # Jupyter's runtime files (cookie secret, server info) go to the test's folder, not ~/.local.
    env["JUPYTER_RUNTIME_DIR"] = str(log.parent / "runtime")
    command = cli_command("formgrader", str(graded), "--port", str(port), "--no-browser")
    with log.open("w") as fh:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
    server = None
    try:
        deadline = time.monotonic() + SERVER_START_S
        while server is None and time.monotonic() < deadline:
            found = FORMGRADER_LINE.search(log.read_text(errors="replace"))
            if found:
                server = Formgrader(found.group(1), process, log)
            elif process.poll() is not None:
                pytest.fail(f"alexnet-lab formgrader exited with {process.returncode} before it printed "
                            f"its URL:\n{log.read_text(errors='replace')}")
            else:
                time.sleep(0.2)
        if server is None:
            pytest.fail(f"alexnet-lab formgrader printed no 'formgrader: http://...' line in {SERVER_START_S} s:\n"
                        f"{log.read_text(errors='replace')}")
        yield server
    finally:
        _stop(process)
        # The Jupyter server runs in a session of its own, its command line naming OUT/nbgrader.
        left = [pid for pid in processes_matching(str(graded)) if pid != os.getpid()]
        kill(left)
        assert not left, f"formgrader left processes behind (killed): {left}\n{log.read_text(errors='replace')}"
