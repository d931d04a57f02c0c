"""A student cell that attacks the grading machine, with `limits.run_extra_code` on.

CI runs these as root, as a GPU box or a container would: the sandbox must then hold without
any help from the grader's own uid. Each attack runs in a real kernel in the real sandbox.
"""
import dataclasses
import json
import os
import socket
import threading
from pathlib import Path

import nbformat
import pytest
from notebooks import CONFIG, code_notebook

from alexnet_core.contract import PLOT_MIME, TRAJECTORY_MIME
from autograder.submission import execute as run
from autograder.submission import kernel, sandbox

# The address-space cap leaves room for torch's mappings (3.5 GB here): kernels start warm, forked
# from a zygote that has imported it (zygote.py), as they do when grading.
LIMITS = dataclasses.replace(CONFIG.limits, memory_mb=5000, output_mb=0.5, run_extra_code=True, processes=64)
SMOKE = dataclasses.replace(CONFIG.profiles["smoke"], cell_timeout_s=20, notebook_timeout_s=60)
pytestmark = pytest.mark.skipif(sandbox.bwrap_problem(sandbox.sandbox_uid(LIMITS.sandbox_uid_base)) is not None,
                                reason="bubblewrap unusable here")


def execute(*sources, limits=LIMITS, **kw):
    return run.execute(code_notebook(*sources, grade_ids=("first",)), profile=SMOKE, limits=limits, **kw)


def printed(execution) -> list[str]:
    nb = nbformat.reads(execution.notebook, as_version=4)
    return ["".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream") for c in nb.cells]


ESCALATE = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, rc):
    print(name, "ok" if rc == 0 else "refused")
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print("uid", os.getuid(), "euid", os.geteuid())
print("caps", status["CapEff"].strip(), status["CapBnd"].strip(), "nnp", status["NoNewPrivs"].strip())
attempt("remount /usr rw", libc.mount(b"none", b"/usr", None, 32 | 4096, None))
attempt("unmount /tmp", libc.umount2(b"/tmp", 2))
attempt("new user namespace", libc.unshare(0x10000000))
attempt("new mount namespace", libc.unshare(0x00020000))
attempt("setuid 0", libc.setuid(0))
attempt("chroot", libc.chroot(b"/"))
try:
    open("/usr/planted", "w"); print("write /usr ok")
except OSError:
    print("write /usr refused")
