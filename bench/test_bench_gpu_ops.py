"""GPU element-wise activations, fused softmax cross-entropy and optimizer steps: fastnn's CUDA
kernels against PyTorch CUDA on the same device, in the same run.

Skips cleanly (at collection) without CuPy, a CUDA device, or fastnn's CUDA build; the torch
items skip without a CUDA torch. Cases (the issue's CPU shapes, plus a large size where the
small one is launch-bound):

* activation fwd+bwd on 1M and 16M float32: fastnn ``activation`` + ``activation_backward``
  into preallocated outputs; torch: the op and autograd's backward, as a user runs it;
* softmax cross-entropy, loss and d(mean loss)/d(logits), 128x10 and 4096x1000: fastnn's one
  kernel; torch ``F.cross_entropy`` + backward;
* one Adam step over 2^20 parameters in 10 tensors: fastnn's one launch; torch.optim.Adam's
  default on CUDA (foreach) and ``fused=True``;
* adam-class-1M: the same step through ``fastnn.optimizers.Adam().step(params)`` (the class
  wrapper's overhead over the bare call); torch as in adam-1M;
* adam-gclip-1M: global-norm clipping to 1.0 and the step: fastnn's one call (norm pre-pass
  kernels on the stream, no host sync); torch ``clip_grad_norm_`` + ``Adam.step``.

Timing as in test_bench_gpu_gemm.py: pytest-benchmark with the synchronizing timer (drain the
GPU, launch ``iterations`` calls, wait for them), so times are GPU-complete and include the
launch cost a Python caller pays. Systems interleave within each repetition. Each fastnn
result is checked once against torch (untimed) so a wrong kernel cannot post a number.
Report: ``python bench/report.py JSON`` (kind "gpu-op").
"""

from __future__ import annotations

import math

import pytest

cp = pytest.importorskip("cupy", reason="CuPy not installed: no GPU benchmarks")

import bench_common as bench_conf  # noqa: E402
from test_bench_gpu_gemm import device_facts, synced_timer  # noqa: E402  (skips without a GPU)
import test_bench_gpu_gemm as gpu_gemm  # noqa: E402

fastnn = bench_conf.fastnn
torch = bench_conf.torch

ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "elu", "softplus")
CASES = ([f"act-{name}-{n}" for n in ("1M", "16M") for name in ACTIVATIONS]
         + ["ce-128x10", "ce-4096x1000", "adam-1M", "adam-class-1M", "adam-gclip-1M",
            "ew-add-16M", "ew-addbias-128x256", "ew-sum0-1024x784", "drop-16M",
            "loss-mse-4096x1000", "loss-bcelogits-4096x1000", "step-mlp-128"])
SIZES = {"1M": 1 << 20, "16M": 1 << 24}
CE_SHAPES = {"128x10": (128, 10), "4096x1000": (4096, 1000)}
ADAM_SIZES = [1 << 17] * 6 + [1 << 16] * 4  # 10 tensors, 2^20 parameters
SYSTEMS = ("fastnn", "torch", "torch_fused")  # torch_fused: Adam only


def _torch_unavailable():
    if torch is None:
        return "torch not installed"
    if not torch.cuda.is_available():
        return "torch has no usable CUDA"
    return None


def pytest_generate_tests(metafunc):
    if "gpu_op_item" not in metafunc.fixturenames:
        return
    reps = bench_conf.bench_settings(metafunc.config)["reps"]
    params = []
    for rep in range(reps):
        for case in CASES:
            for system in SYSTEMS:
                if system == "torch_fused" and not case.startswith("adam"):
                    continue
                why = None if system == "fastnn" else _torch_unavailable()
                marks = [pytest.mark.skip(reason=why)] if why else []
                params.append(pytest.param((case, rep, system), marks=marks,
                                           id=f"{case}-r{rep}-{system}"))
    metafunc.parametrize("gpu_op_item", params)


