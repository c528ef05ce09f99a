"""The ``fastnn`` command: ``fastnn train``, ``fastnn info`` and ``fastnn bench``.

A user's mistake (a wrong ``--data`` folder, a model this build cannot make, a missing optional
package) ends with one line ``fastnn <command>: error: ...`` on stderr and exit status 2, never a
traceback."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time

import numpy as np

from fastnn.callbacks import Callback


def _seconds_per_call(fn, budget: float) -> float:
    """Median time of one call, after warming up for a fifth of ``budget`` seconds
    (threads wake up, caches fill) and timing calls for the rest of it."""
    end = time.perf_counter() + budget / 5
    while time.perf_counter() < end:
        fn()
    times = []
    end = time.perf_counter() + budget
    while not times or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _blas_limits():
    """threadpoolctl's ``threadpool_limits`` (NumPy's BLAS threads), or a no-op without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # numpy then uses its own default thread count
        def threadpool_limits(_threads):
            return contextlib.nullcontext()
    return threadpool_limits


def _pause(budget: float) -> float:
    """Seconds to sleep between systems: OpenBLAS threads spin ~0.1 s after a call
    (BENCHMARKING.md). Smoke-test budgets (< 0.03 s) shrink it with them."""
    return 0.15 if budget >= 0.03 else 5 * budget


def _gemm_summary(threads: int, quick: bool, budget: float | None = None) -> str:
    """fastnn vs numpy (OpenBLAS) vs the NumPy reference, interleaved, medians."""
    import fastnn

    threadpool_limits = _blas_limits()
    budget = budget if budget is not None else (0.03 if quick else 0.1)
    fastnn.set_num_threads(threads)
    rng = np.random.default_rng(0)
    # (name, M, K, N, transpose_a, transpose_b): square sizes and a Dense layer's
    # forward (X @ W), weight gradient (X^T @ dY) and input gradient (dY @ W^T).
    cases = [("square", n, n, n, False, False) for n in ((256, 512) if quick else (256, 512, 1024))]
    for m, k, n in ((128, 784, 256), (128, 256, 128), (128, 128, 10)):
        cases += [
            ("X@W", m, k, n, False, False),
            ("X^T@dY", k, m, n, True, False),
            ("dY@W^T", m, n, k, False, True),
        ]
    rows = []
    for name, m, k, n, ta, tb in cases:
        a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        systems = {
            "fastnn": lambda: fastnn.matmul(a, b, transpose_a=ta, transpose_b=tb),
            "numpy": lambda: np.matmul(a.T if ta else a, b.T if tb else b),
            "reference": lambda: fastnn.reference.matmul(a, b, transpose_a=ta, transpose_b=tb),
        }
        flops = 2.0 * m * n * k
        best = {s: [] for s in systems}
        for _ in range(3 if quick else 7):  # interleaved rounds: A, B, C, A, B, C, ...
            for s, fn in systems.items():
                with threadpool_limits(threads):
                    best[s].append(_seconds_per_call(fn, budget))
                time.sleep(_pause(budget))
        med = {s: float(np.median(v)) for s, v in best.items()}
        gf = {s: flops / t / 1e9 for s, t in med.items()}
        rows.append((f"{name} {m}x{k}x{n}", gf["fastnn"], gf["numpy"], gf["reference"], gf["fastnn"] / gf["numpy"]))
    out = [
        f"GEMM float32, {threads} thread(s), GFLOP/s (median of interleaved rounds)",
        f"{'case (MxKxN)':<26}{'fastnn':>9}{'numpy':>9}{'reference':>11}{'fastnn/numpy':>14}",
    ]
    out += [f"{c:<26}{f:>9.1f}{n:>9.1f}{r:>11.1f}{q:>13.2f}x" for c, f, n, r, q in rows]
    return "\n".join(out)


