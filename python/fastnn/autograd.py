"""The reverse pass over the Nodes recorded by ``fastnn.functional`` (DESIGN.md §7)."""

from __future__ import annotations

from fastnn import ops
from fastnn.backend import array_module


def _ones_like(arr):
    return array_module(arr).ones(arr.shape, dtype=arr.dtype)


def _accumulate(prev, grad):
    """prev + grad into a new array (gradients may be shared, see tensor.py)."""
    if prev is None:
        return grad
    return ops.binary("add", prev, grad)


def _check_grad(tensor, grad):
    if tuple(grad.shape) != tuple(tensor.data.shape):
        raise ValueError(f"backward: grad has shape {tuple(grad.shape)}, expected the tensor's shape "
                         f"{tuple(tensor.data.shape)}")


def _topological_order(root):
    """Tensors reachable from ``root`` through recorded Nodes, each after all that use it
    (iterative: deep graphs such as unrolled RNNs must not hit the recursion limit)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        node = tensor._node
        if node is not None:
            for inp in node.inputs:
                if inp is not None and id(inp) not in visited:
                    stack.append((inp, False))
    order.reverse()  # root first
    return order


def run_backward(root, grad=None) -> None:
    from fastnn.tensor import Tensor

    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require a gradient (no input had "
                           "requires_grad=True, or it was computed under fastnn.no_grad())")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward: grad can be implied only for a one-element tensor, this one "
                               f"has shape {tuple(root.data.shape)}; pass grad=")
        grad = _ones_like(root.data)
    else:
        grad = grad.data if isinstance(grad, Tensor) else grad
        xp = array_module(root.data)
        grad = xp.asarray(grad, dtype=root.data.dtype)
        _check_grad(root, grad)

    # pending[id] = (gradient, owned): "owned" arrays were made for this pass (a kernel's
    # fresh output or a sum); the caller's grad, a gradient a rule passed through unchanged
    # and views of either are borrowed, and are copied before they become someone's .grad.
    pending = {id(root): (grad, False)}
    for tensor in _topological_order(root):
        entry = pending.pop(id(tensor), None)
        if entry is None:
            continue
        g, owned = entry
        node = tensor._node
        if node is None or tensor._retains_grad:
            if tensor.grad is not None:
                tensor.grad = _leaf_grad(_accumulate(tensor.grad, g), True)
            else:
                tensor.grad = _leaf_grad(g, owned)
        if node is None:
            continue
        input_grads = node.backward(g)
        for inp, ig in zip(node.inputs, input_grads):
            if inp is None or ig is None:
                continue
            ig_owned = ig is not g and not _is_view(ig)
            prev = pending.get(id(inp))
            pending[id(inp)] = (ig, ig_owned) if prev is None else (_accumulate(prev[0], ig), True)


def _is_view(a) -> bool:
    """Whether ``a`` looks into another array's memory. A kernel's fresh output is not a view,
    though one from the host block cache has a base (the capsule that returns its block)."""
    return hasattr(getattr(a, "base", None), "shape")


def _leaf_grad(g, owned):
    """What ``.grad`` holds: a C-contiguous array of its own (the optimizers read it as one)."""
    if owned and g.flags.c_contiguous:
        return g
    return array_module(g).array(g, order="C", copy=True)
