"""Seeds, devices and the active profile: the few things every other module asks about."""
from __future__ import annotations

import random

import numpy as np
import torch

from .profiles import active_profile

__all__ = ["active_profile", "as_device", "default_device", "set_seed"]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run can be repeated exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_device(device) -> torch.device:
    """Accept None, a string or a torch.device."""
    return default_device() if device is None else torch.device(device)