def _torch_act(name):
    F = torch.nn.functional
    return {"relu": torch.relu, "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
            "silu": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "elu": F.elu,
            "softplus": F.softplus}[name]


def _act_case(system, name, n):
    rs = cp.random.RandomState(7)
    x = rs.standard_normal(n, dtype=cp.float32) * 3
    dy = rs.standard_normal(n, dtype=cp.float32)
    if system == "fastnn":
        y, dx = cp.empty_like(x), cp.empty_like(x)

        def call():
            fastnn.activation(x, name, out=y)
            fastnn.activation_backward(x, dy, name, out=dx)
        call()
        xt = torch.as_tensor(x, device="cuda").clone().requires_grad_()
        yt = _torch_act(name)(xt)
        yt.backward(torch.as_tensor(dy, device="cuda"))
        return call, [(y, yt.detach()), (dx, xt.grad)], 2 * n
    xt = torch.as_tensor(x, device="cuda").clone().requires_grad_()
    dyt = torch.as_tensor(dy, device="cuda")
    fn = _torch_act(name)

    def call():
        xt.grad = None
        fn(xt).backward(dyt)
    return call, [], 2 * n


def _ce_case(system, rows, classes):
    rs = cp.random.RandomState(11)
    x = rs.standard_normal((rows, classes), dtype=cp.float32) * 3
    labels = rs.randint(0, classes, rows).astype(cp.int64)
    xt = torch.as_tensor(x, device="cuda").clone().requires_grad_()
    lt = torch.as_tensor(labels, device="cuda")
    if system == "fastnn":
        def call():
            return fastnn.softmax_cross_entropy(x, labels, grad_scale=1.0 / rows)
        loss, grad = call()
        ref = torch.nn.functional.cross_entropy(xt, lt, reduction="none")
        ref.sum().div(rows).backward()
        return call, [(loss, ref.detach()), (grad, xt.grad)], rows * classes

    def call():
        xt.grad = None
        torch.nn.functional.cross_entropy(xt, lt).backward()
    return call, [], rows * classes


class _Param:
    """The parameter duck type fastnn.optimizers works on."""

    def __init__(self, data, grad):
        self.data = data
        self.grad = grad


def _adam_case(system, variant):
    """variant: "" (the bare fused call), "class" (fastnn.optimizers.Adam) or "gclip"
    (global-norm clipping to 1.0 in the same step)."""
    rs = cp.random.RandomState(5)
    params = [rs.standard_normal(n, dtype=cp.float32) for n in ADAM_SIZES]
    grads = [rs.standard_normal(n, dtype=cp.float32) for n in ADAM_SIZES]
    clip = 1.0 if variant == "gclip" else None
    if system == "fastnn":
        if variant == "class":
            from fastnn.optimizers import Adam  # not (yet) imported by fastnn/__init__

            opt = Adam(learning_rate=1e-3, epsilon=1e-8)
            objs = [_Param(p, g) for p, g in zip(params, grads)]

            def call():
                opt.step(objs)
        else:
            states = [[cp.zeros_like(p), cp.zeros_like(p), None] for p in params]
            counter = [0]
            # torch's default epsilon (Keras': 1e-7), same work. Clipped to a global norm of 1, the
            # gradients are ~1e-3, where Keras' epsilon-hat and torch's epsilon differ visibly for
            # the smallest ones: there the checked first step uses torch's epsilon in Keras' form,
            # eps * sqrt(1 - beta_2), which makes the two formulas identical at step 1.
            eps = 1e-8 if clip is None else 1e-8 * math.sqrt(1 - 0.999)
            extra = {} if clip is None else {"global_clip_norm": clip}

            def call():
                counter[0] += 1
                fastnn.optimizer_step("adam", params, grads, states, iteration=counter[0], learning_rate=1e-3,
                                      epsilon=eps, **extra)
        # one step from equal starting points, checked against torch's Adam
        start = [p.copy() for p in params]
        call()
        tp = [torch.as_tensor(p, device="cuda").clone().requires_grad_() for p in start]
        for t, g in zip(tp, grads):
            t.grad = torch.as_tensor(g, device="cuda").clone()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(tp, clip)
        torch.optim.Adam(tp, lr=1e-3).step()
        return call, [(p, t.detach()) for p, t in zip(params, tp)], sum(ADAM_SIZES)
    tp = [torch.as_tensor(p, device="cuda").clone().requires_grad_() for p in params]
    for t, g in zip(tp, grads):
        t.grad = torch.as_tensor(g, device="cuda").clone()
    opt = torch.optim.Adam(tp, lr=1e-3, fused=(system == "torch_fused"))
    if clip is None:
        return opt.step, [], sum(ADAM_SIZES)
    clip_grad_norm = torch.nn.utils.clip_grad_norm_

    def call():
        clip_grad_norm(tp, clip)
        opt.step()
    return call, [], sum(ADAM_SIZES)


