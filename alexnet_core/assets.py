"""The asset cache: CIFAR-10, the ImageNet AlexNet weights and the example dog photo.

One folder holds them all (`$ALEXNET_LAB_DATA`, else `~/.cache/alexnet-lab`). `fetch_all` downloads
and verifies them on a machine with internet; everything else only reads and verifies, and a
missing or corrupt file is an `AssetError` that names the file and the command that fixes it.
Downloads go to `NAME.part` and are renamed only once verified, so a file that looks complete is.

PIL and torch are imported where a file is decoded: this module is also what the CLI and the
grader's runner read for paths and checksums, and they must not pay torch's import (1.3 s).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .errors import AssetError

DATA_ENV = "ALEXNET_LAB_DATA"
FETCH_HINT = "run `alexnet-lab assets fetch`"

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_TAR = "cifar-10-python.tar.gz"
CIFAR_TAR_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR_FOLDER = "cifar-10-batches-py"
# torchvision's published per-file checksums (torchvision/datasets/cifar.py).
CIFAR_FILE_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}

WEIGHTS_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
WEIGHTS_FILE = "alexnet-owt-7be5be79.pth"
WEIGHTS_SHA256_PREFIX = "7be5be79"  # torch.hub's convention: the hash prefix is in the file name

DOG_URL = "https://github.com/pytorch/hub/raw/master/images/dog.jpg"
DOG_FILE = "dog.jpg"
DOG_SIZE = (1546, 1213)  # width x height of the published photo


def cache_dir() -> Path:
    """The asset folder: $ALEXNET_LAB_DATA, else ~/.cache/alexnet-lab."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "alexnet-lab"


def weights_path() -> Path:
    return cache_dir() / WEIGHTS_FILE


def dog_path() -> Path:
    return cache_dir() / DOG_FILE


def cifar_tar_path() -> Path:
    return cache_dir() / CIFAR_TAR


def cifar_folder() -> Path:
    return cache_dir() / CIFAR_FOLDER


def cifar_tensor_cache() -> Path:
    """Verified real CIFAR-10 as one uint8 tensor file, written on first use (reads in a second)."""
    return cache_dir() / "cifar-10-uint8.pt"


def synthetic_root(profile_name: str) -> Path:
    """The folder that holds `cifar-10-batches-py/` for a synthetic profile."""
    return cache_dir() / f"synthetic-{profile_name}"


# --- checksums -----------------------------------------------------------------------------

def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_cifar_folder(folder: Path) -> None:
    """Check every file of a real CIFAR-10 folder against torchvision's published MD5s."""
    for name, md5 in CIFAR_FILE_MD5.items():
        path = folder / name
        if not path.is_file():
            raise AssetError(f"{path} is missing: {FETCH_HINT}")
        if file_digest(path, "md5") != md5:
            raise AssetError(f"{path} is corrupt (MD5 mismatch): delete it and {FETCH_HINT}")


def verify_weights(path: Path) -> None:
    if not path.is_file():
        raise AssetError(f"{path} is missing: {FETCH_HINT}")
    if not file_digest(path, "sha256").startswith(WEIGHTS_SHA256_PREFIX):
        raise AssetError(f"{path} is corrupt (sha256 does not start with {WEIGHTS_SHA256_PREFIX}): "
                         f"delete it and {FETCH_HINT}")


def verify_dog(path: Path) -> None:
    """The photo must decode as the published 1546 x 1213 JPEG (and match its recorded sha256)."""
    from PIL import Image

    if not path.is_file():
        raise AssetError(f"{path} is missing: {FETCH_HINT}")
    try:
        with Image.open(path) as im:
            im.load()
            fmt, size = im.format, im.size
    except Exception as exc:  # PIL raises several unrelated types for broken files
        raise AssetError(f"{path} does not decode as an image ({exc}): delete it and {FETCH_HINT}") from None
    if fmt != "JPEG" or size != DOG_SIZE:
        raise AssetError(f"{path} is a {fmt} of {size[0]} x {size[1]}, not the {DOG_SIZE[0]} x "
                         f"{DOG_SIZE[1]} JPEG: delete it and {FETCH_HINT}")
    recorded = path.with_name(path.name + ".sha256")
    if recorded.is_file() and recorded.read_text().strip() != file_digest(path, "sha256"):
        raise AssetError(f"{path} changed since it was fetched (sha256 mismatch): delete it and {FETCH_HINT}")


# --- readers the library uses ---------------------------------------------------------------

