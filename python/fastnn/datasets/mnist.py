"""MNIST handwritten digits (LeCun, Cortes, Burges; CC BY-SA 3.0), as Keras returns them.

``load_sample()`` reads the small real subset shipped inside the package (the first 20,000
training and first 2,000 test digits of the official files; attribution in
``data/MNIST_SAMPLE.md``), so a fresh install trains with no network. ``load_data()`` finds the
four official IDX files (a path, ``$FASTNN_DATA``, the cache, or a verified download).

Both return ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape (n, 28, 28) and
uint8 labels of shape (n,), as ``keras.datasets.mnist.load_data()`` does.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
SAMPLE_FILE = Path(__file__).with_name("data") / "mnist_sample.npz"
SAMPLE_TRAIN, SAMPLE_TEST = 20_000, 2_000


def read_idx(path) -> np.ndarray:
    """An IDX file (optionally gzip-compressed) as a uint8 array of its stated shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:  # a truncated or damaged .gz
        raise ValueError(f"mnist: {path} is damaged: {exc}") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"mnist: {path} is not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise ValueError(f"mnist: {path} holds IDX type {raw[2]:#x}, expected 0x08 (unsigned bytes)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = math.prod(shape)
    if len(raw) != header + count:
        raise ValueError(f"mnist: {path} is truncated or padded: its header says {shape} "
                         f"({header + count} bytes), the file has {len(raw)} bytes")
    # a bytearray makes the arrays writable (users shuffle x_train in place, as with Keras)
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header).reshape(shape)


# The official files' SHA-256 (the gz MD5s match the values LeCun et al. published; see
# ../shared/data/mnist/SOURCE.md where the project's copy was checked).
DIGESTS = {
    "train-images-idx3-ubyte.gz": ("sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": ("sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": ("sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": ("sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/")


def read_dataset(folder, files=FILES):
    """``(x_train, y_train), (x_test, y_test)`` from the four IDX files in ``folder``."""
    arrays = {key: read_idx(Path(folder) / name) for key, name in files.items()}
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_data(path=None, download: bool = True):
    """``(x_train, y_train), (x_test, y_test)`` as Keras returns them, from the official IDX
    files found in ``path``, else ``$FASTNN_DATA`` (or its ``mnist/`` folder), else the
    per-user cache (``fastnn.datasets._files.cache_dir()``), else downloaded into that cache
    with SHA-256 verification. ``load_sample()`` needs no files at all."""
    from fastnn.datasets._files import find

    return read_dataset(find("mnist", DIGESTS, MIRRORS, path=path, download=download))


def load_sample():
    """The embedded subset: 20,000 training and 2,000 test digits (the first of each official
    file), in Keras' format."""
    with np.load(SAMPLE_FILE) as z:
        return (z["x_train"], z["y_train"]), (z["x_test"], z["y_test"])


def make_sample(source_dir, destination=SAMPLE_FILE) -> Path:
    """Rebuilds the embedded sample from the official files (run once by a developer:
    ``python -m fastnn.datasets.mnist ../shared/data/mnist``)."""
    (x_train, y_train), (x_test, y_test) = load_data(source_dir, download=False)
    destination = Path(destination)
    tmp = destination.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x_train=x_train[:SAMPLE_TRAIN], y_train=y_train[:SAMPLE_TRAIN],
                        x_test=x_test[:SAMPLE_TEST], y_test=y_test[:SAMPLE_TEST])
    os.replace(tmp, destination)
    return destination


if __name__ == "__main__":
    import sys

    print(make_sample(sys.argv[1]))
