"""The warm start (zygote.py): kernels forked from a process that has imported the lab's libraries,
each into its own sandbox. It must change nothing a student or a grader could see but the time:
the lab's outputs, the confinement, the end of the run."""
import dataclasses
import json
import subprocess

import pytest
from notebooks import CONFIG, code_notebook

from autograder.course import NbgraderRoot
from autograder.demo.student_view import student_view
from autograder.submission import execute as run
from autograder.submission import kernel, sandbox, zygote
from autograder.submission import warm as warm_start
from autograder.submission.sanitise import prepare

LIMITS = dataclasses.replace(CONFIG.limits, run_extra_code=True)
SMOKE = dataclasses.replace(CONFIG.profiles["smoke"], cell_timeout_s=30, notebook_timeout_s=90)
pytestmark = pytest.mark.skipif(sandbox.bwrap_problem(sandbox.sandbox_uid(LIMITS.sandbox_uid_base)) is not None,
                                reason="bubblewrap unusable here: kernels start cold")

PROBE = r"""
import os, resource, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print("uid", os.getuid(), os.getgid(), os.getgroups())
print("caps", *(status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")))
print("nnp", status["NoNewPrivs"].strip(), "seccomp", status["Seccomp"].strip())
print("limits", *(resource.getrlimit(getattr(resource, n)) for n in ("RLIMIT_NPROC", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CORE")))
print("root", sorted(os.listdir("/")), "cwd", os.getcwd())
print("env", sorted(set(os.environ) - {"PWD"}))
print("dumpable", open("/proc/self/status").read().count("\n") > 0 and len(open("/proc/self/environ", "rb").read()) > 0)
print("shared writable mappings", [l.split()[-1] for l in open("/proc/self/maps") if l.split()[1] == "rw-s"])
try:
    open("/dev/tty").close(); print("a controlling terminal")
except OSError:
    print("no controlling terminal")
"""


def probe(warm: bool) -> tuple[run.Execution, list[str]]:
    e = run.execute(code_notebook(PROBE, grade_ids=("probe",)), profile=SMOKE, limits=LIMITS, warm=warm)
    assert e.status == run.OK, e.reason
    return e, student_view(json.loads(e.notebook))[0]["streams"]["stdout"].splitlines()


def test_a_warm_kernel_is_confined_exactly_as_a_cold_one():
    warm, seen_warm = probe(True)
    cold, seen_cold = probe(False)
    assert warm.warm_start and not cold.warm_start
    cwd = lambda lines: [line.split(" cwd ")[0] for line in lines]  # noqa: E731 - each run has its own folder
    assert cwd(seen_warm) == cwd(seen_cold)
    assert "caps 0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000" in seen_warm


def test_the_lab_gives_the_same_outputs_warm_and_cold(submissions, course_root, course, config, smoke):
    """The whole smoke lab, prepared for grading, run warm and cold: the same outputs in every cell
    (text, plots, the training record), timings aside."""
    name, path = next(iter(submissions.items()))
    prepared = prepare(name, path, NbgraderRoot(course_root, config.course), course.master, smoke, config)
    runs = {warm: run.execute(prepared.notebook, profile=smoke, limits=config.limits, warm=warm) for warm in (True, False)}
    for warm, e in runs.items():
        assert e.status == run.OK and e.warm_start == warm, e.reason
    views = [student_view(json.loads(e.notebook)) for e in runs.values()]
    assert views[0] == views[1]
    assert any(out.get("data", {}).get("image/png") for cell in views[0] for out in cell["outputs"])


def test_a_warm_kernel_that_dies_ends_its_run_at_once():
    """The holder waits for the kernel itself: a killed kernel is a dead kernel, not a timeout,
    also while a child it forked lives on; and nothing of the sandbox outlives the run."""
    code = ("import os, subprocess\nsubprocess.Popen(['sleep', '600'])\n"
            "os.kill(os.getpid(), 9)")
    e = run.execute(code_notebook(code, "print('never')", grade_ids=("dies",)), profile=SMOKE, limits=LIMITS)
    assert e.warm_start and e.status == run.DEAD and e.seconds < SMOKE.cell_timeout_s, (e.status, e.reason, e.seconds)
    uid = sandbox.sandbox_uid(LIMITS.sandbox_uid_base)
    if uid is not None:
        ps = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout.splitlines()
        assert not [line for line in ps if line.split()[0] == str(uid)]


def test_a_broken_zygote_leaves_grading_cold_and_says_why(monkeypatch, caplog):
    monkeypatch.setattr(warm_start, "PRELOAD", ("no_such_module_anywhere",))
    monkeypatch.setattr(warm_start, "_zygote", None)
    monkeypatch.setattr(warm_start, "_zygote_problem", None)
    e = run.execute(code_notebook("print('graded all the same')", grade_ids=("only",)), profile=SMOKE, limits=LIMITS)
    assert e.status == run.OK and not e.warm_start
    assert "graded all the same" in e.notebook
    assert "no_such_module_anywhere" in (warm_start.warm_off() or "")
    assert any("warm start off" in r.message for r in caplog.records)
    warm_start.close_zygote()


def test_a_zygote_refuses_kernels_of_another_environment():
    fixed = kernel.fixed_kernel_env("cpu", 1)
    z = zygote.Zygote(fixed, preload=())
    try:
        with pytest.raises(zygote.WarmStartError, match="OMP_NUM_THREADS"):
            zygote.spawn(z.path, fixed=kernel.fixed_kernel_env("cpu", 2), holder_pid=1, spec={}, env={}, cwd="/",
                         argv=[], fifo="/nonexistent", log_fd=2)
    finally:
        z.close()


def test_the_kernel_environment_splits_into_the_slot_s_part_and_the_run_s(tmp_path):
    env = kernel.kernel_env(tmp_path, SMOKE, "cpu", 1)
    assert zygote.fixed_part(env, kernel.PER_RUN_ENV) == kernel.fixed_kernel_env("cpu", 1)