def _train_step_summary(threads: int, quick: bool, budget: float | None = None, batch: int = 128) -> str:
    """One training step of the 784-256-128-10 MLP (forward + backward + Adam) at ``batch``:
    fastnn (``train_on_batch``), the float32 NumPy reference and PyTorch eager (when
    installed), interleaved rounds, medians with the min-max over rounds."""
    import fastnn
    from fastnn import _mnist_models as mm

    threadpool_limits = _blas_limits()
    budget = budget if budget is not None else (0.05 if quick else 0.2)
    fastnn.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.random((batch, 28, 28), dtype=np.float32)  # random pixels in [0, 1), random labels
    y = rng.integers(0, 10, batch)
    model = mm.build_model("mlp", metrics=())
    reference = mm.ReferenceMLP(model.get_weights())
    systems = {
        "fastnn": lambda: model.train_on_batch(x, y),
        "reference": lambda: reference.step(x, y),
    }
    try:
        import torch
    except Exception:  # not installed, or a broken install: the table goes without it
        torch = None
    if torch is not None:
        torch.set_num_threads(threads)
        net = mm.torch_mlp()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt), yt)
            loss.backward()
            opt.step()
        systems["torch"] = torch_step
    times = {s: [] for s in systems}
    for _ in range(3 if quick else 7):  # interleaved rounds
        for s, fn in systems.items():
            with threadpool_limits(threads):
                times[s].append(_seconds_per_call(fn, budget))
            time.sleep(_pause(budget))
    out = [f"MLP 784-256-128-10 training step (forward + backward + Adam), batch {batch}, float32, "
           f"{threads} thread(s); median (min-max) of interleaved rounds",
           f"{'system':<12}{'ms/step':>22}{'samples/s':>12}{'fastnn speed-up':>18}"]
    for s, ts in times.items():
        med = float(np.median(ts))
        speedup = np.median([o / f for o, f in zip(ts, times["fastnn"])])
        cell = f"{med * 1e3:.3f} ({min(ts) * 1e3:.3f}-{max(ts) * 1e3:.3f})"
        out.append(f"{s:<12}{cell:>22}{batch / med:>12,.0f}{'' if s == 'fastnn' else f'{speedup:.2f}x':>18}")
    out.append("(fastnn speed-up: the system's time over fastnn's in the same round; above 1, fastnn is faster)")
    return "\n".join(out)


# --------------------------------------------------------------------------- fastnn train

class UsageError(Exception):
    """A mistake of the user's: printed as one line, exit status 2."""


def _load_mnist(data_dir):
    """((x_train, y_train), (x_test, y_test), description). ``data_dir`` given: the full MNIST
    from there or a UsageError. Otherwise the full MNIST from $FASTNN_DATA or the cache when it is
    there (no download), else the embedded sample."""
    from fastnn.datasets import mnist

    if data_dir is not None:
        try:
            train, test = mnist.load_data(data_dir, download=False)
        except (FileNotFoundError, ValueError) as exc:
            raise UsageError(f"--data {data_dir}: no usable MNIST there ({exc}). Leave out --data to "
                             "train on the embedded sample.") from None
        return train, test, f"full MNIST from {data_dir}"
    try:
        train, test = mnist.load_data(download=False)
    except (FileNotFoundError, ValueError) as exc:
        why = "not found in $FASTNN_DATA or the cache" if isinstance(exc, FileNotFoundError) else f"unusable: {exc}"
        train, test = mnist.load_sample()
        return train, test, (f"the embedded MNIST sample (full MNIST {why}; pass --data DIR or set "
                             "FASTNN_DATA to use it)")
    return train, test, "full MNIST ($FASTNN_DATA or the cache)"