def load_weights() -> dict:
    """The ImageNet AlexNet state dict, verified."""
    import torch

    path = weights_path()
    verify_weights(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def real_cifar_folder() -> Path:
    """The verified real CIFAR-10 folder, extracted from the tarball first if only that is here."""
    folder = cifar_folder()
    if not folder.is_dir() and cifar_tar_path().is_file():
        _extract_cifar(cifar_tar_path())
    if not folder.is_dir():
        raise AssetError(f"CIFAR-10 is not in {cache_dir()} (neither {CIFAR_FOLDER}/ nor {CIFAR_TAR}): "
                         f"{FETCH_HINT}")
    verify_cifar_folder(folder)
    return folder


def _extract_cifar(tar_path: Path) -> None:
    if file_digest(tar_path, "md5") != CIFAR_TAR_MD5:
        raise AssetError(f"{tar_path} is corrupt (MD5 mismatch): delete it and {FETCH_HINT}")
    # Extract beside the cache, then rename: a half-extracted folder never looks complete.
    with tempfile.TemporaryDirectory(dir=tar_path.parent, prefix=".extract-") as tmp:
        with tarfile.open(tar_path, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        os.replace(Path(tmp) / CIFAR_FOLDER, tar_path.parent / CIFAR_FOLDER)


# --- status and fetch ------------------------------------------------------------------------

def _check(label: str, verify, path: Path) -> str:
    if not path.exists():
        return f"{label}: missing ({path})"
    try:
        verify(path)
    except AssetError as exc:
        return f"{label}: BROKEN: {exc}"
    return f"{label}: ok ({path})"


def status_lines() -> list[str]:
    """One line per asset: ok, missing or broken, with its path."""
    lines = [f"asset cache: {cache_dir()} (set {DATA_ENV} to use another folder)"]
    if cifar_folder().exists():
        lines.append(_check("CIFAR-10", verify_cifar_folder, cifar_folder()))
    elif cifar_tar_path().exists():
        lines.append(_check("CIFAR-10 (archive, extracted on first use)", _verify_tar, cifar_tar_path()))
    else:
        lines.append(f"CIFAR-10: missing (neither {CIFAR_FOLDER}/ nor {CIFAR_TAR})")
    lines.append(_check("AlexNet ImageNet weights", verify_weights, weights_path()))
    lines.append(_check("example dog photo", verify_dog, dog_path()))
    if any(line.split(": ", 1)[1].startswith(("missing", "BROKEN")) for line in lines[1:]):
        lines.append(f"to fix: {FETCH_HINT} (the smoke profile runs without them, on stand-ins)")
    built = sorted(cache_dir().glob("synthetic-*"))
    for folder in built:
        lines.append(f"synthetic dataset: ok ({folder})")
    if not built:
        lines.append(f"synthetic dataset: not built yet ({synthetic_root('smoke')}); built on first use "
                     "or by `alexnet-lab assets synthetic`")
    return lines


def _verify_tar(path: Path) -> None:
    if not path.is_file():
        raise AssetError(f"{path} is missing: {FETCH_HINT}")
    if file_digest(path, "md5") != CIFAR_TAR_MD5:
        raise AssetError(f"{path} is corrupt (MD5 mismatch): delete it and {FETCH_HINT}")


def download(url: str, dest: Path, verify, timeout: float = 30.0) -> None:
    """Download `url` to `dest.part`, verify it there, then rename it to `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    print(f"downloading {url} -> {dest}", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        verify(part)
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise AssetError(f"cannot download {url} to {dest}: {reason}") from None
    except AssetError as exc:
        part.unlink(missing_ok=True)
        raise AssetError(f"downloaded {url} but it failed verification: {exc}") from None
    os.replace(part, dest)


def _valid(verify, path: Path) -> bool:
    try:
        verify(path)
    except AssetError:
        return False
    return True


def _fetch_cifar(force: bool) -> str:
    if force or not _valid(verify_cifar_folder, cifar_folder()):
        if force or not _valid(_verify_tar, cifar_tar_path()):
            download(CIFAR_URL, cifar_tar_path(), _verify_tar)
        if cifar_folder().exists():
            shutil.rmtree(cifar_folder())
        _extract_cifar(cifar_tar_path())
        verify_cifar_folder(cifar_folder())
    return f"CIFAR-10: ok ({cifar_folder()})"


def _fetch_weights(force: bool) -> str:
    if force or not _valid(verify_weights, weights_path()):
        download(WEIGHTS_URL, weights_path(), verify_weights)
    return f"AlexNet ImageNet weights: ok ({weights_path()})"


def _fetch_dog(force: bool) -> str:
    sidecar = dog_path().with_name(DOG_FILE + ".sha256")
    if force or not _valid(verify_dog, dog_path()):
        sidecar.unlink(missing_ok=True)  # a new download records its own sha256 below
        download(DOG_URL, dog_path(), verify_dog)
    if not sidecar.is_file():
        sidecar.write_text(file_digest(dog_path(), "sha256") + "\n")
    return f"example dog photo: ok ({dog_path()})"


def fetch_all(force: bool = False) -> list[str]:
    """Download whatever is missing or broken (everything with `force`), verify it, and report one
    line per asset. Tries all three even if one fails, then raises one AssetError for the failures."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    lines, failures = [], []
    for fetch in (_fetch_cifar, _fetch_weights, _fetch_dog):
        try:
            lines.append(fetch(force))
        except AssetError as exc:
            failures.append(str(exc))
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise AssetError(f"{failures[0]}{more}")
    return lines
