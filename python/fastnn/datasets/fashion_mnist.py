"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017; Zalando Research, MIT licence): 28x28 grey images
of ten kinds of clothing, in MNIST's IDX format, as ``keras.datasets.fashion_mnist`` returns
them."""

from __future__ import annotations

from fastnn.datasets.mnist import FILES, read_dataset

# The MD5 digests published with the dataset (github.com/zalandoresearch/fashion-mnist README);
# no SHA-256 is published, so MD5 is what a download can be checked against.
DIGESTS = {
    "train-images-idx3-ubyte.gz": ("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train-labels-idx1-ubyte.gz": ("md5", "25c81989df183df01b3e8a0aad5dffbe"),
    "t10k-images-idx3-ubyte.gz": ("md5", "bef4ecab320f06d8554ea6380940ec79"),
    "t10k-labels-idx1-ubyte.gz": ("md5", "bb300cfdad3c16e7a12a480ee83cd310"),
}
MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
           "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")


def load_data(path=None, download: bool = True):
    """``(x_train, y_train), (x_test, y_test)`` (uint8), from ``path``, ``$FASTNN_DATA`` (or its
    ``fashion_mnist/`` folder), the per-user cache, or a verified download into it."""
    from fastnn.datasets._files import find

    return read_dataset(find("fashion_mnist", DIGESTS, MIRRORS, path=path, download=download), FILES)
