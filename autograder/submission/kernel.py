"""The kernel a run starts and the client that drives it: its environment, its command line, the
jupyter_client manager that launches it (cold, or forked warm into the sandbox) and the nbclient
client that keeps no more than a byte budget of its outputs.

nbclient has no hook per output message, so `CappedClient` overrides `output` (public) and
`_update_display_id` (private, with nbclient's `_display_id_map`): a display update replaces
outputs in place without passing through `output`. `tests/grading/test_library_contract.py` holds
the names this relies on, and pyproject.toml pins the nbclient range they were read from.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from alexnet_core.assets import DATA_ENV, cache_dir
from alexnet_core.contract import grade_id
from alexnet_core.profiles import PROFILE_ENV, RECIPE_ENV, recipe_to_json
from autograder.submission import sandbox as sb
from grading_config import Profile

# The grader's environment variables a kernel gets, by exact name; every other one it sees is set
# here. No prefix: a prefix let NVIDIA_API_KEY through with NVIDIA_VISIBLE_DEVICES.
KERNEL_ENV_NAMES = ("PATH", "LANG", "LC_ALL", "TZ", "LD_LIBRARY_PATH")
# The thread counts a kernel honours: set to the runner's share so kernels do not fight for cores.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
KERNEL_ARGS = ("--HistoryManager.enabled=False",)
UNNAMED = "cell "
"""How a cell without a grade id is named in results: 'cell N' (1-based); only a student's own cell has none."""


def cell_name(cell, index: int) -> str:
    """A cell's grade_id, or 'cell N' (1-based) for cells without one."""
    return grade_id(cell) or f"{UNNAMED}{index + 1}"


def fixed_kernel_env(device: str, threads: int) -> dict[str, str]:
    """The part of a kernel's environment that is the same for every run of a runner slot: a few
    names from the grader's, the rest set here (a zygote imports with exactly this)."""
    env = {name: os.environ[name] for name in KERNEL_ENV_NAMES if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env[DATA_ENV] = str(cache_dir())
    for name in THREAD_VARS:
        env[name] = str(max(1, threads))
    env["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1] if device.startswith("cuda") else ""
    # Who the kernel is, for getpass.getuser() (torch's compile cache asks): its uid has no
    # account on the host. (No MPLBACKEND: ipykernel then uses the inline backend, as a student's
    # Jupyter does.)
    env["USER"] = env["LOGNAME"] = sb.KERNEL_USER
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The project's student floor must import inside, installed or editable.
    env["PYTHONPATH"] = os.pathsep.join(str(root) for root in sb.code_roots())
    return env


def kernel_env(workdir: Path, profile: Profile, device: str, threads: int) -> dict[str, str]:
    """The kernel's whole environment: the slot's fixed part and this run's names (PER_RUN_ENV)."""
    env = fixed_kernel_env(device, threads)
    env[PROFILE_ENV] = profile.name
    env[RECIPE_ENV] = recipe_to_json(profile)  # the recipe as this config resolved it, overrides included
    env["HOME"] = env["TMPDIR"] = str(workdir)  # homes inside the kernel's own working folder
    for name, sub in (("JUPYTER_RUNTIME_DIR", ".runtime"), ("IPYTHONDIR", ".ipython"), ("MPLCONFIGDIR", ".mpl")):
        env[name] = str(workdir / sub)
    return env


PER_RUN_ENV = (PROFILE_ENV, RECIPE_ENV, "HOME", "TMPDIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR")
"""The names `kernel_env` sets per run (read by alexnet_core when called, never at import)."""



def kernel_manager_class():
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        """A kernel manager whose kernel is this interpreter's ipykernel, wrapped by `wrap` (the
        sandbox and the limits), reading a connection file its unprivileged uid may read."""

        wrap = staticmethod(lambda cmd: cmd)
        owner: int | None = None
        max_message = 0
        launch = None
        """A `warm.WarmLaunch`: fork the kernel from the zygote into the sandbox once it starts."""
        log_fd: int = 2

        def format_kernel_cmd(self, extra_arguments=None):
            return self.wrap([sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *KERNEL_ARGS])

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            await super()._async_launch_kernel(kernel_cmd, **kw)
            if self.launch is not None:
                self.launch.start(self.provisioner.process, self.connection_file, self.log_fd)

        def client(self, **kwargs):
            kc = super().client(**kwargs)
            if self.max_message:
                # A message past this is refused by ZeroMQ before it is read into memory. (The
                # client makes its own context, so the option is set on that one.)
                import zmq

                kc.context.setsockopt(zmq.MAXMSGSIZE, self.max_message)
            return kc

        def write_connection_file(self, **kwargs):
            super().write_connection_file(**kwargs)
            if self.owner is not None:
                os.chown(self.connection_file, self.owner, self.owner)

    return SandboxedKernelManager


def capped_client_class():
    from nbclient import NotebookClient
    from nbformat.v4 import new_output

    class CappedClient(NotebookClient):
        """nbclient that keeps no more than a byte budget of outputs, whatever their MIME type,
        so a flood of output, display updates included, cannot fill the grader's memory."""

        output_budget = 0
        truncated: list = []

        def _charge(self, content, cell_index: int) -> bool:
            size = len(json.dumps(content, default=str))
            if size > self.output_budget:  # dropped; smaller outputs later may still fit
                name = cell_name(self.nb.cells[cell_index], cell_index)
                if name not in self.truncated:
                    self.truncated.append(name)
                    self.nb.cells[cell_index].setdefault("outputs", []).append(new_output(
                        "stream", name="stderr", text="[autograder: output cut here, over the output size limit]\n"))
                return False
            self.output_budget -= size
            return True

        def output(self, outs, msg, display_id, cell_index):
            if not self._charge(msg.get("content", {}), cell_index):
                return None
            return super().output(outs, msg, display_id, cell_index)

        def _update_display_id(self, display_id, msg):
            # An update replaces outputs in place; it is charged like a new output all the same,
            # to the first cell showing that display (nbclient maps display id -> {cell: outputs}).
            cell_index = next(iter(self._display_id_map.get(display_id, {})), None)
            if cell_index is not None and not self._charge(msg.get("content", {}), cell_index):
                return None
            return super()._update_display_id(display_id, msg)

    return CappedClient
