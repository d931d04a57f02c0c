"""`alexnet-lab reference`: train the master's model over several seeds; write the envelope.

The envelope is what a correct run of the notebook may look like: per epoch, the lowest and
highest test accuracy over the seeds, widened by the profile's margin (seed noise, CPU vs GPU
arithmetic). Every student runs their own seed (derived from their id), so the seeds stand for a
class: the fixed default seed (whose run the grader also recognises in a submission) and seeds
drawn the way student seeds are. The chance band (before training) comes from the same runs.
It is stored next to the master, one JSON file per profile, and committed, so grading never
trains references itself.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import time
from pathlib import Path

import alexnet_core
from alexnet_core.identity import derive_seed
from autograder.course import CourseFolder
from autograder.errors import LabError
from autograder.files import atomic_write
from grading_config import Profile

# Profile settings an envelope depends on: a change to any of them makes it stale.
ENVELOPE_KEYS = ("epochs", "lr", "batch_size", "train_images", "test_images", "synthetic")


def load_reference(course: CourseFolder, profile: Profile) -> dict:
    """The envelope of `profile`; LabError naming the command that builds it when missing or stale."""
    path = course.envelope(profile.name)
    rebuild = f"`alexnet-lab reference --profile {profile.name}`"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(f"{path}: no reference envelope for profile {profile.name!r}; build it with {rebuild}") from None
    except ValueError:
        raise LabError(f"{path}: not valid JSON; rebuild it with {rebuild}") from None
    stale = [k for k in ENVELOPE_KEYS if data.get(k) != getattr(profile, k)]
    if stale:
        built = ", ".join(f"{k} {data.get(k)}" for k in stale)
        now = ", ".join(f"{k} {getattr(profile, k)}" for k in stale)
        raise LabError(f"{path}: built for {built}, but the {profile.name} profile now has {now}; rebuild it "
                       f"with {rebuild}")
    return data


def train_seed(profile: Profile, seed: int, device) -> list[float]:
    """Test accuracy before training and after every epoch, for one seed, as the notebook trains."""
    seeded = dataclasses.replace(profile, seed=seed)
    alexnet_core.set_seed(seed)
    # The data are the course's (a synthetic set has its own fixed seed): only the initial weights,
    # the batch order, augmentation and dropout change with the seed, as in a student's notebook.
    train_loader, test_loader = alexnet_core.get_cifar10_dataloaders(device=device, profile=seeded)
    model = alexnet_core.load_untrained_alexnetmini(device, seed=seed)
    _, trajectory = alexnet_core.train(model, train_loader, test_loader, device, profile=seeded)
    return [float(a) for a in trajectory["accuracy"]]


def reference_seeds(profile: Profile, count: int) -> list[int]:
    """The default seed, then `count - 1` seeds drawn as student seeds are (a hash of an id)."""
    return [profile.seed] + [derive_seed("alexnet-lab reference", str(i)) for i in range(1, count)]


def chance_band(runs: list[list[float]], margin: float) -> list[float]:
    """Before-training accuracies over the runs, widened by `margin` (clipped to 0-100)."""
    first = [run[0] for run in runs]
    return [round(max(0.0, min(first) - margin), 2), round(min(100.0, max(first) + margin), 2)]


def envelope(runs: list[list[float]], margin: float) -> dict:
    """Per-epoch min/max over the runs, and the same widened by `margin` (clipped to 0-100)."""
    low = [min(col) for col in zip(*runs)]
    high = [max(col) for col in zip(*runs)]
    return {"min": low, "max": high,
            "lower": [round(max(0.0, v - margin), 2) for v in low],
            "upper": [round(min(100.0, v + margin), 2) for v in high]}


def build_reference(course: CourseFolder, profile: Profile, seeds: int | None = None,
                    out: Path | None = None, progress=None) -> Path:
    """Train `seeds` seeds (default: the profile's reference_seeds) and write the envelope JSON.
    `progress`: called with a line after each seed (a full-size envelope takes an hour on a CPU)."""
    chosen = profile
    count = seeds or chosen.reference_seeds
    if count < 1:
        raise LabError(f"--seeds {count}: give at least 1")
    seed_list = reference_seeds(chosen, count)
    device = alexnet_core.default_device()  # the GPU where there is one, as the notebook does
    runs = []
    for number, seed in enumerate(seed_list, 1):
        started = time.monotonic()
        runs.append(train_seed(chosen, seed, device))
        if progress is not None:
            progress(f"seed {number}/{len(seed_list)} ({seed}): {runs[-1][0]} -> {runs[-1][-1]} % "
                     f"in {time.monotonic() - started:.0f} s on {device}")
    data = {
        "profile": chosen.name, **{k: getattr(chosen, k) for k in ENVELOPE_KEYS}, "seeds": seed_list,
        "margin": chosen.envelope_margin, "runs": runs, **envelope(runs, chosen.envelope_margin),
        "chance_margin": chosen.chance_margin, "chance_band": chance_band(runs, chosen.chance_margin),
        "device": str(device), "torch": _torch().__version__,
        "threads": _torch().get_num_threads(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    path = Path(out) if out else course.envelope(chosen.name)
    atomic_write(path, json.dumps(data, indent=1) + "\n")
    return path


def _torch():
    """torch, imported when an envelope is built: the coordinator reads envelopes without it (1.8 s)."""
    import torch

    return torch
