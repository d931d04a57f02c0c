"""A small synthetic stand-in for CIFAR-10, written in CIFAR-10's own on-disk format.

The smoke profile trains on it so tests and CI run in seconds without the real data. Each class
is a coloured object whose hue is the class (ten hues round the colour wheel, jittered so that
neighbouring classes overlap a little) on a cluttered, washed-out background at a random place and
size. Colour survives random crops and flips, so the lab's augmentation keeps it learnable, while
the clutter and the overlap make the network need several epochs: the trajectory looks like a real
one (chance before training, rising, not saturated after one epoch).

Marked synthetic twice: a `SYNTHETIC` file in the batches folder and `synthetic: True` in every
record, so nothing can mistake it for CIFAR-10.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .assets import CIFAR_FOLDER, cifar_folder, cifar_tensor_cache, synthetic_root
from .profiles import Recipe

MARKER = "SYNTHETIC"
GENERATOR_VERSION = 1
LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]
TRAIN_BATCHES = 5
CHUNK = 8192  # images generated at once

# Difficulty knobs (see the module docstring): tuned so the smoke trajectory has the lab's shape.
HUE_JITTER = 0.035        # std of the object's hue around its class hue (classes are 0.1 apart)
OBJECT_RADIUS = (5, 11)   # pixels
BACKGROUND_SAT = 0.35     # background colours are this saturated at most
NOISE_STD = 30.0          # per-pixel noise, in 0-255 units


def _hsv_to_rgb(h, s, v):
    """Vectorised HSV -> RGB, all in [0, 1]; arrays broadcast."""
    i = np.floor(h * 6.0).astype(int) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    rgb = [np.choose(i, [c[k] for c in choices]) for k in range(3)]
    return np.stack(rgb, axis=-1)


def make_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """N x 3072 uint8 images (CIFAR's channel-major rows) for the given labels."""
    n = len(labels)
    if n > CHUNK:  # bound memory for full-size sets (float64 temporaries are 25 kB per image)
        return np.concatenate([make_images(labels[i:i + CHUNK], rng) for i in range(0, n, CHUNK)])
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)

    # Background: a washed-out colour gradient, different for every image.
    bg_h = rng.random((n, 2))
    bg_s = rng.random((n, 2)) * BACKGROUND_SAT
    bg_v = 0.3 + 0.6 * rng.random((n, 2))
    c0 = _hsv_to_rgb(bg_h[:, 0], bg_s[:, 0], bg_v[:, 0])[:, None, None, :]
    c1 = _hsv_to_rgb(bg_h[:, 1], bg_s[:, 1], bg_v[:, 1])[:, None, None, :]
    angle = rng.random(n) * 2 * np.pi
    ramp = (np.cos(angle)[:, None, None] * (xx - 15.5) + np.sin(angle)[:, None, None] * (yy - 15.5)) / 45 + 0.5
    img = c0 + (c1 - c0) * ramp[..., None]

    # Object: an ellipse in the class hue at a random place and size.
    hue = (labels / 10.0 + rng.normal(0, HUE_JITTER, n)) % 1.0
    sat = 0.55 + 0.45 * rng.random(n)
    val = 0.45 + 0.55 * rng.random(n)
    colour = _hsv_to_rgb(hue, sat, val)[:, None, None, :]
    cy, cx = rng.uniform(9, 23, (2, n))
    ry, rx = rng.uniform(*OBJECT_RADIUS, (2, n))
    inside = ((yy - cy[:, None, None]) / ry[:, None, None]) ** 2 + ((xx - cx[:, None, None]) / rx[:, None, None]) ** 2 <= 1
    img = np.where(inside[..., None], colour, img)

    img = img * 255 + rng.normal(0, NOISE_STD, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img.transpose(0, 3, 1, 2).reshape(n, 3072)


def _write_batch(path: Path, label: str, data: np.ndarray, labels: np.ndarray) -> None:
    record = {
        "batch_label": label,
        "labels": [int(v) for v in labels],
        "data": data,
        "filenames": [f"synthetic_{label.replace(' ', '_')}_{i:05d}.png" for i in range(len(labels))],
        "synthetic": True,
    }
    with open(path, "wb") as f:
        pickle.dump(record, f, protocol=2)


DATA_SEED = 42
"""The synthetic images are the course's data, the same for every student (whose seed changes the
model, the data order and the augmentation, not the data): built once, whatever the student seed."""


def spec(profile: Recipe) -> dict:
    """What a built dataset must have been built for: any difference means rebuild."""
    return {"synthetic": True, "generator_version": GENERATOR_VERSION, "profile": profile.name,
            "seed": DATA_SEED, "train_images": profile.train_images, "test_images": profile.test_images}


def is_built(profile: Recipe) -> bool:
    """Whether the cache holds the synthetic set of `profile` as this generator writes it."""
    marker = synthetic_root(profile.name) / CIFAR_FOLDER / MARKER
    try:
        return json.loads(marker.read_text()) == spec(profile)
    except (OSError, ValueError):
        return False  # missing, unreadable or damaged: rebuild


def dataset_ready(profile: Recipe) -> bool:
    """Whether the dataset `profile` trains on is in the cache, ready to read without writing to it.

    The one readiness rule: `ensure_synthetic` builds when this is False, and the grader builds
    before sandboxing (where the cache is read-only) when this is False. No torch is imported.
    """
    if profile.synthetic:
        return is_built(profile)
    # Real CIFAR-10 is ready once its tensor cache is written beside it: without the cache, every
    # read-only kernel would verify the MD5s and read the pickles again.
    return cifar_folder().is_dir() and cifar_tensor_cache().is_file()


def write_dataset(folder: Path, profile: Recipe) -> None:
    """Write `cifar-10-batches-py/` for `profile` into `folder` (which must not exist yet)."""
    rng = np.random.default_rng(DATA_SEED)
    batches = folder / CIFAR_FOLDER
    batches.mkdir(parents=True)
    train_labels = np.arange(profile.train_images) % 10
    rng.shuffle(train_labels)
    train = make_images(train_labels, rng)
    for i, (data, labels) in enumerate(zip(np.array_split(train, TRAIN_BATCHES),
                                          np.array_split(train_labels, TRAIN_BATCHES)), 1):
        _write_batch(batches / f"data_batch_{i}", f"synthetic training batch {i} of {TRAIN_BATCHES}",
                     data, labels)
    test_labels = np.arange(profile.test_images) % 10
    rng.shuffle(test_labels)
    _write_batch(batches / "test_batch", "synthetic testing batch 1 of 1",
                 make_images(test_labels, rng), test_labels)
    with open(batches / "batches.meta", "wb") as f:
        pickle.dump({"label_names": LABEL_NAMES, "num_cases_per_batch": len(train) // TRAIN_BATCHES,
                     "num_vis": 3072, "synthetic": True}, f, protocol=2)
    (batches / MARKER).write_text(json.dumps(spec(profile), indent=1) + "\n")


def ensure_synthetic(profile: Recipe) -> Path:
    """The synthetic `cifar-10-batches-py/` folder for `profile`, built (atomically) if missing or stale."""
    if not profile.synthetic:
        raise ValueError(f"profile {profile.name!r} trains on real CIFAR-10, not on synthetic data: "
                         "`alexnet-lab assets fetch` gets the real data")
    root = synthetic_root(profile.name)
    marker = root / CIFAR_FOLDER / MARKER
    if is_built(profile):
        return root / CIFAR_FOLDER
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}-"))
    try:
        write_dataset(tmp / "data", profile)
        if root.exists():
            shutil.rmtree(root)  # stale: another generator version, seed or size
        try:
            os.replace(tmp / "data", root)
        except OSError:
            # Another process built it at the same moment; the data are the same (same seed).
            if not marker.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root / CIFAR_FOLDER
