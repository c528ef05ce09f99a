"""Keras-style layers (DESIGN.md §2): each owns Parameters and calls ``fastnn.functional`` ops.

Convolution, pooling, normalization and recurrent layers slot in as further modules that
subclass ``Layer`` (``build`` / ``call`` / ``compute_output_shape`` / ``get_config``).
"""

from fastnn.layers.base import Layer
from fastnn.layers.conv import Conv2D, ZeroPadding2D
from fastnn.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape

_CLASSES = {c.__name__: c for c in (Layer, InputLayer, Dense, Activation, Dropout, Flatten, Reshape, Conv2D,
                                    ZeroPadding2D)}


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


__all__ = ["Activation", "Conv2D", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Layer", "Reshape", "ZeroPadding2D",
           "deserialize", "serialize"]
