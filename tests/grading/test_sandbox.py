"""Running untrusted code (as `limits.run_extra_code` allows): limits and the sandbox hold.

Tiny notebooks with short limits; each test runs its notebook through `run.execute`, the same call
the runner makes for a real submission.
"""
import dataclasses
import logging
import os
from pathlib import Path

import nbformat
import pytest
from notebooks import CONFIG, code_notebook

from autograder.submission import execute as run
from autograder.submission import sandbox

LIMITS = dataclasses.replace(CONFIG.limits, memory_mb=3000, output_mb=0.2, run_extra_code=True)
# Short limits: each test's notebook is tiny.
SMOKE = dataclasses.replace(CONFIG.profiles["smoke"], cell_timeout_s=4, notebook_timeout_s=30)
needs_bwrap = pytest.mark.skipif(sandbox.bwrap_problem() is not None, reason="bubblewrap unusable here")


def execute(*sources, limits=LIMITS, cell_s=4, **kw):
    profile = dataclasses.replace(SMOKE, cell_timeout_s=cell_s)
    return run.execute(code_notebook(*sources), profile=profile, limits=limits, **kw)


def outputs(execution):
    nb = nbformat.reads(execution.notebook, as_version=4)
    return ["".join(o.get("text", "") or str(o.get("evalue", "")) for o in c.outputs) for c in nb.cells]


def test_a_cell_that_never_ends_is_stopped_at_the_cell_limit():
    e = execute("while True:\n    pass", "print('never reached')")
    assert e.status == run.TIMEOUT and e.failed_cell == "cell_0"
    assert "per-cell limit of 4 s" in e.reason


def test_a_kernel_that_dies_is_recorded_with_its_cell():
    e = execute("print('fine')", "import os\nos.kill(os.getpid(), 9)")
    assert e.status == run.DEAD and e.failed_cell == "cell 2"
    assert outputs(e)[0] == "fine\n"


def test_memory_that_grows_without_bound_is_capped():
    limits = dataclasses.replace(LIMITS, memory_mb=1000)
    e = execute("blocks = []\nwhile True:\n    blocks.append(bytearray(100_000_000))", "print('kernel still alive')",
                limits=limits, cell_s=25)
    assert e.errors and e.errors[0]["ename"] == "MemoryError" and e.errors[0]["cell"] == "cell_0"
    assert "out of memory (cap 1000 MB)" in e.reason
    assert outputs(e)[1] == "kernel still alive\n"


def test_a_gpu_runner_caps_resident_memory_instead(tmp_path):
    # GPU runs cannot use an address-space limit (CUDA reserves huge ranges): a watchdog stops a
    # kernel whose resident memory passes the cap. "cuda:0" here exercises that path without a GPU.
    limits = dataclasses.replace(LIMITS, memory_mb=600)
    e = execute("blocks = []\nwhile True:\n    blocks.append(b'x' * 50_000_000)", limits=limits, device="cuda:0", cell_s=25)
    assert e.status == run.MEMORY and e.failed_cell == "cell_0"
    assert "more than 600 MB" in e.reason


def test_output_floods_are_cut_at_the_cap():
    e = execute("for i in range(20000):\n    print('spam ' * 40)")
    assert e.truncated == ["cell_0"]
    assert len(e.notebook) < 0.3 * 1024 * 1024
    assert "output cut here" in outputs(e)[0]


def test_the_kernel_gets_no_credentials_from_the_grader(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "secret-token")
    e = execute("import os\nprint(os.environ.get('GITHUB_TOKEN'), os.environ['ALEXNET_LAB_PROFILE'])")
    assert outputs(e)[0] == "None smoke\n"


@needs_bwrap
def test_no_network_and_nothing_writable_but_the_scratch_folder(tmp_path):
    e = execute(
        "import socket\ns = socket.socket()\ntry:\n    s.connect(('1.1.1.1', 80)); print('connected')\n"
        "except OSError as exc:\n    print('no network')",
        f"open({str(tmp_path / 'planted.txt')!r}, 'w')",
        "open('/usr/planted.txt', 'w')",
        "open('scratch-ok.txt', 'w').write('fine'); print('scratch writable')",
    )
    assert e.sandboxed
    out = outputs(e)
    assert out[0] == "no network\n"
    assert [x["ename"] for x in e.errors] in (["FileNotFoundError", "OSError"], ["OSError", "OSError"])
    assert out[3] == "scratch writable\n"
    assert not (tmp_path / "planted.txt").exists()


@needs_bwrap
def test_grading_secrets_and_other_submissions_are_invisible(tmp_path, course_root, repo):
    others = tmp_path / "submissions"
    others.mkdir()
    (others / "alice.ipynb").write_text("alice's notebook")
    asset = Path(os.environ["ALEXNET_LAB_DATA"]) / "probe.txt"
    asset.parent.mkdir(parents=True, exist_ok=True)
    asset.write_text("an asset")
    probe = ("import os\n"
             "for p in {paths!r}:\n"
             "    print(p, os.path.exists(p) and (os.listdir(p) if os.path.isdir(p) else open(p).read()[:20]))")
    paths = [str(course_root / "gradebook.db"), str(others), str(repo / "source" / "alexnet" / "reference"),
             str(repo / "tests"), str(asset)]
    e = execute(probe.format(paths=paths), hidden=[str(course_root), str(others)])
    lines = outputs(e)[0].splitlines()
    def unseen(line):  # gone, emptied, or an empty folder laid over it
        return line.endswith(("False", " ", "[]"))

    assert unseen(lines[0])                    # the gradebook
    assert unseen(lines[1])                    # other submissions
    assert unseen(lines[2]) and unseen(lines[3])  # the reference envelope and the tests
    assert lines[4].endswith("an asset")                            # the asset cache stays readable


def test_without_bubblewrap_grading_goes_on_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setenv("PATH", "/nonexistent")
    sandbox.bwrap_problem.cache_clear()
    monkeypatch.setattr(sandbox, "_warned", False)
    try:
        with caplog.at_level(logging.WARNING, logger="autograder.submission.sandbox"):
            first, second = execute("print('ran')"), execute("print('ran again')")
    finally:
        sandbox.bwrap_problem.cache_clear()
    assert first.status == second.status == run.OK and not first.sandboxed
    warnings = [r for r in caplog.records if "WITHOUT A SANDBOX" in r.getMessage()]
    assert len(warnings) == 1 and "bubblewrap" in warnings[0].getMessage()
    refused = execute("print('ran')", limits=dataclasses.replace(LIMITS, require_sandbox=True))
    sandbox.bwrap_problem.cache_clear()
    assert refused.status == run.CRASHED and "require_sandbox" in refused.reason
