"""fastnn.datasets: the IDX reader, the search order (path, $FASTNN_DATA, cache, download), the
verified atomic download, and Keras' formats. Downloads are served from a local folder through
a file:// mirror, so the tests need no network."""

from __future__ import annotations

import gzip
import hashlib

from pathlib import Path

import numpy as np
import pytest

from fastnn import utils
from fastnn.datasets import _files, fashion_mnist, mnist

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def write_idx(path: Path, array: np.ndarray, compress=True):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def fake_dataset(folder: Path, n_train=6, n_test=4):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28)), "y_train": rng.integers(0, 10, n_train),
              "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": rng.integers(0, 10, n_test)}
    for key, name in mnist.FILES.items():
        write_idx(folder / name, arrays[key])
    return arrays


def digests(folder: Path, algorithm="sha256"):
    return {name: (algorithm, hashlib.new(algorithm, (folder / name).read_bytes()).hexdigest())
            for name in mnist.FILES.values()}


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("FASTNN_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_sample_is_keras_shaped():
    (x, y), (xt, yt) = mnist.load_sample()
    assert x.shape == (20_000, 28, 28) and y.shape == (20_000,) and xt.shape == (2_000, 28, 28)
    assert x.dtype == np.uint8 and y.dtype == np.uint8 and set(np.unique(y)) == set(range(10))


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/mnist not present")
def test_full_mnist_from_a_path_and_the_sample_is_its_prefix():
    (x, y), (xt, yt) = mnist.load_data(SHARED, download=False)
    assert x.shape == (60_000, 28, 28) and xt.shape == (10_000, 28, 28)
    (sx, sy), (sxt, syt) = mnist.load_sample()
    np.testing.assert_array_equal(sx, x[:20_000])
    np.testing.assert_array_equal(syt, yt[:2_000])
    assert _files.file_digest(SHARED / "train-images-idx3-ubyte.gz", "sha256") == mnist.DIGESTS["train-images-idx3-ubyte.gz"][1]


def test_search_order_path_env_cache(isolated, monkeypatch):
    arrays = fake_dataset(isolated / "explicit")
    (x, y), _ = mnist.load_data(isolated / "explicit")
    np.testing.assert_array_equal(x, arrays["x_train"])
    with pytest.raises(FileNotFoundError, match="does not hold"):
        mnist.load_data(isolated / "nowhere")
    fake_dataset(isolated / "data" / "mnist")
    monkeypatch.setenv("FASTNN_DATA", str(isolated / "data"))
    assert mnist.load_data()[0][0].shape == (6, 28, 28)
    monkeypatch.delenv("FASTNN_DATA")
    with pytest.raises(FileNotFoundError, match="download=False"):
        mnist.load_data(download=False)


def test_download_is_verified_and_atomic(isolated, monkeypatch):
    server = isolated / "server"
    arrays = fake_dataset(server)
    monkeypatch.setattr(mnist, "DIGESTS", digests(server))
    monkeypatch.setattr(mnist, "MIRRORS", ("file:///no/such/mirror/", server.as_uri() + "/"))
    (x, y), (xt, yt) = mnist.load_data()
    np.testing.assert_array_equal(yt, arrays["y_test"])
    cached = isolated / "cache" / "datasets" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(mnist.FILES.values())  # no .part files left
    # the cache is used (and verified) next time, even with no mirror
    monkeypatch.setattr(mnist, "MIRRORS", ())
    assert mnist.load_data()[0][0].shape == (6, 28, 28)


def test_bad_digest_and_offline_are_clear_errors(isolated, monkeypatch):
    server = isolated / "server"
    fake_dataset(server)
    wrong = {name: ("sha256", "0" * 64) for name in mnist.FILES.values()}
    monkeypatch.setattr(mnist, "DIGESTS", wrong)
    monkeypatch.setattr(mnist, "MIRRORS", (server.as_uri() + "/",))
    with pytest.raises(FileNotFoundError, match=r"does not match the published.*pass path=, or set FASTNN_DATA"):
        mnist.load_data()
    assert not any((isolated / "cache").rglob("*.gz"))  # nothing half-verified kept
    monkeypatch.setattr(mnist, "MIRRORS", ("file:///no/such/mirror/",))
    with pytest.raises(FileNotFoundError, match="could not find or download"):
        mnist.load_data()


def test_fashion_mnist_uses_its_own_folder_and_md5(isolated, monkeypatch):
    server = isolated / "server"
    arrays = fake_dataset(server)
    monkeypatch.setattr(fashion_mnist, "DIGESTS", digests(server, "md5"))
    monkeypatch.setattr(fashion_mnist, "MIRRORS", (server.as_uri() + "/",))
    (x, _), _ = fashion_mnist.load_data()
    np.testing.assert_array_equal(x, arrays["x_train"])
    assert (isolated / "cache" / "datasets" / "fashion_mnist").is_dir()
    assert fashion_mnist.DIGESTS["train-images-idx3-ubyte.gz"][0] == "md5"


def test_corrupt_idx_files_raise(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((3, 2), np.uint8))
    assert mnist.read_idx(path).shape == (3, 2)
    raw = gzip.decompress(path.read_bytes())
    (tmp_path / "short.idx").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="truncated"):
        mnist.read_idx(tmp_path / "short.idx")
    (tmp_path / "cut.gz").write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="damaged"):
        mnist.read_idx(tmp_path / "cut.gz")
    (tmp_path / "junk.idx").write_bytes(b"\x01\x02junk")
    with pytest.raises(ValueError, match="not an IDX file"):
        mnist.read_idx(tmp_path / "junk.idx")


def test_normalize_like_keras():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x, axis=0, order=1), [[1.0, 1.0], [0.0, 0.0]])