def _elementwise_case(system, rest):
    rs = cp.random.RandomState(3)
    if rest == "add-16M":
        a, b = rs.standard_normal((2, 1 << 24), dtype=cp.float32)
    elif rest == "addbias-128x256":
        a, b = rs.standard_normal((128, 256), dtype=cp.float32), rs.standard_normal(256, dtype=cp.float32)
    else:  # sum0-1024x784
        a, b = rs.standard_normal((1024, 784), dtype=cp.float32), None
    at = torch.as_tensor(a, device="cuda")
    if b is None:
        out, out_t = cp.empty(784, cp.float32), torch.empty(784, device="cuda")
        if system == "fastnn":
            call = lambda: fastnn.ops.reduce_sum(a, axis=0, out=out)  # noqa: E731
            call()
            return call, [(out, at.sum(0))], a.size
        return lambda: torch.sum(at, 0, out=out_t), [], a.size
    bt = torch.as_tensor(b, device="cuda")
    out, out_t = cp.empty_like(a), torch.empty_like(at)
    if system == "fastnn":
        call = lambda: fastnn.ops.binary("add", a, b, out=out)  # noqa: E731
        call()
        return call, [(out, at + bt)], a.size
    return lambda: torch.add(at, bt, out=out_t), [], a.size


def _dropout_case(system):
    rs = cp.random.RandomState(4)
    x, dy = rs.standard_normal((2, 1 << 24), dtype=cp.float32)
    if system == "fastnn":
        def call():
            y, key, offset = fastnn.ops.dropout(x, 0.3)
            fastnn.ops.dropout_backward(dy, 0.3, key, offset)
        return call, [], x.size
    xt = torch.as_tensor(x, device="cuda").clone().requires_grad_()
    dyt = torch.as_tensor(dy, device="cuda")

    def call():
        xt.grad = None
        torch.nn.functional.dropout(xt, 0.3, training=True).backward(dyt)
    return call, [], x.size


def _loss_case(system, rest):
    rs = cp.random.RandomState(6)
    p = rs.standard_normal((4096, 1000), dtype=cp.float32)
    t = rs.standard_normal((4096, 1000), dtype=cp.float32) if rest.startswith("mse") else \
        (rs.random_sample((4096, 1000)) < 0.5).astype(cp.float32)
    kind, logits = ("mean_squared_error", False) if rest.startswith("mse") else ("binary_crossentropy", True)
    pt = torch.as_tensor(p, device="cuda").clone().requires_grad_()
    tt = torch.as_tensor(t, device="cuda")
    F = torch.nn.functional

    def torch_rows():
        per = F.mse_loss(pt, tt, reduction="none") if not logits else \
            F.binary_cross_entropy_with_logits(pt, tt, reduction="none")
        return per.mean(-1)
    if system == "fastnn":
        def call():
            rows = fastnn.ops.loss(kind, t, p, from_logits=logits)
            return rows, fastnn.ops.loss_backward(kind, t, p, 1.0 / 4096, from_logits=logits)
        rows, grad = call()
        ref = torch_rows()
        ref.mean().backward()
        return call, [(rows, ref.detach()), (grad, pt.grad)], p.size

    def call():
        pt.grad = None
        torch_rows().mean().backward()
    return call, [], p.size


