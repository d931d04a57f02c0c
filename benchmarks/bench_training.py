"""Training throughput: alexnet_core's on-device batches vs the usual torchvision pipeline.

Both ways train the same AlexNet-mini (same initial weights), with the same batch size, optimiser
and data: a synthetic set written in CIFAR-10's on-disk format (the real CIFAR-10 is not needed).

- alexnet_core: `alexnet_core.train` on `DeviceBatches` (uint8 tensors on the device, crop/flip/
  normalise on whole batches, channels_last), exactly what the notebook runs.
- usual: torchvision's `CIFAR10` dataset with PIL transforms (RandomCrop(32, padding=4),
  RandomHorizontalFlip, ToTensor, Normalize) and a `DataLoader` (shuffle, drop_last).

Prints images per second of training for both and their ratio. A benchmark, not a test:

    .venv/bin/python benchmarks/bench_training.py                  # CPU-sized defaults
    .venv/bin/python benchmarks/bench_training.py --train-images 50000 --epochs 10 --full-run
    python3 benchmarks/bench_training.py --device cuda --profile full-synthetic --full-run --json r.json

`--profile full-synthetic` trains the lab's own recipe at full size (50,000 / 10,000 synthetic
images, 10 epochs, lr 0.01); `--full-run` then times the lab's whole run with it and, on a GPU,
its peak GPU memory. `--json` also writes every figure to a file (the GPU kit reads it).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import CIFAR10

import alexnet_core as ac
from alexnet_core import cifar, synthetic
from alexnet_core.models import fresh_mini_state
from alexnet_core.profiles import RECIPES


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_core(profile, device, epochs, test_images=128):
    """Images/s of `alexnet_core.train` (test set kept to one batch so training dominates)."""
    train_loader, test = cifar.make_loaders(profile, device)
    test_loader = cifar.DeviceBatches(test.images[:test_images], test.labels[:test_images], profile.batch_size,
                                      train=False, seed=profile.seed, label_names=test.label_names,
                                      synthetic=test.synthetic)
    model = ac.load_untrained_alexnetmini(device, seed=profile.seed)
    ac.train(model, train_loader, test_loader, device, num_epochs=1, profile=profile)  # warm-up
    sync(device)
    start = time.perf_counter()
    _, trajectory = ac.train(model, train_loader, test_loader, device, num_epochs=epochs, profile=profile)
    sync(device)
    seconds = time.perf_counter() - start
    return len(train_loader) * profile.batch_size * epochs / seconds


def usual_dataset(root: Path):
    """torchvision's CIFAR10 reading our synthetic files (its MD5 check knows only the real ones)."""
    class SyntheticCIFAR10(CIFAR10):
        def _check_integrity(self) -> bool:
            return True

        def _load_meta(self) -> None:
            with open(os.path.join(self.root, self.base_folder, "batches.meta"), "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")["label_names"]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(cifar.MEAN, cifar.STD),
    ])
    return SyntheticCIFAR10(str(root), train=True, transform=transform)