"""


@pytest.mark.parametrize("warm", [True, False], ids=["warm start", "cold start"])
def test_a_student_cell_gets_no_privilege_back(warm):
    e = execute(ESCALATE, warm=warm)
    assert e.warm_start == warm
    out = printed(e)[0].splitlines()
    uid = int(out[0].split()[1])
    if os.geteuid() == 0:
        assert uid != 0, "the kernel must not be root when the grader is"
    assert out[1] == "caps 0000000000000000 0000000000000000 nnp 1"
    assert all(line.endswith("refused") for line in out[2:]), out


def test_the_host_outside_the_allowlist_does_not_exist_inside(tmp_path, repo, course_root):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    probe = ("import os\n"
             f"for p in {[str(secret), str(repo / 'source'), str(repo / 'tests'), str(course_root), '/root', '/home', '/run', '/var']!r}:\n"
             "    print(p, os.path.exists(p) and sorted(os.listdir(p)) if os.path.isdir(p) else os.path.exists(p))")
    lines = printed(execute(probe))[0].splitlines()
    for line in lines:
        path, seen = line.split(" ", 1)
        # Gone, or only the empty folders that lead to something the kernel needs (the venv, the asset cache).
        assert seen in ("False", "[]") or path in ("/root", "/home"), line
        if path in ("/root", "/home") and seen != "False":
            assert all(name.startswith(".") or name in ("work",) for name in eval(seen)), line


def test_no_socket_of_the_host_answers(tmp_path):
    # A listening socket where the kernel can see it (the asset cache), writable by anyone, and an
    # abstract one: neither may get a connection.
    cache = sandbox_cache()
    path = cache / "planted.sock"
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    os.chmod(path, 0o777)
    server.listen(1)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0alexnet-lab-test")
    abstract.listen(1)
    accepted = []

    def accept(sock):
        sock.settimeout(15)
        try:
            accepted.append(sock.accept())
        except OSError:
            pass

    threads = [threading.Thread(target=accept, args=(s,)) for s in (server, abstract)]
    for t in threads:
        t.start()
    try:
        code = ("import socket\n"
                f"for target in ({str(path)!r}, '\\0alexnet-lab-test'):\n"
                "    s = socket.socket(socket.AF_UNIX)\n"
                "    try:\n        s.connect(target); print('connected')\n"
                "    except OSError as exc:\n        print('refused', exc.errno)")
        e = execute(code)
    finally:
        for s in (server, abstract):
            s.close()
        for t in threads:
            t.join()
        path.unlink(missing_ok=True)
    assert printed(e)[0].split("\n")[:2] == ["refused 1", "refused 1"] or "connected" not in printed(e)[0]
    assert not accepted


def sandbox_cache():
    from alexnet_core.assets import cache_dir

    cache_dir().mkdir(parents=True, exist_ok=True)
    return cache_dir()


def test_the_environment_is_an_exact_list_of_names(monkeypatch):
    for name in ("NVIDIA_API_KEY", "LANGSMITH_API_KEY", "CUDA_SECRET_TOKEN", "ALEXNET_LAB_TOKEN", "OMP_SECRET",
                 "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "leaked")
    e = execute("import os\nprint(sorted(os.environ))")
    seen = set(eval(printed(e)[0]))
    allowed = set(kernel.KERNEL_ENV_NAMES) | set(kernel.THREAD_VARS) | {
        "ALEXNET_LAB_PROFILE", "ALEXNET_LAB_RECIPE", "ALEXNET_LAB_DATA", "CUDA_VISIBLE_DEVICES", "HOME", "TMPDIR",
        "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "USER", "LOGNAME",
        # set by the kernel itself or by bubblewrap, not passed from the grader
        "PWD", "LC_CTYPE", "JPY_PARENT_PID", "JPY_SESSION_NAME", "PYDEVD_USE_FRAME_EVAL", "MPLBACKEND",
        "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "GIT_PAGER", "TERM", "PYDEVD_IPYTHON_COMPATIBLE_DEBUGGING"}
    assert seen <= allowed, seen - allowed
    assert "leaked" not in printed(execute("import os\nprint(list(os.environ.values()))"))[0]


def test_a_fork_bomb_stops_at_the_process_limit():
    bomb = ("import os\ncount = 0\ntry:\n    for _ in range(10_000):\n"
            "        if os.fork() == 0:\n            import time; time.sleep(3); os._exit(0)\n        count += 1\n"
            "except OSError:\n    pass\nprint('forked', count)")
    e = execute(bomb, "print('kernel alive')")
    forked = int(printed(e)[0].split()[1])
    assert forked < LIMITS.processes
    assert printed(e)[1] == "kernel alive\n"


def test_nothing_the_kernel_writes_becomes_the_result():
    # The kernel finds every folder it can write (its cwd, the socket folder named in its own
    # command line) and leaves a forged executed notebook and status there, then a cell raises.
    forge = ("import json, os, sys\n"
             "fake = {'cells': [], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}\n"
             "folders = {os.getcwd(), os.path.dirname(sys.argv[sys.argv.index('-f') + 1])}\n"
             "for folder in folders:\n"
             "    for name in ('executed.ipynb', 'execution.json', 'result.json', 'graded.json'):\n"
             "        try:\n"
             "            open(os.path.join(folder, name), 'w').write(json.dumps(dict(fake, status='ok')))\n"
             "        except OSError:\n            pass\n"
             "print('forged in', len(folders), 'folders')")
    e = execute(forge, "raise ValueError('the real run failed here')")
    assert e.status == run.ERROR and e.errors[0]["ename"] == "ValueError"
    cells = nbformat.reads(e.notebook, as_version=4).cells
    assert len(cells) == 2 and "forged in" in printed(e)[0]


@pytest.mark.parametrize("mime", [TRAJECTORY_MIME, PLOT_MIME, "text/html", "image/png"])
def test_the_output_cap_holds_for_every_mime_type(mime):
    flood = ("from IPython.display import display\n"
             f"for i in range(400):\n    display({{{mime!r}: 'x' * 20_000}}, raw=True)")
    e = execute(flood)
    assert len(e.notebook) < 1.2 * LIMITS.output_mb * 1024 * 1024
    assert e.truncated == ["first"]


def test_display_updates_count_against_the_cap():
    flood = ("from IPython.display import display, HTML\n"
             "handle = display(HTML('start'), display_id=True)\n"
             "for i in range(300):\n    handle.update(HTML('y' * 20_000 + str(i)))\n"
             "print('done')")
    e = execute(flood)
    assert len(e.notebook) < 1.2 * LIMITS.output_mb * 1024 * 1024
    assert e.truncated == ["first"]


def test_one_huge_message_is_dropped_before_it_is_read():
    e = execute("from IPython.display import display\ndisplay({'text/plain': 'z' * 50_000_000}, raw=True)\nprint('after')",
                "print('next cell')")
    assert len(e.notebook) < 1.2 * LIMITS.output_mb * 1024 * 1024
    assert e.status == run.OUTPUT and e.failed_cell == "first" and "closes the output channel" in e.reason


def test_the_run_leaves_nothing_behind(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    monkeypatch.chdir(tmp_path)  # a relative scratch folder, as `grade --out grading` gives
    e = execute("open('left.txt', 'w').write('x')\nprint('ok')", scratch=Path("scratch"))
    assert e.status == run.OK and e.sandboxed
    assert list(scratch.iterdir()) == []
    json.loads(e.notebook)


def test_the_kernel_knows_who_it_is_without_a_host_account():
    # torch's compile cache calls getpass.getuser(); a library may ask pwd directly.
    e = execute("import getpass, os, pwd\nprint(getpass.getuser(), pwd.getpwuid(os.getuid()).pw_name)\n"
                "print(len(pwd.getpwall()))")
    lines = printed(e)[0].splitlines()
    assert lines[0] == f"{sandbox.KERNEL_USER} {sandbox.KERNEL_USER}" or os.geteuid() != 0
    if os.geteuid() == 0:
        assert int(lines[1]) == 3  # root, nobody, the kernel: the host's accounts are not listed
