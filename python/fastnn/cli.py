"""The ``fastnn`` command: ``fastnn info`` and ``fastnn bench``."""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np


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


def _gemm_summary(threads: int, quick: bool) -> str:
    """fastnn vs numpy (OpenBLAS) vs the NumPy reference, interleaved, medians."""
    import fastnn

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # numpy then uses its own default thread count
        def threadpool_limits(_threads):
            return contextlib.nullcontext()

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
                    best[s].append(_seconds_per_call(fn, 0.03 if quick else 0.1))
                time.sleep(0.15)  # OpenBLAS threads spin ~0.1 s after a call (BENCHMARKING.md)
        med = {s: float(np.median(v)) for s, v in best.items()}
        gf = {s: flops / t / 1e9 for s, t in med.items()}
        rows.append((f"{name} {m}x{k}x{n}", gf["fastnn"], gf["numpy"], gf["reference"], gf["fastnn"] / gf["numpy"]))
    out = [
        f"GEMM float32, {threads} thread(s), GFLOP/s (median of interleaved rounds)",
        f"{'case (MxKxN)':<26}{'fastnn':>9}{'numpy':>9}{'reference':>11}{'fastnn/numpy':>14}",
    ]
    out += [f"{c:<26}{f:>9.1f}{n:>9.1f}{r:>11.1f}{q:>13.2f}x" for c, f, n, r, q in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastnn", description="fastnn: neural networks on our own C++/CUDA kernels")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, build flags, CPU ISA, threads, CUDA and GPU")
    bench = sub.add_parser("bench", help="a quick GEMM table: fastnn vs numpy (OpenBLAS) vs the NumPy reference")
    bench.add_argument("--threads", type=int, default=None, help="CPU threads for every system (default: all)")
    bench.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    args = parser.parse_args(argv)

    import fastnn

    if args.command == "info":
        print(fastnn.info())
    elif args.command == "bench":
        threads = args.threads or fastnn.get_num_threads()
        print(fastnn.info())
        print()
        print(_gemm_summary(threads, args.quick))
    return 0
