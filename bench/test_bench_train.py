"""Seconds per 60,000-image MNIST epoch of the same model: fastnn ``model.fit``, PyTorch eager
(the idiomatic loop) and Keras 3 on the torch backend (``model.fit``), batch 128, Adam.

    FASTNN_DATA=/path/to/mnist pytest bench/test_bench_train.py --benchmark-json=/tmp/train.json
    python bench/report.py /tmp/train.json -o bench/results/train-cpu-$(date +%F).md

Models: ``mlp`` 784-256-128-10 (relu, relu, softmax) and ``cnn`` Conv32-Pool-Conv64-Pool-Dense128-
Dense10. Every system trains its own copy of
the model on the full MNIST training set (float32 in [0, 1], integer labels, reshuffled each
epoch), one epoch per measurement; fastnn and Keras also compute the accuracy metric, as
``compile(metrics=["accuracy"])`` users do; the PyTorch loop computes nothing beyond the loss.

Order: threads > case > repetition > system, so the systems are interleaved within each
repetition (fastnn, torch, keras, fastnn, torch, keras, ...). For the CNN PyTorch runs twice,
NCHW (``torch``) and channels_last (``torch_cl``), and the ratios use the faster of the two in
each repetition (BENCHMARKING.md). Before its first timed epoch each
system trains one untimed warm-up epoch. Repetitions: ``--bench-reps`` / ``BENCH_REPS``, at least
3 (default 5). Threads: 2 unless ``--bench-threads`` / ``BENCH_THREADS`` says otherwise, fixed
for every system (``fastnn.set_num_threads``, ``torch.set_num_threads``, which Keras' torch
backend uses, and threadpoolctl for NumPy).

Device: ``BENCH_DEVICE=cuda`` (default ``cpu``) trains on the GPU (issue 6: fastnn's CNN epoch at
most PyTorch eager's): fastnn moves the model with ``model.to("cuda")`` and ``fit`` feeds it the
host arrays (pinned staging, copies overlapped with the step); PyTorch gets its fastest idiomatic
loop, the whole dataset resident on the GPU and a ``torch.randperm`` on the device; Keras on the
torch backend runs on the GPU torch picks. Each timed epoch ends with a device synchronize.

Skips cleanly: without the full MNIST (``fastnn.datasets.mnist.load_data(download=False)``:
``$FASTNN_DATA`` or the cache), without torch (torch and keras items), without Keras 3 on the
torch backend (keras items), and with ``BENCH_DEVICE=cuda``, for each system without a usable GPU.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench_common import bench_settings, fastnn, torch

# Keras 3.15's torch backend converts each batch's logs with np.array(tensor), which NumPy 2 answers
# with a DeprecationWarning per call; a user sees it once, pytest would record ~1,000 per epoch.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

MODELS = ("mlp", "cnn")
DEVICE = os.environ.get("BENCH_DEVICE", "cpu")
if DEVICE not in ("cpu", "cuda"):
    raise pytest.UsageError(f"BENCH_DEVICE must be 'cpu' or 'cuda', got {DEVICE!r}")
SYSTEMS = ("fastnn", "torch", "torch_cl", "keras")  # torch_cl: channels_last, for the CNN only
BATCH = 128


def _keras():
    """(keras module, None) when Keras 3 imports on the torch backend, else (None, why)."""
    if torch is None:
        return None, "Keras on the torch backend needs torch, which is not installed"
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except Exception as exc:  # ImportError, or a broken install
        return None, f"keras not importable ({type(exc).__name__}: {exc})"
    if not keras.__version__.startswith("3.") or keras.backend.backend() != "torch":
        return None, f"keras {keras.__version__} on the {keras.backend.backend()} backend, not Keras 3 on torch"
    return keras, None


keras, KERAS_ERROR = _keras()


def _why_skip(case: str, system: str) -> str | None:
    if fastnn is None:
        return "fastnn not importable"
    if system in ("torch", "torch_cl") and torch is None:
        return "torch not installed"
    if system == "keras" and keras is None:
        return KERAS_ERROR
    if DEVICE == "cuda":
        if system == "fastnn" and not fastnn.cuda_available():
            return "BENCH_DEVICE=cuda: fastnn has no usable GPU (" + fastnn.backend.cuda_status()[1] + ")"
        if system != "fastnn" and not torch.cuda.is_available():
            return "BENCH_DEVICE=cuda: torch has no usable CUDA"
    return None


def _device_name() -> str:
    if DEVICE == "cpu":
        return "cpu"
    if torch is not None and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return "cuda"


def _synchronize() -> None:
    """Waits for the GPU's queued work, so an epoch's time is complete (nothing on the CPU)."""
    if DEVICE != "cuda":
        return
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()
    if fastnn is not None and fastnn.cuda_available():
        import cupy

        cupy.cuda.Device().synchronize()


def _threads(config) -> list[int]:
    given = config.getoption("bench_threads", default=None) or os.environ.get("BENCH_THREADS")
    return [int(t) for t in str(given).split(",") if t.strip()] if given else [2]


def pytest_generate_tests(metafunc):
    if "train_item" not in metafunc.fixturenames:
        return
    reps = max(3, bench_settings(metafunc.config)["reps"])
    params = []
    for threads in _threads(metafunc.config):
        for case in MODELS:
            for rep in range(reps):
                for system in SYSTEMS:
                    if system == "torch_cl" and case != "cnn":
                        continue
                    why = _why_skip(case, system)
                    params.append(pytest.param((threads, case, rep, system),
                                               marks=[pytest.mark.skip(reason=why)] if why else [],
                                               id=f"{DEVICE}-t{threads}-{case}-r{rep}-{system}"))
    metafunc.parametrize("train_item", params)


@pytest.fixture(scope="module")
def mnist_full():
    from fastnn.datasets import mnist

    try:
        (x, y), _ = mnist.load_data(download=False)
    except (FileNotFoundError, ValueError) as exc:
        pytest.skip(f"the full MNIST is not here (set FASTNN_DATA to its folder): {exc}")
    return x.astype(np.float32) / np.float32(255.0), y.astype(np.int64)


# --------------------------------------------------------------------------- one epoch per system

def _fastnn_epoch(case, x, y):
    from fastnn._mnist_models import build_model

    fastnn.manual_seed(0)
    model = build_model(case)
    if DEVICE == "cuda":
        model.to("cuda")
    x = x[..., None] if case == "cnn" else x

    def epoch():
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
        _synchronize()
    return epoch


def _torch_epoch(case, x, y, channels_last=False):
    import torch.nn.functional as F

    from fastnn._mnist_models import torch_cnn, torch_mlp

    torch.manual_seed(0)
    net = torch_mlp() if case == "mlp" else torch_cnn()
    xt = torch.from_numpy(x if case == "mlp" else x[:, None])  # NCHW for the CNN
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        xt = xt.contiguous(memory_format=torch.channels_last)
    yt = torch.from_numpy(y)
    if DEVICE == "cuda":  # the whole dataset resident on the GPU: torch's fastest eager loop
        net, xt, yt = net.cuda(), xt.cuda(), yt.cuda()
        if channels_last:
            xt = xt.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = len(xt)

    def epoch():
        net.train()
        perm = torch.randperm(n, device=xt.device)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = F.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        _synchronize()
    return epoch


def _keras_epoch(case, x, y):
    from keras import layers

    keras.utils.set_random_seed(0)
    if case == "mlp":
        stack = [keras.Input((28, 28)), layers.Flatten(), layers.Dense(256, activation="relu"),
                 layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]
    else:
        stack = [keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                 layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                 layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]
    model = keras.Sequential(stack)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = x[..., None] if case == "cnn" else x

    def epoch():
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
        _synchronize()
    return epoch


_EPOCHS: dict = {}  # (threads, case, system) -> the epoch function, warmed up


def test_train_epoch(benchmark, train_item, mnist_full, thread_control):
    threads, case, rep, system = train_item
    thread_control.set(threads)
    key = (threads, case, system)
    if key not in _EPOCHS:
        x, y = mnist_full
        if system == "torch_cl":
            _EPOCHS[key] = _torch_epoch(case, x, y, channels_last=True)
        else:
            _EPOCHS[key] = {"fastnn": _fastnn_epoch, "torch": _torch_epoch, "keras": _keras_epoch}[system](case, x, y)
        _EPOCHS[key]()  # the warm-up epoch, untimed
    benchmark.extra_info.update({
        "kind": "train-epoch", "system": system, "model": case, "threads": threads, "repetition": rep,
        "device": _device_name(),
        "samples": len(mnist_full[0]), "batch": BATCH,
        "fastnn_version": getattr(fastnn, "__version__", None),
        "torch_version": getattr(torch, "__version__", None),
        "keras_version": getattr(keras, "__version__", None),
    })
    benchmark.pedantic(_EPOCHS[key], rounds=1, iterations=1, warmup_rounds=0)
