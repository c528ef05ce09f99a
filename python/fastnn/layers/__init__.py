"""Keras-style layers (DESIGN.md §2): each owns Parameters and calls ``fastnn.functional`` ops.

Convolution, pooling, normalization and recurrent layers slot in as further modules that
subclass ``Layer`` (``build`` / ``call`` / ``compute_output_shape`` / ``get_config``).
"""

from fastnn.layers.base import Layer
from fastnn.layers.conv import Conv2D, ZeroPadding2D
from fastnn.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from fastnn.layers.merge import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average,
                                 concatenate, maximum, minimum, multiply, subtract)
from fastnn.layers.normalization import BatchNormalization
from fastnn.layers.pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D,
                                   GlobalMaxPool2D, GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from fastnn.layers.symbolic import KerasTensor

# The classes a saved config may name, by module (one line per layer module).
_CLASSES = {c.__name__: c for c in (
    Layer, InputLayer, Dense, Activation, Dropout, Flatten, Reshape,
    Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate,
    MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
    BatchNormalization,
    Conv2D, ZeroPadding2D,
)}


def _model_classes() -> dict:
    """Models nest as layers (a Sequential inside a functional model); imported late (models
    import layers)."""
    from fastnn.functional_model import Functional
    from fastnn.models import Sequential

    return {"Sequential": Sequential, "Functional": Functional}


def serialize(layer: Layer) -> dict:
    """``{"class_name", "config"}`` (Keras' layout)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """The layer ``serialize`` described (``custom_objects`` maps extra class names)."""
    classes = {**_CLASSES, **_model_classes(), **(custom_objects or {})}
    if not isinstance(config, dict) or config.get("class_name") not in classes:
        raise ValueError(f"layers.deserialize: unknown layer {config.get('class_name') if isinstance(config, dict) else config!r}; "
                         f"known: {', '.join(sorted(classes))}")
    cls = classes[config["class_name"]]
    if cls.__name__ in ("Sequential", "Functional") and cls.__module__.startswith("fastnn."):
        return cls.from_config(dict(config.get("config", {})), custom_objects)
    return cls.from_config(dict(config.get("config", {})))


__all__ = [
    "Layer", "Input", "InputLayer", "KerasTensor", "deserialize", "serialize",
    "Activation", "Dense", "Dropout", "Flatten", "Reshape",
    "Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract",
    "add", "average", "concatenate", "maximum", "minimum", "multiply", "subtract",
    "AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
    "GlobalMaxPooling2D", "MaxPool2D", "MaxPooling2D",
    "BatchNormalization",
    "Conv2D", "ZeroPadding2D",
]
