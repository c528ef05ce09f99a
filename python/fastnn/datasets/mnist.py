"""MNIST handwritten digits (LeCun, Cortes, Burges; CC BY-SA 3.0), as Keras returns them.

``load_sample()`` reads the small real subset shipped inside the package (the first 20,000
training and first 2,000 test digits of the official files; attribution in
``data/MNIST_SAMPLE.md``), so a fresh install trains with no network. ``load_data(path)`` reads
the four official IDX files from a directory.

Both return ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape (n, 28, 28) and
uint8 labels of shape (n,), as ``keras.datasets.mnist.load_data()`` does.
"""

from __future__ import annotations

import gzip
import os
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
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"mnist: {path} is not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise ValueError(f"mnist: {path} holds IDX type {raw[2]:#x}, expected 0x08 (unsigned bytes)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape)) if shape else 1
    if len(raw) != header + count:
        raise ValueError(f"mnist: {path} is truncated or padded: its header says {shape} "
                         f"({header + count} bytes), the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_dir(path):
    """The directory holding the four IDX files: ``path``, else ``$FASTNN_DATA/mnist`` or
    ``$FASTNN_DATA``."""
    candidates = []
    if path is not None:
        candidates.append(Path(path))
    elif os.environ.get("FASTNN_DATA"):
        root = Path(os.environ["FASTNN_DATA"])
        candidates += [root / "mnist", root]
    for cand in candidates:
        if all((cand / name).is_file() for name in FILES.values()):
            return cand
    where = ", ".join(str(c) for c in candidates) or "nowhere (no path given and FASTNN_DATA unset)"
    raise FileNotFoundError(
        f"mnist.load_data: the four MNIST files ({', '.join(FILES.values())}) were not found in "
        f"{where}. Pass path=DIR, or set FASTNN_DATA to a directory holding them (or a mnist/ "
        "folder of them); fastnn.datasets.mnist.load_sample() needs no files.")


def load_data(path=None):
    """``(x_train, y_train), (x_test, y_test)`` from the official IDX files in ``path`` (or
    ``$FASTNN_DATA``)."""
    folder = _find_dir(path)
    arrays = {key: read_idx(folder / name) for key, name in FILES.items()}
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_sample():
    """The embedded subset: 20,000 training and 2,000 test digits (the first of each official
    file), in Keras' format."""
    with np.load(SAMPLE_FILE) as z:
        return (z["x_train"], z["y_train"]), (z["x_test"], z["y_test"])


def make_sample(source_dir, destination=SAMPLE_FILE) -> Path:
    """Rebuilds the embedded sample from the official files (run once by a developer:
    ``python -m fastnn.datasets.mnist ../shared/data/mnist``)."""
    (x_train, y_train), (x_test, y_test) = load_data(source_dir)
    destination = Path(destination)
    tmp = destination.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x_train=x_train[:SAMPLE_TRAIN], y_train=y_train[:SAMPLE_TRAIN],
                        x_test=x_test[:SAMPLE_TEST], y_test=y_test[:SAMPLE_TEST])
    os.replace(tmp, destination)
    return destination


if __name__ == "__main__":
    import sys

    print(make_sample(sys.argv[1]))
