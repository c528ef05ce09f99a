"""GEMM benchmarks: fastnn.matmul against NumPy (OpenBLAS), the NumPy reference and PyTorch.

Fairness (shared/BENCHMARKING.md):

* systems are interleaved in one run: the items are generated in the order
  (threads, case, repetition, system) with the system varying fastest, so every repetition of
  a case times fastnn, numpy, reference and torch back to back, and the ratio of two systems is
  taken within one repetition;
* each measurement is a ``benchmark.pedantic`` call with one warm-up round (after one untimed
  call and a short probe), rounds/iterations sized so a measurement takes roughly
  ``BENCH_TARGET_S`` (0.15 s) of timed work (sized from an assumed fast GEMM, or from the probe
  when the system is slower, so a slow system cannot stretch the suite);
* every system runs with the same fixed thread count (conftest.ThreadControl);
* a ~0.15 s pause before a measurement that follows or is an OpenBLAS one (conftest.Pacer);
* inputs are random float32 (standard normal), generated once per case, C-contiguous; the
  transposed operands are passed as transposes *without copies* (fastnn's transpose_a/b flags,
  NumPy ``.T`` views so OpenBLAS gets its trans flags, torch ``.t()`` views);
* every system's result is checked against NumPy's once per case (repetition 0), outside the
  timed part: a wrong answer fails the item instead of producing a number.

Cases: square n x n x n (n = 128 ... 2048, no transpose), and the Dense-layer shapes
(M, K, N) = (batch, in, out) in the three GEMMs a Dense layer runs:
forward ``X(MxK) @ W(KxN)``, weight gradient ``X^T @ dY`` (X stored MxK, dY stored MxN, result
KxN) and input gradient ``dY @ W^T`` (dY stored MxN, W stored KxN, result MxK).

Run: ``pytest bench/test_bench_gemm.py --benchmark-json=/tmp/gemm.json`` then
``python bench/report.py /tmp/gemm.json``.
"""

from __future__ import annotations

import math
import os
import time
import zlib
from dataclasses import dataclass
from functools import partial

import numpy as np
import pytest

import bench_common as bench_conf  # bench/bench_common.py (bench/ is on sys.path under pytest)

SQUARE_SIZES = (128, 256, 512, 1024, 2048)
NETWORK_SHAPES = ((128, 784, 256), (128, 256, 128), (128, 128, 10))

#: assumed per-thread throughput and per-call overhead used to size rounds/iterations only
_ASSUMED_FLOPS_PER_THREAD = 90e9
_ASSUMED_CALL_OVERHEAD_S = 4e-6
#: a round (``iterations`` calls) should last at least this long: timer and loop noise
_MIN_ROUND_S = 2e-3
TARGET_S = float(os.environ.get("BENCH_TARGET_S", "0.15"))


@dataclass(frozen=True)
class GemmCase:
    """One GEMM: ``op(A) @ op(B)`` with op(A) m x k and op(B) k x n."""

    name: str        # e.g. "square512", "dense128x784x256"
    kind: str        # "square" or "network"
    variant: str     # "nn" (square), "forward", "wgrad", "igrad"
    M: int           # the case's shape: square n, or the layer's (batch, in, out)
    K: int
    N: int
    m: int           # the GEMM actually run: op(A) is m x k, op(B) is k x n
    k: int
    n: int
    transpose_a: bool
    transpose_b: bool

    @property
    def id(self) -> str:
        return f"{self.name}-{self.variant}"

    @property
    def flops(self) -> int:
        return 2 * self.m * self.n * self.k

    @property
    def a_shape(self):  # as stored
        return (self.k, self.m) if self.transpose_a else (self.m, self.k)

    @property
    def b_shape(self):  # as stored
        return (self.n, self.k) if self.transpose_b else (self.k, self.n)


def gemm_cases(square_sizes=SQUARE_SIZES, network_shapes=NETWORK_SHAPES, kind_prefix="") -> list[GemmCase]:
    """Square n x n x n products, and the three GEMMs of a Dense layer per (batch, in, out)."""
    cases = [GemmCase(f"square{n}", f"{kind_prefix}square", "nn", n, n, n, n, n, n, False, False)
             for n in square_sizes]
    network = f"{kind_prefix}network"
    for M, K, N in network_shapes:
        name = f"dense{M}x{K}x{N}"
        cases += [
            # forward: Y = X(MxK) @ W(KxN)
            GemmCase(name, network, "forward", M, K, N, M, K, N, False, False),
            # weight gradient: dW(KxN) = X^T @ dY, X stored MxK, dY stored MxN
            GemmCase(name, network, "wgrad", M, K, N, K, M, N, True, False),
            # input gradient: dX(MxK) = dY @ W^T, dY stored MxN, W stored KxN
            GemmCase(name, network, "igrad", M, K, N, M, N, K, False, True),
        ]
    return cases


CASES = {case.id: case for case in gemm_cases()}


def estimate_seconds(case: GemmCase, threads: int) -> float:
    """A rough time per call, assuming a fast GEMM; only used to size the measurement."""
    return case.flops / (_ASSUMED_FLOPS_PER_THREAD * threads) + _ASSUMED_CALL_OVERHEAD_S


def plan(est: float) -> tuple[int, int]:
    """(rounds, iterations) so one measurement of calls taking ``est`` s is ~TARGET_S."""
    iterations = max(1, math.ceil(_MIN_ROUND_S / est))
    min_rounds = 3 if est > 0.05 else 5
    rounds = int(min(200, max(min_rounds, round(TARGET_S / (est * iterations)))))
    return rounds, iterations


# --------------------------------------------------------------------------- parametrization

