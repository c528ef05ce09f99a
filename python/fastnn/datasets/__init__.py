"""Datasets in Keras' format (``(x_train, y_train), (x_test, y_test)`` as uint8 arrays)."""

from fastnn.datasets import mnist

__all__ = ["mnist"]
