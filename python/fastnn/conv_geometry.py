"""The geometry of a 2-D convolution: argument normalisation and Keras' output-size rules.

Shared by ``fastnn.functional.conv2d``, the ``Conv2D`` layer and the NumPy reference, so the
three agree on what ``padding='same'`` means. Pure Python, no arrays.

Keras' rules (``keras.src.ops.operation_utils.compute_conv_output_shape``), with the effective
kernel size ``ek = (k - 1) * dilation + 1``:

* ``'valid'``: out = floor((in - ek) / stride) + 1, no padding (an error when ``ek > in``);
* ``'same'``:  out = ceil(in / stride), total padding = max((out - 1) * stride + ek - in, 0),
  ``before = total // 2``, ``after = total - before`` (the extra pixel goes after, as in
  TensorFlow);
* explicit ``((top, bottom), (left, right))`` (or an int / a pair for symmetric padding):
  out = floor((in + before + after - ek) / stride) + 1.
"""

from __future__ import annotations

import numbers


def pair(op: str, name: str, value, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints (each >= ``minimum``) as a pair; ValueError / TypeError naming
    ``op`` and the argument otherwise."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        items = (int(value), int(value))
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
        if len(items) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        items = (int(items[0]), int(items[1]))
    if min(items) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return items


def explicit_padding(op: str, padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """An int p, a pair (ph, pw) or ((top, bottom), (left, right)) as ((top, bottom), (left, right))."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        p = int(padding)
        if p < 0:
            raise ValueError(f"{op}: padding must be >= 0, got {padding!r}")
        return (p, p), (p, p)
    try:
        items = tuple(padding)
    except TypeError:
        items = ()
    if len(items) != 2:
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int, a pair (ph, pw) or "
                         f"((top, bottom), (left, right)), got {padding!r}")
    out = []
    for item in items:
        if isinstance(item, numbers.Integral) and not isinstance(item, bool):
            out.append((int(item), int(item)))
        else:
            out.append(pair(op, "padding", item, minimum=0))
    if min(out[0] + out[1]) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding!r}")
    return out[0], out[1]


def same_padding(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """Keras' 'same' padding (before, after) of one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def resolve_padding(op: str, padding, in_hw, k_hw, strides, dilation):
    """``padding`` ('valid', 'same' or explicit) as ((top, bottom), (left, right)) for an input of
    spatial size ``in_hw`` (pairs of ints)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return tuple(same_padding(in_hw[i], k_hw[i], strides[i], dilation[i]) for i in range(2))
        raise ValueError(f"{op}: padding must be 'valid', 'same' or explicit sizes, got {padding!r}")
    return explicit_padding(op, padding)


def output_size(size: int, k: int, stride: int, dilation: int, before: int, after: int) -> int:
    """Output length of one spatial axis (may be <= 0 when the kernel does not fit)."""
    return (size + before + after - ((k - 1) * dilation + 1)) // stride + 1