def bench_usual(root: Path, profile, device, epochs, workers):
    loader = DataLoader(usual_dataset(root), batch_size=profile.batch_size, shuffle=True, drop_last=True,
                        num_workers=workers, pin_memory=device.type == "cuda",
                        persistent_workers=workers > 0)
    model = ac.AlexNetMini().to(device)
    model.load_state_dict(fresh_mini_state(profile.seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=profile.lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        model.train()
        for images, labels in loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(images), labels).backward()
            optimizer.step()

    epoch()  # warm-up (and worker start-up)
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        epoch()
    sync(device)
    return len(loader) * profile.batch_size * epochs / (time.perf_counter() - start)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: the GPU when there is one)")
    p.add_argument("--profile", help="start from this recipe (e.g. full-synthetic) instead of the CPU-sized "
                                     "bench set (smoke's data with lr 0.01)")
    p.add_argument("--train-images", type=int, help="training images (default: the recipe's; the bench set: "
                                                    "50,000 on a GPU, 5,120 on a CPU)")
    p.add_argument("--test-images", type=int, help="test images of --full-run (default: the recipe's, or 10,000)")
    p.add_argument("--epochs", type=int, help="timed epochs of the throughput runs (default 3 on a GPU, 1 on a CPU)")
    p.add_argument("--workers", type=int, help="DataLoader workers for the usual pipeline (default: min(8, cores) "
                                               "on a GPU, 0 on a CPU, fastest on 2 cores)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads for both ways (0: torch's default). On a shared machine 1 avoids "
                        "OpenMP threads spinning against other processes")
    p.add_argument("--full-run", action="store_true",
                   help="also time the lab's run: alexnet_core.train with the whole test set after each epoch")
    p.add_argument("--full-epochs", type=int, help="epochs of --full-run (default: the recipe's, or 10)")
    p.add_argument("--skip-usual", action="store_true", help="time alexnet_core only, not the PIL + DataLoader way")
    p.add_argument("--data", help="asset cache to write the synthetic set into and keep (default: a temporary one)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    device = torch.device(args.device) if args.device else ac.default_device()
    gpu = device.type == "cuda"
    if gpu and not torch.cuda.is_available():
        raise SystemExit(f"--device {device}: torch sees no CUDA device here")
    if args.threads:
        torch.set_num_threads(args.threads)
    epochs = args.epochs or (3 if gpu else 1)
    workers = args.workers if args.workers is not None else (min(8, os.cpu_count() or 1) if gpu else 0)
    if args.profile:
        base = RECIPES[args.profile]
        profile = dataclasses.replace(base, train_images=args.train_images or base.train_images,
                                      test_images=args.test_images or base.test_images)
    else:
        profile = dataclasses.replace(RECIPES["smoke"], name="bench",
                                      train_images=args.train_images or (50_000 if gpu else 5_120),
                                      test_images=args.test_images or (10_000 if args.full_run else 128), lr=0.01)
    full_epochs = args.full_epochs or (profile.epochs if args.profile else 10)
    results = {"device": str(device), "profile": profile.name, "train_images": profile.train_images,
               "batch_size": profile.batch_size, "timed_epochs": epochs, "workers": workers,
               "threads": torch.get_num_threads(), "torch": torch.__version__}

    with tempfile.TemporaryDirectory(prefix="alexnet-bench-") as tmp:
        os.environ["ALEXNET_LAB_DATA"] = args.data or tmp
        start = time.perf_counter()
        folder = synthetic.ensure_synthetic(profile)
        results["data_seconds"] = round(time.perf_counter() - start, 2)
        print(f"data: {profile.train_images:,} + {profile.test_images:,} synthetic images in CIFAR-10 format "
              f"({results['data_seconds']:.1f} s to write or find)", flush=True)
        name = torch.cuda.get_device_name(device) if gpu else f"{torch.get_num_threads()} threads"
        results["device_name"] = name
        print(f"device: {device} ({name}), batch {profile.batch_size}, {epochs} timed epoch(s) after one warm-up",
              flush=True)

        core = bench_core(profile, device, epochs)
        results["core_images_per_s"] = round(core)
        print(f"alexnet_core (on-device batches): {core:10,.0f} images/s", flush=True)
        if not args.skip_usual:
            usual = bench_usual(folder.parent, profile, device, epochs, workers)
            results["usual_images_per_s"] = round(usual)
            results["ratio"] = round(core / usual, 2)
            print(f"usual (PIL + DataLoader, {workers} workers): {usual:10,.0f} images/s", flush=True)
            print(f"ratio: {core / usual:.1f}x", flush=True)

        if args.full_run:
            train_loader, test_loader = cifar.make_loaders(profile, device)
            model = ac.load_untrained_alexnetmini(device, seed=profile.seed)
            if gpu:
                torch.cuda.reset_peak_memory_stats(device)
            _, t = ac.train(model, train_loader, test_loader, device, num_epochs=full_epochs, profile=profile)
            results["lab_run"] = {"epochs": full_epochs, "test_images": profile.test_images,
                                  "seconds": t["seconds"], "accuracy": t["accuracy"],
                                  "images_per_s": round(len(train_loader) * profile.batch_size * full_epochs
                                                        / max(t["seconds"], 1e-9))}
            if gpu:
                results["lab_run"]["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
            print(f"lab run: {full_epochs} epochs on {profile.train_images:,} images with {profile.test_images:,} test "
                  f"images after each: {t['seconds']:.1f} s, {results['lab_run']['images_per_s']:,} images/s "
                  f"(accuracy {t['accuracy'][0]} -> {t['accuracy'][-1]} %)"
                  + (f", peak GPU memory {results['lab_run']['peak_gpu_mib']} MiB" if gpu else ""), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
