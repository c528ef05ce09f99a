"""fastnn.Tensor: one NumPy or CuPy array plus what reverse-mode autograd needs (DESIGN.md §3, §7).

A Tensor made by a differentiable op (``fastnn.functional``) while gradients are recorded holds a
``Node``: the input Tensors, the backward rule (a closure over what the forward saved) and the
op's name. ``backward()`` walks these nodes from the output in reverse topological order, calls
each rule once with the summed gradient of its output, and accumulates into ``.grad`` of the
leaves that require it, so a tensor used twice gets the sum of both paths.

Gradients are never written in place, and ``.grad`` is always an array of its own.

What the forward saved is the arrays themselves, not copies (NumPy has no version counters): an
array changed in place between the forward and ``backward()`` -- ``w.data[...] = ...``, or an
optimizer step -- changes the gradient too. Call ``backward()`` before updating the parameters.
"""

from __future__ import annotations

import threading

import numpy as np

from fastnn.backend import is_cuda_array

_state = threading.local()  # grad mode is per thread, as in PyTorch


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


class _GradMode:
    """Base of ``no_grad`` / ``enable_grad``: a context manager and a decorator (with or without
    parentheses; generator functions run each step in the mode)."""

    _enabled: bool

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self(fn) if callable(fn) else self  # bare @no_grad

    def __init__(self, fn=None):
        pass

    def __enter__(self):
        self._previous = is_grad_enabled()
        _state.enabled = self._enabled
        return self

    def __exit__(self, *exc):
        _state.enabled = self._previous
        return False

    def __call__(self, fn):
        import functools
        import inspect

        mode = type(self)
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generator(*args, **kwargs):
                gen = fn(*args, **kwargs)
                try:
                    with mode():
                        response = gen.send(None)
                    while True:
                        try:
                            request = yield response
                        except GeneratorExit:
                            gen.close()
                            raise
                        except BaseException as exc:  # thrown in: forward it, in the mode
                            with mode():
                                response = gen.throw(exc)
                        else:
                            with mode():
                                response = gen.send(request)
                except StopIteration as stop:
                    return stop.value
            return generator

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with mode():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Turns gradient recording off (inference, parameter updates): ``with fastnn.no_grad(): ...``."""

    _enabled = False


class enable_grad(_GradMode):
    """Turns gradient recording back on inside a ``no_grad`` block."""

    _enabled = True


class Node:
    """How a Tensor was made: its inputs and the rule mapping its gradient to theirs."""

    __slots__ = ("name", "inputs", "backward")

    def __init__(self, name, inputs, backward):
        self.name = name
        self.inputs = inputs      # tuple of Tensor (or None where an input needs no gradient)
        self.backward = backward  # grad array -> tuple of arrays/None, one per input


def _as_array(data, dtype):
    """The array a Tensor wraps. Floating data becomes float32 (the kernels' type, Keras'
    floatx) unless a dtype is given; integer and boolean data (labels, masks) keep theirs."""
    if is_cuda_array(data):
        arr = data
    else:
        arr = np.asarray(data)
    if dtype is not None:
        dt = np.dtype(dtype)
        return arr if arr.dtype == dt else arr.astype(dt)
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        return arr.astype(np.float32)
    return arr


class Tensor:
    """An n-dimensional array (NumPy on the CPU, CuPy on the GPU) that can record the ops made
    from it and differentiate through them.

    ``Tensor(data, requires_grad=False, dtype=None)``: ``data`` is an array, a nested list or a
    number (floating data is stored as float32 unless ``dtype`` says otherwise), or a Tensor
    (its array is shared).
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_retains_grad", "name", "__weakref__")
    __array_priority__ = 1000  # numpy_array + tensor -> Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating tensors can require gradients, got dtype {self.data.dtype}")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._retains_grad = False
        self.name = name

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def _from_op(cls, data, name, inputs, backward):
        """The result of a differentiable op: records a Node when any input requires a gradient
        and recording is on."""
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        out._retains_grad = False
        out.name = None
        if is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs):
            out.requires_grad = True
            out._node = Node(name, tuple(t if t is not None and t.requires_grad else None for t in inputs),
                             backward)
        else:
            out.requires_grad = False
            out._node = None
        return out

    # ------------------------------------------------------------------ array facts
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda:N"``."""
        if is_cuda_array(self.data):
            return f"cuda:{self.data.device.id}"
        return "cpu"

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        """The Node that made this tensor (None for leaves)."""
        return self._node

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU; shared on the CPU)."""
        if is_cuda_array(self.data):
            return self.data.get()
        return self.data

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous (use .any() or .all() "
                             "on .numpy())")
        return bool(self.item())

    def item(self) -> float:
        if self.size != 1:
            raise ValueError(f"Tensor.item: only a tensor of one element converts to a number, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def tolist(self):
        return self.numpy().tolist()

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), precision=4, separator=", ", prefix="Tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._node is not None:
            extras.append(f"grad_fn={self._node.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"Tensor({body}{''.join(', ' + e for e in extras)})"

    # ------------------------------------------------------------------ autograd
    def detach(self) -> "Tensor":
        """The same array, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating tensors can require gradients, got dtype {self.data.dtype}")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad_: only leaf tensors can stop requiring gradients (use detach())")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after ``backward``."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require a gradient")
        self._retains_grad = True

    def zero_grad(self) -> None:
        self.grad = None

    def backward(self, grad=None) -> None:
        """Accumulates d(self)/d(leaf) * grad into ``.grad`` of every leaf that requires it.
        ``grad`` defaults to 1 for a one-element tensor."""
        from fastnn.autograd import run_backward

        run_backward(self, grad)

    # ------------------------------------------------------------------ device moves
    def to(self, device: str) -> "Tensor":
        """A copy on ``"cpu"`` or ``"cuda"``/``"cuda:N"`` (differentiable); self when it is there."""
        return F.to_device(self, device)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device: int | None = None) -> "Tensor":
        return self.to("cuda" if device is None else f"cuda:{device}")

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.subtract(self, other)

    def __rsub__(self, other):
        return F.subtract(other, self)

    def __mul__(self, other):
        return F.multiply(self, other)

    def __rmul__(self, other):
        return F.multiply(other, self)

    def __truediv__(self, other):
        return F.divide(self, other)

    def __rtruediv__(self, other):
        return F.divide(other, self)

    def __neg__(self):
        return F.negative(self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        return F.power(self, exponent)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    # ------------------------------------------------------------------ shape and reductions
    def sum(self, axis=None, keepdims: bool = False):
        return F.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return F.mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return F.reshape(self, shape)

    def view(self, *shape):
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0):
        """Axes from ``start_dim`` on merged into one (PyTorch's ``flatten(start_dim)``)."""
        ndim = max(self.ndim, 1)
        if not -ndim <= start_dim < ndim:
            raise ValueError(f"flatten: start_dim {start_dim} is out of range for a tensor of {self.ndim} dimensions")
        return F.reshape(self, self.shape[:start_dim % ndim] + (-1,))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return F.transpose(self, axes or None)

    @property
    def T(self):
        return F.transpose(self, None)

    def __getitem__(self, index):
        return F.getitem(self, index)

    def argmax(self, axis=None):
        """Indices of the maxima (not differentiable)."""
        return Tensor(self.data.argmax(axis=axis))

    # ------------------------------------------------------------------ activations
    def relu(self):
        return F.relu(self)

    def sigmoid(self):
        return F.sigmoid(self)

    def tanh(self):
        return F.tanh(self)

    def exp(self):
        return F.exponential(self)

    def softmax(self, axis: int = -1):
        return F.softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1):
        return F.log_softmax(self, axis=axis)


class Parameter(Tensor):
    """A Tensor that a layer or model owns and trains: ``requires_grad`` is True by default."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None, name: str | None = None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor"):]


def tensor(data, requires_grad: bool = False, dtype=None, device: str | None = None) -> Tensor:
    """``Tensor(data, ...)``, placed on ``device`` when given."""
    t = Tensor(data, requires_grad=requires_grad, dtype=dtype)
    if device is not None and device != t.device and not (device == "cuda" and t.device.startswith("cuda")):
        t = Tensor(F.to_device(t, device).data, requires_grad=requires_grad, dtype=dtype)
    return t


from fastnn import functional as F  # noqa: E402  (functional builds on Tensor)
