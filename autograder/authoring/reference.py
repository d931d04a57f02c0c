"""`alexnet-lab reference`: train the master's model over many seeds; write the envelope.

The envelope is what a correct run of the notebook may look like: per epoch, the bounds an honest
seed stays inside but with a stated, tiny rate (HONEST_ALARM_TARGET in all, split over the epochs'
sides), set by a conservative model of the runs' tails (`coverage.py`) and never narrower than the
observed extremes widened by the profile's margin. Every student runs their own seed (derived from
their id), so the seeds stand for a class: the fixed default seed (whose run the grader also
recognises in a submission) and seeds drawn the way student seeds are. The chance band (before
training) comes from the same runs. The envelope is a summary (bounds, quantiles, mean and sd,
the seed count, the tails' fits and a few example runs, the default seed's first), stored next to
the master, one JSON file per profile, and committed, so grading never trains references itself.

Thousands of seeds: worker processes of one torch thread each (`jobs`), and a log of finished
runs (`log`, one JSON line per seed) that a later build reads instead of training them again.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import alexnet_core
from alexnet_core.identity import derive_seed
from autograder.authoring import coverage
from autograder.course import CourseFolder
from autograder.errors import LabError
from autograder.files import atomic_write
from grading_config import Profile

# Profile settings an envelope depends on: a change to any of them makes it stale.
ENVELOPE_KEYS = ("epochs", "lr", "batch_size", "train_images", "test_images", "synthetic")
HONEST_ALARM_TARGET = 1e-4
"""The largest modelled rate at which an honest seed may leave the envelope (any epoch, either side,
the chance band or the floor): a runner alarm should mean the runner, not the seed."""
EXAMPLE_RUNS = 12
"""Runs kept whole in the envelope (the default seed's first, for `crosscheck.default_run`)."""
QUANTILES = (0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999)
MIN_MODELLED_SEEDS = 2 * (coverage.MIN_TAIL + 1)
"""Fewer runs than this: no tail model, the envelope is the extremes widened by the margin."""


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


def _clip(value: float) -> float:
    return round(max(0.0, min(100.0, value)), 2)


def _quantile(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values, linearly interpolated."""
    at = q * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def side_target(epochs: int) -> float:
    """The modelled rate allowed to each side of each epoch: the target split over them (epoch 0's
    two sides count once: the chance band and the envelope are bounds on the same number)."""
    return HONEST_ALARM_TARGET / (2 * (epochs + 1))


def envelope(runs: list[list[float]], margin: float, chance_margin: float | None = None) -> dict:
    """Per-epoch bounds: the extremes over the runs, with enough runs moved out to the tail model's
    bound for `side_target`, then widened by `margin` (clipped to 0-100); the chance band likewise
    with `chance_margin`. With the per-epoch statistics and the tails' fits."""
    columns = [sorted(col) for col in zip(*runs)]
    low, high = [c[0] for c in columns], [c[-1] for c in columns]
    data = {"min": low, "max": high}
    # The edges: the observed extremes, or past them the tail model's bound for side_target.
    edge_low, edge_high = list(low), list(high)
    if len(runs) >= MIN_MODELLED_SEEDS:
        rate = side_target(len(columns) - 1)
        tails = [{side: coverage.fit_tail(col, side) for side in ("lower", "upper")} for col in columns]
        edge_low = [min(v, t["lower"].bound(rate)) for v, t in zip(low, tails)]
        edge_high = [max(v, t["upper"].bound(rate)) for v, t in zip(high, tails)]
        data["tails"] = [{side: tail.summary() for side, tail in t.items()} for t in tails]
    # The margin covers what the seeds cannot show (CPU against GPU arithmetic, a model fitted on
    # a few hundred seeds); bench_false_reject.py checks the result on seeds the envelope never saw.
    chance = margin if chance_margin is None else chance_margin
    data.update({
        "lower": [_clip(v - margin) for v in edge_low], "upper": [_clip(v + margin) for v in edge_high],
        "chance_band": [_clip(edge_low[0] - chance), _clip(edge_high[0] + chance)],
        "mean": [round(statistics.fmean(c), 2) for c in columns],
        "sd": [round(statistics.stdev(c), 2) if len(c) > 1 else 0.0 for c in columns],
        "quantiles": {str(q): [round(_quantile(c, q), 2) for c in columns] for q in QUANTILES},
        "median_run": [round(_quantile(c, 0.5), 2) for c in columns],
    })
    return data


def honest_alarm_rate(runs: list[list[float]], reference: dict, floor: float) -> dict:
    """The modelled upper bound on the rate at which an honest seed alarms against `reference`
    (any side of any epoch, the chance band, the final floor; a union bound), per side and in all.
    Each side is judged at the bound the check really applies there (the tighter of the envelope
    and the chance band before training, of the envelope and the floor at the end)."""
    columns = [list(col) for col in zip(*runs)]
    last = len(columns) - 1
    per_epoch = []
    for e, col in enumerate(columns):
        lo, hi = reference["lower"][e], reference["upper"][e]
        if e == 0:
            lo, hi = max(lo, reference["chance_band"][0]), min(hi, reference["chance_band"][1])
        if e == last:
            lo = max(lo, floor)
        # An accuracy is a share of the test images: none lies below 0 % or above 100 %.
        per_epoch.append([0.0 if lo <= 0.0 else coverage.side_rate(col, lo, "lower"),
                          0.0 if hi >= 100.0 else coverage.side_rate(col, hi, "upper")])
    total = sum(sum(sides) for sides in per_epoch)
    return {"target": HONEST_ALARM_TARGET, "modelled": float(f"{total:.3g}"), "floor": floor,
            "per_epoch": [[float(f"{r:.3g}") for r in sides] for sides in per_epoch]}


# -- training many seeds -------------------------------------------------------------------
def _one_thread() -> None:
    """A worker's initialiser: one torch thread, so `jobs` workers use `jobs` cores."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    _torch().set_num_threads(1)


def _train(task: tuple) -> tuple[int, list[float], float]:
    profile, seed, device = task
    started = time.monotonic()
    return seed, train_seed(profile, seed, device), time.monotonic() - started


def read_log(path: Path, profile: Profile) -> dict[int, list[float]]:
    """Runs already trained, from a log `train_runs` wrote: {seed: accuracies}. A line cut short (a
    build killed mid-write) is skipped and its seed trained again; a run of another recipe is refused."""
    runs = {}
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return runs
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
            seed, accuracy = int(entry["seed"]), [float(a) for a in entry["accuracy"]]
        except (ValueError, KeyError, TypeError):
            continue
        other = [k for k in ENVELOPE_KEYS if entry.get(k) != getattr(profile, k)]
        if other:
            raise LabError(f"{path}: line {number} was trained with "
                           f"{', '.join(f'{k} {entry.get(k)}' for k in other)}, but the {profile.name} profile has "
                           f"{', '.join(f'{k} {getattr(profile, k)}' for k in other)}; give another --log file")
        runs[seed] = accuracy
    return runs


def train_runs(profile: Profile, seeds: list[int], jobs: int = 1, log: Path | None = None,
               progress=None, device=None) -> dict[int, list[float]]:
    """{seed: accuracies} for every seed: read from `log` where it has them, the rest trained in `jobs`
    worker processes (in this process when 1) and appended to `log` as each finishes."""
    device = device or alexnet_core.default_device()  # the GPU where there is one, as the notebook does
    logged = read_log(log, profile) if log else {}
    runs = {s: logged[s] for s in seeds if s in logged}
    todo = [s for s in seeds if s not in runs]
    if progress is not None and runs:
        progress(f"{len(runs)} of {len(seeds)} seeds read from {log}; training {len(todo)}")
    recipe = {k: getattr(profile, k) for k in ENVELOPE_KEYS}
    every = max(1, len(todo) // 100)  # thousands of seeds: a line per percent, not one per seed
    started = time.monotonic()

    def finished(number: int, seed: int, accuracy: list[float], seconds: float) -> None:
        runs[seed] = accuracy
        if log:
            with open(log, "a") as f:
                f.write(json.dumps({"seed": seed, "accuracy": accuracy, "seconds": round(seconds, 2), **recipe}) + "\n")
        if progress is not None and (number % every == 0 or number == len(todo)):
            left = (time.monotonic() - started) / number * (len(todo) - number)
            progress(f"seed {number}/{len(todo)} ({seed}): {accuracy[0]} -> {accuracy[-1]} % in {seconds:.0f} s "
                     f"on {device}" + (f", about {left / 60:.0f} min left" if number < len(todo) else ""))

    if jobs <= 1:
        for number, seed in enumerate(todo, 1):
            finished(number, *_train((profile, seed, device)))
        return {s: runs[s] for s in seeds}
    import multiprocessing  # spawned workers: a fork of a process that has run torch is not safe

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread) as pool:
        done = pool.map(_train, [(profile, s, device) for s in todo], chunksize=1)
        for number, outcome in enumerate(done, 1):
            finished(number, *outcome)
    return {s: runs[s] for s in seeds}


def build_reference(course: CourseFolder, profile: Profile, seeds: int | None = None,
                    out: Path | None = None, progress=None, jobs: int = 1, log: Path | None = None) -> Path:
    """Train `seeds` seeds (default: the profile's reference_seeds) and write the envelope JSON.
    `progress`: called with a line as seeds finish (a full-size envelope takes an hour on a CPU);
    `jobs`: worker processes; `log`: a file of finished runs, read first and appended to."""
    count = seeds or profile.reference_seeds
    if count < 1:
        raise LabError(f"--seeds {count}: give at least 1")
    if jobs < 1:
        raise LabError(f"--jobs {jobs}: give at least 1")
    device = alexnet_core.default_device()
    seed_list = reference_seeds(profile, count)
    trained = train_runs(profile, seed_list, jobs=jobs, log=log, progress=progress, device=device)
    runs = [trained[s] for s in seed_list]
    data = {
        "profile": profile.name, **{k: getattr(profile, k) for k in ENVELOPE_KEYS}, "seed_count": len(runs),
        # A few whole runs (the default seed's first): thousands would make every job's copy large.
        "seeds": seed_list[:EXAMPLE_RUNS], "runs": runs[:EXAMPLE_RUNS],
        "margin": profile.envelope_margin, "chance_margin": profile.chance_margin,
        **envelope(runs, profile.envelope_margin, profile.chance_margin),
        "device": str(device), "torch": _torch().__version__,
        "threads": 1 if jobs > 1 else _torch().get_num_threads(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if len(runs) >= MIN_MODELLED_SEEDS:
        data["honest_alarm"] = honest_alarm_rate(runs, data, profile.final_floor)
        if progress is not None:
            progress(f"honest alarm rate, modelled upper bound: {data['honest_alarm']['modelled']:.2g} "
                     f"(target {HONEST_ALARM_TARGET:g})")
            floor_rate = data["honest_alarm"]["per_epoch"][-1][0]
            if profile.final_floor > data["lower"][-1] and floor_rate > side_target(profile.epochs):
                progress(f"the {profile.name} profile's final_floor {profile.final_floor:g} % lies inside the honest "
                         f"runs' tail (modelled rate {floor_rate:.2g}): set it at or below the envelope's own final "
                         f"bound, {data['lower'][-1]:g} %")
    path = Path(out) if out else course.envelope(profile.name)
    atomic_write(path, json.dumps(data, indent=1) + "\n")
    return path


def _torch():
    """torch, imported when an envelope is built: the coordinator reads envelopes without it (1.8 s)."""
    import torch

    return torch
