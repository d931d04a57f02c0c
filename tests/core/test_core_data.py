"""The CIFAR-10 reader, the synthetic smoke set and the on-device batches."""
import json
import pickle
import time

import numpy as np
import pytest
import torch
from realformat import write_real_format

import alexnet_core as ac
from alexnet_core import cifar, synthetic
from alexnet_core.errors import AssetError


def test_reader_reads_the_real_layout_in_order(tmp_path):
    folder = write_real_format(tmp_path, images_per_batch=20, test_images=30)
    data = cifar.read_cifar_folder(folder)
    assert data.train_images.shape == (100, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (30, 3, 32, 32)
    assert data.label_names[0] == "airplane" and not data.synthetic
    # Rows are channel-major: the first 1024 bytes are the red plane of image 0 of data_batch_1.
    with open(folder / "data_batch_1", "rb") as f:
        first = pickle.load(f, encoding="latin1")
    assert np.array_equal(data.train_images[0, 0].numpy().ravel(), first["data"][0, :1024])
    assert data.train_labels[:20].tolist() == first["labels"]


def test_synthetic_set_is_fast_deterministic_marked_and_read_by_the_same_reader(tmp_path, monkeypatch, smoke_profile):
    monkeypatch.setenv("ALEXNET_LAB_DATA", str(tmp_path / "a"))
    start = time.perf_counter()
    folder_a = synthetic.ensure_synthetic(smoke_profile)
    assert time.perf_counter() - start < 2.0
    assert json.loads((folder_a / synthetic.MARKER).read_text())["synthetic"] is True
    for name in ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"]:
        with open(folder_a / name, "rb") as f:
            assert pickle.load(f, encoding="latin1")["synthetic"] is True
    data = cifar.read_cifar_folder(folder_a)
    assert data.synthetic
    assert len(data.train_images) == smoke_profile.train_images
    assert len(data.test_images) == smoke_profile.test_images
    assert sorted(np.bincount(data.test_labels.numpy())) == [smoke_profile.test_images // 10] * 10

    monkeypatch.setenv("ALEXNET_LAB_DATA", str(tmp_path / "b"))
    folder_b = synthetic.ensure_synthetic(smoke_profile)
    for name in ["data_batch_3", "test_batch"]:
        assert (folder_a / name).read_bytes() == (folder_b / name).read_bytes()


def test_training_batches_are_shaped_normalised_and_drop_the_last(smoke_loaders, smoke_profile):
    train, test = smoke_loaders
    batches = list(train)
    assert len(batches) == len(train) == smoke_profile.train_images // 128
    for images, labels in batches:
        assert images.shape == (128, 3, 32, 32) and images.dtype == torch.float32
        assert labels.dtype == torch.int64
    # Normalisation is CIFAR-10's per-channel mean/std: undoing it gives the uint8 pixels back.
    mean = torch.tensor(cifar.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(cifar.STD).view(1, 3, 1, 1)
    images, _ = next(iter(test))
    raw = (images * std + mean) * 255
    assert torch.allclose(raw, raw.round(), atol=1e-3) and raw.min() > -0.01 and raw.max() < 255.01


def test_test_batches_are_in_order_and_unaugmented(smoke_loaders, smoke_profile):
    _, test = smoke_loaders
    seen = list(test)
    assert sum(len(labels) for _, labels in seen) == smoke_profile.test_images  # nothing dropped
    again = list(test)
    for (a, la), (b, lb) in zip(seen, again):
        assert torch.equal(a, b) and torch.equal(la, lb)
    assert torch.equal(seen[0][0], test.normalise(test.images[:128]))


def _striped_loader(n=256):
    """Images whose centre colour encodes the label and whose stripes reveal any crop or flip."""
    labels = torch.arange(n) % 10
    images = torch.zeros(n, 3, 32, 32, dtype=torch.uint8)
    images[:, 0] = (torch.arange(32) * 8).to(torch.uint8)  # red ramp left -> right: shows flips/shifts
    images[:, 1] = (labels * 25).to(torch.uint8).view(n, 1, 1)  # green = label everywhere
    return cifar.DeviceBatches(images, labels, 64, train=True, seed=1, label_names=list(range(10)),
                               synthetic=True)


def test_augmentation_is_random_but_keeps_every_label():
    loader = _striped_loader()
    std = torch.tensor(cifar.STD).view(1, 3, 1, 1) * 255
    mean = torch.tensor(cifar.MEAN).view(1, 3, 1, 1) * 255
    flips = shifts = 0
    for images, labels in loader:
        raw = (images * std + mean).round()
        # The centre 24 x 24 always comes from the image (shift <= 4): its green is the label.
        assert torch.equal(raw[:, 1, 4:28, 4:28].amax((1, 2)), labels.float() * 25)
        row = raw[:, 0, 16, 4:28]
        flips += int((row[:, 0] > row[:, -1]).sum())
        shifts += int((row[:, 0] != 32).sum())
    assert 50 < flips < 206  # about half of 256 flipped
    assert shifts > 150      # most images moved
    a = torch.cat([x for x, _ in _striped_loader()])
    loader.reseed(1)
    b = torch.cat([x for x, _ in loader])
    c = torch.cat([x for x, _ in loader])
    assert torch.equal(a, b)       # same seed, same batches
    assert not torch.equal(b, c)   # the next pass draws new crops and order


def test_samples_grid_is_saved_with_metadata(tmp_path, smoke_profile):
    path = tmp_path / "samples.png"
    ac.get_cifar10_dataloaders(device="cpu", profile=smoke_profile, save_to=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    train, _ = cifar.make_loaders(smoke_profile, "cpu")
    plot = ac.render_samples(train, seed=1)
    assert plot.metadata["kind"] == "samples" and plot.metadata["synthetic"] is True
    assert len(plot.metadata["labels"]) == 16


def test_real_profile_refuses_unverified_files(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_LAB_DATA", str(tmp_path))
    write_real_format(tmp_path)
    with pytest.raises(AssetError, match=r"data_batch_1 is corrupt \(MD5 mismatch\).*alexnet-lab assets fetch"):
        ac.get_cifar10_dataloaders(device="cpu", profile="full")