def _mlp_step_case(system):
    """One training step of the 784-128-10 MLP at batch 128 (Adam, sparse CE from logits)."""
    rs = cp.random.RandomState(8)
    x = rs.random_sample((128, 784), dtype=cp.float32)
    y = rs.randint(0, 10, 128).astype(cp.int64)
    if system == "fastnn":
        import fastnn.functional as Fn
        fastnn.manual_seed(0)
        init = fastnn.initializers.get("glorot_uniform")
        params = [fastnn.Parameter(cp.asarray(init((784, 128)))), fastnn.Parameter(cp.zeros(128, cp.float32)),
                  fastnn.Parameter(cp.asarray(init((128, 10)))), fastnn.Parameter(cp.zeros(10, cp.float32))]
        w1, b1, w2, b2 = params
        opt = fastnn.optimizers.Adam(learning_rate=1e-3)
        xin = fastnn.Tensor(x)

        def call():
            logits = Fn.linear(Fn.linear(xin, w1, b1, activation="relu"), w2, b2)
            loss = fastnn.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            opt.zero_grad(params)
            loss.backward()
            opt.step(params)
        return call, [], 128
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.as_tensor(x, device="cuda"), torch.as_tensor(y, device="cuda")

    def call():
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return call, [], 128


def make_case(case, system):
    kind, _, rest = case.partition("-")
    if kind == "ew":
        return _elementwise_case(system, rest)
    if kind == "drop":
        return _dropout_case(system)
    if kind == "loss":
        return _loss_case(system, rest)
    if kind == "step":
        return _mlp_step_case(system)
    if kind == "act":
        name, size = rest.rsplit("-", 1)
        return _act_case(system, name, SIZES[size])
    if kind == "ce":
        return _ce_case(system, *CE_SHAPES[rest])
    return _adam_case(system, "" if rest == "1M" else rest.rsplit("-", 1)[0])  # adam-[class-|gclip-]1M


def check(case, pairs):
    """fastnn's outputs against torch's, float32 on both sides: relative max error < 1e-4."""
    for mine, theirs in pairs:
        a = cp.asarray(mine).astype(cp.float64).ravel()
        b = cp.asarray(theirs).astype(cp.float64).ravel()
        assert bool(cp.isfinite(a).all()), f"{case}: non-finite fastnn output"
        err = float(cp.abs(a - b).max() / max(float(cp.abs(b).max()), 1e-30))
        assert err < 1e-4, f"{case}: fastnn differs from torch by {err:.3g} (relative max)"


def test_gpu_op(benchmark, gpu_op_item):
    case, rep, system = gpu_op_item
    call, pairs, elements = make_case(case, system)
    if rep == 0 and pairs:
        cp.cuda.runtime.deviceSynchronize()
        check(case, pairs)
    call()
    one_gpu, one_host = gpu_gemm.event_seconds(call, 1, "torch" if system != "fastnn" else "fastnn")
    n = int(min(5000, max(1, math.ceil(5e-3 / max(one_gpu, one_host)))))
    gpu_s, host_s = gpu_gemm.event_seconds(call, n, "torch" if system != "fastnn" else "fastnn")
    rounds, iterations = gpu_gemm.plan(max(gpu_s, host_s))
    benchmark.group = f"gpu-op {case}"
    benchmark.extra_info.update(kind="gpu-op", op=case, system=system, elements=elements, repetition=rep,
                                gpu_event_s=gpu_s, rounds=rounds, iterations=iterations, **device_facts())
    benchmark._timer = synced_timer
    benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=1)
