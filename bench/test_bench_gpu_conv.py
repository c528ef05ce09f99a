"""GPU convolution, pooling and a whole CNN training step: fastnn's CUDA kernels against PyTorch
(cuDNN) on the same device, in the same run (issue 6: conv forward+backward of the MNIST CNN's
layers ≥ 0.7× cuDNN; the CNN step at least as fast as torch eager).

Cases, batch 128, float32, the classic MNIST CNN's shapes:

* conv1-fwd / conv1-fwdbwd: 1 -> 32 channels, 3x3, 28x28 input, valid, with bias; backward gives
  the filter and bias gradients only (a first layer needs no input gradient, in both systems);
* conv2-fwd / conv2-fwdbwd: 32 -> 64 channels, 3x3 on 13x13, valid; backward also gives dx;
* pool-fwdbwd: 2x2 max pooling of (128, 26, 26, 32) and its backward;
* cnn-step: Conv32(relu)-MaxPool-Conv64(relu)-MaxPool-Flatten-Dense128(relu)-Dense10, sparse
  cross-entropy from logits, backward, one Adam step.

fastnn runs NHWC (Keras' layout) through ``fastnn.functional`` with autograd, as a user writes
it; torch runs its modules with autograd in NCHW and in channels_last, and the faster of the two
is the "torch" number (BENCHMARKING.md), which one is recorded in extra_info. Timing, interleaving
and the report are those of test_bench_gpu_ops.py (kind "gpu-op"); each fastnn forward is
checked once against torch's (untimed) so a wrong kernel cannot post a number.
"""

from __future__ import annotations

import math
import time

import pytest

cp = pytest.importorskip("cupy", reason="CuPy not installed: no GPU benchmarks")

import bench_common as bench_conf  # noqa: E402
from test_bench_gpu_gemm import device_facts, synced_timer  # noqa: E402  (skips without a GPU)
import test_bench_gpu_gemm as gpu_gemm  # noqa: E402
from test_bench_gpu_ops import _torch_unavailable  # noqa: E402

fastnn = bench_conf.fastnn
torch = bench_conf.torch

CASES = ["conv1-fwd", "conv1-fwdbwd", "conv2-fwd", "conv2-fwdbwd", "pool-fwdbwd", "cnn-step"]
CONV = {"conv1": (28, 1, 32), "conv2": (13, 32, 64)}  # input size, cin, cout (3x3, valid)
BATCH = 128
SYSTEMS = ("fastnn", "torch")


def pytest_generate_tests(metafunc):
    if "gpu_conv_item" not in metafunc.fixturenames:
        return
    reps = bench_conf.bench_settings(metafunc.config)["reps"]
    params = []
    for rep in range(reps):
        for case in CASES:
            for system in SYSTEMS:
                why = _torch_unavailable() if system == "torch" else None
                if system == "fastnn" and not hasattr(fastnn.functional, "conv2d"):
                    why = "this fastnn has no conv2d"
                marks = [pytest.mark.skip(reason=why)] if why else []
                params.append(pytest.param((case, rep, system), marks=marks, id=f"{case}-r{rep}-{system}"))
    metafunc.parametrize("gpu_conv_item", params)


def _fastnn_conv(layer, backward):
    import fastnn.functional as Fn

    size, cin, cout = CONV[layer]
    rs = cp.random.RandomState(3)
    x = rs.standard_normal((BATCH, size, size, cin), dtype=cp.float32)
    w = rs.standard_normal((3, 3, cin, cout), dtype=cp.float32) * (1.0 / math.sqrt(9 * cin))
    b = rs.standard_normal(cout, dtype=cp.float32) * 0.1
    dy = rs.standard_normal((BATCH, size - 2, size - 2, cout), dtype=cp.float32)
    X = fastnn.Tensor(x, requires_grad=backward and layer == "conv2")
    W, B = fastnn.Parameter(w), fastnn.Parameter(b)

    def call():
        if not backward:
            with fastnn.no_grad():
                return Fn.conv2d(X, W, B)
        W.grad = B.grad = X.grad = None
        y = Fn.conv2d(X, W, B)
        y.backward(dy)
        return y
    return call, (x, w, b)


def _memory_format(channels_last):
    return torch.channels_last if channels_last else torch.contiguous_format


def _torch_conv(layer, backward, channels_last, arrays):
    x, w, b = arrays
    fmt = _memory_format(channels_last)
    xt = torch.as_tensor(x, device="cuda").permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    conv = torch.nn.Conv2d(w.shape[2], w.shape[3], 3).cuda().to(memory_format=fmt)
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(w, device="cuda").permute(3, 2, 0, 1))
        conv.bias.copy_(torch.as_tensor(b, device="cuda"))
    if backward and layer == "conv2":
        xt.requires_grad_()
    dy = torch.randn(conv(xt).shape, device="cuda").contiguous(memory_format=fmt)

    def call():
        if not backward:
            with torch.no_grad():
                return conv(xt)
        conv.zero_grad(set_to_none=True)
        xt.grad = None
        y = conv(xt)
        y.backward(dy)
        return y
    return call


def _fastnn_pool():
    import fastnn.functional as Fn

    rs = cp.random.RandomState(4)
    X = fastnn.Tensor(rs.standard_normal((BATCH, 26, 26, 32), dtype=cp.float32), requires_grad=True)
    dy = rs.standard_normal((BATCH, 13, 13, 32), dtype=cp.float32)

    def call():
        X.grad = None
        y = Fn.max_pool2d(X, 2)
        y.backward(dy)
        return y
    return call, X.data