class _EpochTimer(Callback):
    """Seconds of training (first batch to last batch, validation left out) of each epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self._start = self._last = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(self._last - self._start)


def _plot_history(history: dict, path: str, title: str) -> None:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--plot needs matplotlib, an optional extra: pip install \"fastnn[plot]\" "
                         "(or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    metrics = [m for m in ("loss", "accuracy") if m in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        epochs = range(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], "o-", label="train")
        if "val_" + metric in history:
            ax.plot(epochs, history["val_" + metric], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise UsageError(f"--plot {path}: cannot write it ({exc})") from None
    finally:
        plt.close(fig)


def _train(args) -> int:
    import fastnn
    from fastnn import _mnist_models as mm

    if args.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {args.epochs}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not 0.0 <= args.validation_split < 1.0:
        raise UsageError(f"--validation-split must be in [0, 1), got {args.validation_split}")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {args.threads}")
        fastnn.set_num_threads(args.threads)
    if args.plot:  # fail before training, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            _plot_history({}, args.plot, "")
    fastnn.manual_seed(args.seed)
    model = mm.build_model(args.model)
    if args.device == "cuda":
        if not fastnn.cuda_available():
            raise UsageError("--device cuda: no usable GPU (needs a fastnn built with CUDA, CuPy "
                             "(pip install \"fastnn[gpu]\") and a CUDA GPU); `fastnn info` says what is missing")
        try:
            model.to("cuda")
        except (RuntimeError, ValueError, ImportError, NotImplementedError) as exc:
            raise UsageError(f"--device cuda: {exc}") from None

    (x_train, y_train), (x_test, y_test), source = _load_mnist(args.data)
    print(f"Data: {source}: {len(x_train):,} training and {len(x_test):,} test images")
    x_train, x_test = mm.prepare_images(x_train, args.model), mm.prepare_images(x_test, args.model)
    # the samples fit trains on: it holds out the last validation_split of them (Keras' rule)
    n_fit = int(math.floor(len(x_train) * (1.0 - args.validation_split))) if args.validation_split else len(x_train)
    print(f"Model: {args.model} ({model.count_params():,} parameters), Adam, sparse categorical cross-entropy, "
          f"batch {args.batch_size}, {args.epochs} epoch(s), {fastnn.get_num_threads()} CPU thread(s)"
          + (", on the GPU" if args.device == "cuda" else ""))
    timer = _EpochTimer()
    try:
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=1,
                            validation_split=args.validation_split, callbacks=[timer])
    except ValueError as exc:  # e.g. a --validation-split that leaves no training samples
        raise UsageError(str(exc)) from None
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=max(args.batch_size, 1000), verbose=0)
    per_epoch = float(np.median(timer.seconds))
    print(f"Test accuracy: {accuracy:.4f} (loss {loss:.4f}) on {len(x_test):,} test images")
    print(f"Time: {per_epoch:.2f} s per epoch (median of {len(timer.seconds)}; training only, "
          f"{n_fit:,} samples), {n_fit / per_epoch:,.0f} samples/s; {sum(timer.seconds):.1f} s training in all")
    if args.plot:
        _plot_history(history.history, args.plot, f"fastnn {args.model} on {source.split(' (')[0]}")
        print(f"Plot: {args.plot}")
    return 0


# --------------------------------------------------------------------------- main

def _parser() -> argparse.ArgumentParser:
    from fastnn._mnist_models import MODELS

    parser = argparse.ArgumentParser(prog="fastnn", description="fastnn: neural networks on our own C++/CUDA kernels")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train", help="train an MLP or a CNN on MNIST (the full set when found, else the embedded sample)",
        description="Trains on the full MNIST when it is found (--data DIR, else $FASTNN_DATA, else the "
                    "cache; nothing is downloaded), else on the 20,000/2,000-image sample shipped with fastnn. "
                    "An explicit --data that does not hold MNIST is an error.")
    train.add_argument("--model", choices=MODELS, default="mlp",
                       help="mlp: 784-256-128-10; cnn: Conv32-Pool-Conv64-Pool-Dense128-Dense10 (default: mlp)")
    train.add_argument("--epochs", type=int, default=10, help="default: 10")
    train.add_argument("--batch-size", type=int, default=128, help="default: 128")
    train.add_argument("--validation-split", type=float, default=0.1,
                       help="fraction of the training images held out for validation (default: 0.1)")
    train.add_argument("--data", metavar="DIR", default=None, help="folder holding the four MNIST IDX .gz files")
    train.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default: cpu")
    train.add_argument("--plot", metavar="PNG", default=None,
                       help="write loss/accuracy curves there (needs matplotlib: pip install \"fastnn[plot]\")")
    train.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")
    train.add_argument("--seed", type=int, default=0, help="fastnn.manual_seed (default: 0)")
    sub.add_parser("info", help="version, build flags, CPU ISA, threads, CUDA and GPU")
    bench = sub.add_parser("bench", help="GEMM and MLP-training-step tables: fastnn vs numpy (OpenBLAS), "
                                         "the NumPy reference and PyTorch")
    bench.add_argument("--threads", type=int, default=None, help="CPU threads for every system (default: all)")
    bench.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    bench.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                       help="timed work per measurement (default 0.1 GEMM / 0.2 training step, 0.03 / 0.05 with "
                            "--quick); below 0.03 the pauses between systems shrink too: a smoke test, not numbers")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    import fastnn

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "info":
            print(fastnn.info())
        elif args.command == "bench":
            if args.threads is not None and args.threads < 1:
                raise UsageError(f"--threads must be >= 1, got {args.threads}")
            if args.budget is not None and args.budget <= 0:
                raise UsageError(f"--budget must be > 0, got {args.budget}")
            threads = args.threads or fastnn.get_num_threads()
            print(fastnn.info())
            print()
            print(_gemm_summary(threads, args.quick, args.budget), flush=True)
            print()
            print(_train_step_summary(threads, args.quick, args.budget))
    except UsageError as exc:
        print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastnn {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
