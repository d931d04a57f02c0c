"""Test-wide settings: the smoke profile, a private asset cache, no display.

Set at import time (before any test imports alexnet_core) so that Jupyter kernels started by
the tests inherit the same environment: the kernel, the CLI and the tests agree on the profile.
"""
import os
import tempfile
from pathlib import Path

import pytest

os.environ["ALEXNET_LAB_PROFILE"] = "smoke"
os.environ.setdefault("ALEXNET_LAB_DATA", tempfile.mkdtemp(prefix="alexnet-lab-test-data-"))
os.environ["MPLBACKEND"] = "Agg"
# Two cores: kernels started by tests use one thread each so parallel runners do not fight.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def asset_cache() -> Path:
    return Path(os.environ["ALEXNET_LAB_DATA"])