def _torch_pool(channels_last, x):
    fmt = _memory_format(channels_last)
    xt = torch.as_tensor(x, device="cuda").permute(0, 3, 1, 2).contiguous(memory_format=fmt).requires_grad_()
    dy = torch.randn((BATCH, 32, 13, 13), device="cuda").contiguous(memory_format=fmt)

    def call():
        xt.grad = None
        y = torch.nn.functional.max_pool2d(xt, 2)
        y.backward(dy)
        return y
    return call


def _cnn_data():
    rs = cp.random.RandomState(8)
    return rs.random_sample((BATCH, 28, 28, 1), dtype=cp.float32), rs.randint(0, 10, BATCH).astype(cp.int64)


def _fastnn_cnn_step():
    import fastnn.functional as Fn

    x, y = _cnn_data()
    fastnn.manual_seed(0)
    init = fastnn.initializers.get("glorot_uniform")
    shapes = [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (1600, 128), (128,), (128, 10), (10,)]
    params = [fastnn.Parameter(cp.asarray(init(s)) if len(s) > 1 else cp.zeros(s, cp.float32)) for s in shapes]
    c1, cb1, c2, cb2, w1, b1, w2, b2 = params
    opt = fastnn.optimizers.Adam(learning_rate=1e-3)
    xin = fastnn.Tensor(x)

    def call():
        h = Fn.max_pool2d(Fn.conv2d(xin, c1, cb1, activation="relu"), 2)
        h = Fn.max_pool2d(Fn.conv2d(h, c2, cb2, activation="relu"), 2)
        h = Fn.linear(Fn.reshape(h, (BATCH, 1600)), w1, b1, activation="relu")
        loss = fastnn.losses.sparse_categorical_crossentropy(y, Fn.linear(h, w2, b2), from_logits=True)
        opt.zero_grad(params)
        loss.backward()
        opt.step(params)
    return call


def _torch_cnn_step(channels_last):
    fmt = _memory_format(channels_last)
    x, y = _cnn_data()
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(),
                          nn.Linear(128, 10)).cuda().to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt = torch.as_tensor(x, device="cuda").permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    yt = torch.as_tensor(y, device="cuda")

    def call():
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return call


def _quick_seconds(call, n=20):
    call()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n


def _faster_torch(make):
    """(call, layout): torch's faster memory format for this case (NCHW or channels_last)."""
    options = {"nchw": make(False), "channels_last": make(True)}
    layout = min(options, key=lambda k: _quick_seconds(options[k]))
    return options[layout], layout


def make_case(case, system):
    """(call, check pair or None, elements, torch layout or None)."""
    if case == "cnn-step":
        if system == "fastnn":
            return _fastnn_cnn_step(), None, BATCH, None
        call, layout = _faster_torch(_torch_cnn_step)
        return call, None, BATCH, layout
    if case == "pool-fwdbwd":
        fcall, x = _fastnn_pool()
        if system == "fastnn":
            return fcall, None, x.size, None
        call, layout = _faster_torch(lambda cl: _torch_pool(cl, x))
        return call, None, x.size, layout
    layer, _, kind = case.partition("-")
    backward = kind == "fwdbwd"
    fcall, arrays = _fastnn_conv(layer, backward)
    size, cin, cout = CONV[layer]
    elements = BATCH * (size - 2) ** 2 * cout
    if system == "fastnn":
        ref = _torch_conv(layer, False, False, arrays)
        pair = (fcall().data, ref().permute(0, 2, 3, 1))
        return fcall, pair, elements, None
    call, layout = _faster_torch(lambda cl: _torch_conv(layer, backward, cl, arrays))
    return call, None, elements, layout


def check(case, pair):
    """fastnn's output against torch's (float32 both; cuDNN may pick TF32-free but differently
    ordered sums): relative max error < 1e-4."""
    mine, theirs = pair
    a = cp.asarray(mine).astype(cp.float64).ravel()
    b = cp.asarray(theirs.contiguous()).astype(cp.float64).ravel()
    assert bool(cp.isfinite(a).all()), f"{case}: non-finite fastnn output"
    err = float(cp.abs(a - b).max() / max(float(cp.abs(b).max()), 1e-30))
    assert err < 1e-4, f"{case}: fastnn differs from torch by {err:.3g} (relative max)"


def test_gpu_conv(benchmark, gpu_conv_item):
    case, rep, system = gpu_conv_item
    if torch is not None:
        torch.backends.cudnn.allow_tf32 = False  # float32 against float32
        torch.backends.cudnn.benchmark = True    # cuDNN picks its fastest algorithm, as tuned users run it
    call, pair, elements, layout = make_case(case, system)
    if rep == 0 and pair is not None and torch is not None and torch.cuda.is_available():
        cp.cuda.runtime.deviceSynchronize()
        check(case, pair)
    call()
    who = "torch" if system != "fastnn" else "fastnn"
    one_gpu, one_host = gpu_gemm.event_seconds(call, 1, who)
    n = int(min(2000, max(1, math.ceil(5e-3 / max(one_gpu, one_host)))))
    gpu_s, host_s = gpu_gemm.event_seconds(call, n, who)
    rounds, iterations = gpu_gemm.plan(max(gpu_s, host_s))
    benchmark.group = f"gpu-op {case}"
    benchmark.extra_info.update(kind="gpu-op", op=case, system=system, elements=elements, repetition=rep,
                                gpu_event_s=gpu_s, rounds=rounds, iterations=iterations, torch_layout=layout,
                                **device_facts())
    benchmark._timer = synced_timer
    benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=1)
