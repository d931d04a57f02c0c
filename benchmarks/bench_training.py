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
"""
from __future__ import annotations

import argparse
import dataclasses
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


def bench_core(profile, device, epochs):
    """Images/s of `alexnet_core.train` (test set kept to one batch so training dominates)."""
    train_loader, test_loader = cifar.make_loaders(profile, device)
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
    device = ac.default_device()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-images", type=int, default=50_000 if device.type == "cuda" else 5_120)
    p.add_argument("--epochs", type=int, default=3 if device.type == "cuda" else 1)
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1) if device.type == "cuda" else 0,
                   help="DataLoader workers for the usual pipeline (0 is fastest on 2 CPU cores)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads for both ways (0: torch's default). On a shared machine 1 avoids "
                        "OpenMP threads spinning against other processes")
    p.add_argument("--full-run", action="store_true",
                   help="also time the lab's run: alexnet_core.train with the full 10,000-image test set")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="alexnet-bench-") as tmp:
        os.environ["ALEXNET_LAB_DATA"] = tmp
        profile = dataclasses.replace(RECIPES["smoke"], name="bench", train_images=args.train_images,
                                      test_images=128 if not args.full_run else 10_000, lr=0.01)
        start = time.perf_counter()
        folder = synthetic.ensure_synthetic(profile)
        print(f"data: {args.train_images:,} synthetic training images in CIFAR-10 format "
              f"({time.perf_counter() - start:.1f} s to write)")
        print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
              f"batch {profile.batch_size}, {args.epochs} timed epoch(s) after one warm-up")

        fast_profile = dataclasses.replace(profile, test_images=128)
        core = bench_core(fast_profile, device, args.epochs)
        print(f"alexnet_core (on-device batches): {core:10,.0f} images/s")
        usual = bench_usual(folder.parent, profile, device, args.epochs, args.workers)
        print(f"usual (PIL + DataLoader, {args.workers} workers): {usual:10,.0f} images/s")
        print(f"ratio: {core / usual:.1f}x")

        if args.full_run:
            train_loader, test_loader = cifar.make_loaders(profile, device)
            model = ac.load_untrained_alexnetmini(device, seed=profile.seed)
            _, t = ac.train(model, train_loader, test_loader, device, num_epochs=10, profile=profile)
            print(f"lab run: 10 epochs on {args.train_images:,} images with {profile.test_images:,} test images "
                  f"after each: {t['seconds']:.1f} s (accuracy {t['accuracy'][0]} -> {t['accuracy'][-1]} %)")


if __name__ == "__main__":
    main()
