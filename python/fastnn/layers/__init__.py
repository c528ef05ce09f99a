"""Keras-style layers (DESIGN.md §2): each owns Parameters and calls ``fastnn.functional`` ops.

Convolution, pooling, normalization and recurrent layers slot in as further modules that
subclass ``Layer`` (``build`` / ``call`` / ``compute_output_shape`` / ``get_config``).
"""

from fastnn.layers.base import Layer
from fastnn.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from fastnn.layers.normalization import BatchNormalization
from fastnn.layers.pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D,
                                   GlobalMaxPool2D, GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)

_CLASSES = {c.__name__: c for c in (Layer, InputLayer, Dense, Activation, Dropout, Flatten, Reshape, MaxPooling2D,
                                    AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                                    BatchNormalization)}


def serialize(layer: Layer) -> dict:
    """``{"class_name", "config"}`` (Keras' layout)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """The layer ``serialize`` described (``custom_objects`` maps extra class names)."""
    classes = {**_CLASSES, **(custom_objects or {})}
    if not isinstance(config, dict) or config.get("class_name") not in classes:
        raise ValueError(f"layers.deserialize: unknown layer {config.get('class_name') if isinstance(config, dict) else config!r}; "
                         f"known: {', '.join(sorted(classes))}")
    return classes[config["class_name"]].from_config(dict(config.get("config", {})))


__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Layer", "Reshape",
           "deserialize", "serialize", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalMaxPooling2D", "MaxPool2D", "MaxPooling2D"]
