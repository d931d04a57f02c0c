"""Missing or corrupt assets are errors naming the file and the fix; downloads never leave a fake."""
import http.server
import threading

import pytest
import torch
from PIL import Image

import alexnet_core as ac
from alexnet_core import assets
from alexnet_core.errors import AssetError


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_LAB_DATA", str(tmp_path))
    return tmp_path


def test_full_profile_names_each_missing_asset_and_the_command(empty_cache, monkeypatch):
    monkeypatch.setenv("ALEXNET_LAB_PROFILE", "full")
    with pytest.raises(AssetError, match=r"alexnet-owt-7be5be79\.pth is missing: run `alexnet-lab assets fetch`"):
        ac.load_trained_alexnet("cpu")
    with pytest.raises(AssetError, match=r"dog\.jpg is missing: run `alexnet-lab assets fetch`"):
        ac.load_example_image()
    with pytest.raises(AssetError, match=r"CIFAR-10 is not in .*alexnet-lab assets fetch"):
        ac.get_cifar10_dataloaders(device="cpu")


def test_corrupt_weights_and_photo_are_refused_even_where_standins_are_allowed(empty_cache):
    (empty_cache / assets.WEIGHTS_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(AssetError, match=r"alexnet-owt-7be5be79\.pth is corrupt \(sha256 .*alexnet-lab assets fetch"):
        ac.load_trained_alexnet("cpu")
    Image.new("RGB", (64, 48)).save(empty_cache / assets.DOG_FILE, format="JPEG")
    with pytest.raises(AssetError, match=r"dog\.jpg is a JPEG of 64 x 48, not the 1546 x 1213 JPEG"):
        ac.load_example_image()


def test_a_cifar_archive_with_the_wrong_checksum_is_refused(empty_cache, monkeypatch):
    monkeypatch.setenv("ALEXNET_LAB_PROFILE", "full")
    (empty_cache / assets.CIFAR_TAR).write_bytes(b"truncated download")
    with pytest.raises(AssetError, match=r"cifar-10-python\.tar\.gz is corrupt \(MD5 mismatch\)"):
        ac.get_cifar10_dataloaders(device="cpu")
    assert not (empty_cache / assets.CIFAR_FOLDER).exists()


def test_smoke_profile_uses_labelled_standins_with_a_notice_on_stdout(empty_cache, capsys):
    model = ac.load_trained_alexnet("cpu")
    image = ac.load_example_image()
    captured = capsys.readouterr()
    assert model.standin and model.epochs_trained == 0
    assert "UNTRAINED AlexNet as a stand-in" in captured.out
    assert "STAND-IN photo" in captured.out and "grace_hopper.jpg" in captured.out
    assert captured.err == ""
    batch = ac.preprocess_image(image, "cpu")
    assert batch.shape == (1, 3, 224, 224)
    assert len(ac.imagenet_categories()) == 1000


def test_status_lists_every_asset(empty_cache):
    lines = assets.status_lines()
    text = "\n".join(lines)
    assert str(empty_cache) in lines[0]
    assert "CIFAR-10: missing" in text
    assert "AlexNet ImageNet weights: missing" in text
    assert "example dog photo: missing" in text
    assert "alexnet-lab assets fetch" in lines[-2]


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def file_server(tmp_path):
    """A real HTTP server on loopback serving tmp_path/served/."""
    served = tmp_path / "served"
    served.mkdir()
    handler = lambda *a, **kw: _Files(*a, directory=str(served), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_renames_only_a_verified_file(file_server, tmp_path):
    served, url = file_server
    (served / "good.bin").write_bytes(b"x" * 1000)
    dest = tmp_path / "cache" / "good.bin"
    assets.download(f"{url}/good.bin", dest, verify=lambda p: None)
    assert dest.read_bytes() == b"x" * 1000
    assert not dest.with_name("good.bin.part").exists()

    def reject(path):
        raise AssetError(f"{path} is corrupt")

    bad = tmp_path / "cache" / "bad.bin"
    with pytest.raises(AssetError, match="failed verification"):
        assets.download(f"{url}/good.bin", bad, verify=reject)
    assert not bad.exists() and not bad.with_name("bad.bin.part").exists()


def test_no_connection_is_a_one_line_reason(tmp_path):
    dest = tmp_path / "x.bin"
    with pytest.raises(AssetError) as info:
        assets.download("http://127.0.0.1:9/x.bin", dest, verify=lambda p: None, timeout=5)
    assert "cannot download http://127.0.0.1:9/x.bin" in str(info.value)
    assert "\n" not in str(info.value)
    assert not dest.exists() and not dest.with_name("x.bin.part").exists()


def _register_as_published(monkeypatch, folder):
    """Make the small real-format files the 'published' ones: the verified path then runs for real."""
    sums = {name: assets.file_digest(folder / name, "md5") for name in assets.CIFAR_FILE_MD5}
    monkeypatch.setattr(assets, "CIFAR_FILE_MD5", sums)


def test_real_data_from_the_archive_is_extracted_verified_and_cached(empty_cache, monkeypatch):
    import dataclasses
    import tarfile

    from realformat import write_real_format

    from alexnet_core import cifar
    from grading_config import PROFILES

    source = write_real_format(empty_cache / "made", images_per_batch=20, test_images=30)
    with tarfile.open(empty_cache / assets.CIFAR_TAR, "w:gz") as tar:
        tar.add(source, arcname=assets.CIFAR_FOLDER)
    _register_as_published(monkeypatch, source)
    monkeypatch.setattr(assets, "CIFAR_TAR_MD5", assets.file_digest(empty_cache / assets.CIFAR_TAR, "md5"))
    profile = dataclasses.replace(PROFILES["full"], train_images=100, test_images=30)

    train, test = ac.get_cifar10_dataloaders(device="cpu", profile=profile)
    assert (empty_cache / assets.CIFAR_FOLDER / "test_batch").is_file()
    assert (empty_cache / "cifar-10-uint8.pt").is_file()
    assert not train.synthetic and len(test.labels) == 30 and len(train) == 0  # 100 < one batch of 128
    cifar._MEMO.clear()
    again = cifar.load_dataset(profile)  # from the tensor cache this time
    assert torch.equal(again.test_images, test.images)

    # A file changed after caching: the stale cache is not trusted, the checksum catches it.
    batch = empty_cache / assets.CIFAR_FOLDER / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:-10] + bytes(10))
    cifar._MEMO.clear()
    with pytest.raises(AssetError, match=r"data_batch_2 is corrupt \(MD5 mismatch\)"):
        cifar.load_dataset(profile)