def pytest_generate_tests(metafunc):
    if "gemm_item" not in metafunc.fixturenames:
        return
    s = bench_conf.bench_settings(metafunc.config)
    params = []
    # Order matters: the system varies fastest, so systems are interleaved within each
    # repetition. "case": threads > case > repetition > system; "rep": threads > repetition >
    # case > system (a case's repetitions spread over the whole run).
    if s["order"] == "rep":
        outer = [(rep, case) for rep in range(s["reps"]) for case in CASES.values()]
    else:
        outer = [(rep, case) for case in CASES.values() for rep in range(s["reps"])]
    for threads in s["threads"]:
        for rep, case in outer:
            for system in s["systems"]:
                why = bench_conf.system_unavailable(system)
                marks = [pytest.mark.skip(reason=why)] if why else []
                params.append(pytest.param(
                    (threads, case.id, rep, system), marks=marks,
                    id=f"t{threads}-{case.id}-r{rep}-{system}"))
    metafunc.parametrize("gemm_item", params)


# --------------------------------------------------------------------------- inputs, callables

_inputs_cache: dict = {}
_keep_one_case = True  # set from the settings by test_gemm


def case_inputs(case: GemmCase, pacer=None):
    """(a, b, expected): random float32 operands as stored, and NumPy's product.

    Generated once per case (same seed every time). With the default order the items of a
    case are contiguous and the cache holds one case; with --bench-order rep it holds them all
    (about 60 MB)."""
    hit = _inputs_cache.get(case.id)
    if hit is None:
        if _keep_one_case:
            _inputs_cache.clear()
        rng = np.random.default_rng(zlib.crc32(case.id.encode()))
        a = rng.standard_normal(case.a_shape, dtype=np.float32)
        b = rng.standard_normal(case.b_shape, dtype=np.float32)
        expected = np.matmul(a.T if case.transpose_a else a, b.T if case.transpose_b else b)
        hit = _inputs_cache[case.id] = (a, b, expected)
        if pacer is not None:
            pacer.previous = "numpy"  # that np.matmul leaves OpenBLAS threads spinning
    return hit


def make_call(system: str, case: GemmCase, a: np.ndarray, b: np.ndarray):
    """A no-argument callable computing op(a) @ op(b) with ``system``; no copies of inputs."""
    ta, tb = case.transpose_a, case.transpose_b
    if system == "fastnn":
        return partial(bench_conf.fastnn.matmul, a, b, transpose_a=ta, transpose_b=tb)
    if system == "reference":
        return partial(bench_conf.fastnn.reference.gemm, a, b, transpose_a=ta, transpose_b=tb)
    if system == "numpy":
        # .T views: OpenBLAS receives the transpose flag, nothing is copied
        return partial(np.matmul, a.T if ta else a, b.T if tb else b)
    if system == "torch":
        torch = bench_conf.torch
        at, bt = torch.from_numpy(a), torch.from_numpy(b)
        return partial(torch.mm, at.t() if ta else at, bt.t() if tb else bt)
    raise ValueError(system)


def as_numpy(result) -> np.ndarray:
    if hasattr(result, "numpy") and not isinstance(result, np.ndarray):
        result = result.numpy()
    return np.asarray(result)


def check_result(system: str, case: GemmCase, got, expected: np.ndarray) -> None:
    got = as_numpy(got)
    assert got.shape == expected.shape, f"{system} {case.id}: shape {got.shape} != {expected.shape}"
    assert got.dtype == np.float32, f"{system} {case.id}: dtype {got.dtype} != float32"
    err = np.linalg.norm((got - expected).astype(np.float64)) / np.linalg.norm(
        expected.astype(np.float64))
    # float32 sums of k terms in a different order: relative error well below 1e-5 here
    assert err < 1e-4, f"{system} {case.id}: relative Frobenius error {err:.3g} vs numpy"


# --------------------------------------------------------------------------- the benchmark

def test_gemm(benchmark, gemm_item, thread_control, pacer, settings):
    global _keep_one_case
    threads, case_id, rep, system = gemm_item
    case = CASES[case_id]
    _keep_one_case = settings["order"] == "case"
    thread_control.set(threads)
    a, b, expected = case_inputs(case, pacer)
    call = make_call(system, case, a, b)
    pacer.before(system)  # let OpenBLAS threads of a previous numpy/reference item go quiet
    first = call()  # warms the system up (first-call allocations, thread pools)
    if rep == 0:
        check_result(system, case, first, expected)
    del first

    # Size the measurement from the assumed speed, or from one timed call when the system is
    # slower than that (a slow kernel, a slow phase of the machine): this only ever reduces the
    # work, so a slow system cannot stretch the suite.
    probe, spent = math.inf, 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        call()
        dt = time.perf_counter() - t0
        probe, spent = min(probe, dt), spent + dt
        if spent > 0.05:
            break
    rounds, iterations = plan(max(estimate_seconds(case, threads), probe))
    benchmark.group = f"threads={threads} {case.id}"
    info = benchmark.extra_info
    info.update(system=system, case=case.name, kind=case.kind, variant=case.variant,
                M=case.M, K=case.K, N=case.N, gemm_m=case.m, gemm_k=case.k, gemm_n=case.n,
                transpose_a=case.transpose_a, transpose_b=case.transpose_b,
                threads=threads, repetition=rep, flops=case.flops,
                rounds=rounds, iterations=iterations)
    if system in ("fastnn", "reference"):
        info["fastnn_version"] = getattr(bench_conf.fastnn, "__version__", None)
        info["fastnn_isa"] = bench_conf.fastnn_isa()

    benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=1)
