"""Datasets in Keras' format (``(x_train, y_train), (x_test, y_test)`` as uint8 arrays)."""

from fastnn.datasets import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