def test_fetch_all_downloads_verifies_and_can_be_rerun(file_server, empty_cache, monkeypatch):
    """The whole fetch against a loopback server holding stand-ins for the three published files."""
    import tarfile

    from realformat import write_real_format

    served, url = file_server
    source = write_real_format(empty_cache / "made")
    with tarfile.open(served / assets.CIFAR_TAR, "w:gz") as tar:
        tar.add(source, arcname=assets.CIFAR_FOLDER)
    (served / assets.WEIGHTS_FILE).write_bytes(b"weights")
    Image.new("RGB", assets.DOG_SIZE, "white").save(served / assets.DOG_FILE, format="JPEG")
    _register_as_published(monkeypatch, source)
    monkeypatch.setattr(assets, "CIFAR_TAR_MD5", assets.file_digest(served / assets.CIFAR_TAR, "md5"))
    monkeypatch.setattr(assets, "WEIGHTS_SHA256_PREFIX", assets.file_digest(served / assets.WEIGHTS_FILE, "sha256")[:8])
    monkeypatch.setattr(assets, "CIFAR_URL", f"{url}/{assets.CIFAR_TAR}")
    monkeypatch.setattr(assets, "WEIGHTS_URL", f"{url}/{assets.WEIGHTS_FILE}")
    monkeypatch.setattr(assets, "DOG_URL", f"{url}/{assets.DOG_FILE}")

    lines = assets.fetch_all()
    assert [line.split(":")[0] for line in lines] == ["CIFAR-10", "AlexNet ImageNet weights", "example dog photo"]
    assert all(": ok (" in line for line in lines)
    assert (empty_cache / "dog.jpg.sha256").is_file()
    assert not list(empty_cache.glob("*.part"))
    assert all(": ok (" in line for line in assets.status_lines()[1:4])

    # A broken file in the cache is fetched again by the same command.
    (empty_cache / assets.WEIGHTS_FILE).write_bytes(b"half a file")
    assert assets.fetch_all() == lines
    assert (empty_cache / assets.WEIGHTS_FILE).read_bytes() == b"weights"

    # Re-running downloads nothing: the server may be gone.
    for f in served.iterdir():
        f.unlink()
    assert assets.fetch_all() == lines

    # A photo replaced after the fetch no longer matches the sha256 recorded then.
    Image.new("RGB", assets.DOG_SIZE, "black").save(empty_cache / assets.DOG_FILE, format="JPEG")
    with pytest.raises(AssetError, match=r"dog\.jpg changed since it was fetched"):
        ac.load_example_image()
