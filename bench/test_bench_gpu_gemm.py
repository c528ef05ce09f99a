"""GPU GEMM benchmarks: fastnn's CUDA GEMM against cuBLAS (through CuPy) and PyTorch.

The whole module skips cleanly (at collection) without CuPy, without a CUDA device, or when
``fastnn.cuda_available()`` is false (fastnn built without CUDA, no driver). PyTorch is optional:
without it, or when its build has no CUDA, the torch items are skipped.

Systems, interleaved within each repetition (the system varies fastest, as in
bench/test_bench_gemm.py), all on the same float32 C-contiguous CuPy arrays, each writing into a
preallocated output of its own (so no system times an allocation):

* **fastnn**: ``fastnn.matmul(a, b, transpose_a=..., transpose_b=..., out=...)`` (our CUDA GEMM,
  on CuPy's current stream);
* **cublas**: ``cupy.matmul(op(a), op(b), out=...)`` with transposed operands passed as ``.T``
  views (cuBLAS receives its transpose flags, nothing is copied);
* **torch**: ``torch.mm(op(a), op(b), out=...)`` on zero-copy torch views of the same CuPy
  arrays, ``.t()`` for transposes. ``torch.backends.cuda.matmul.allow_tf32`` is forced False
  (and CuPy runs without ``CUPY_TF32``), so these three systems compute in plain float32.

Tensor-core systems, on the square cases only (issue 6's TF32 / BF16 targets):

* **fastnn_tf32** / **fastnn_bf16**: ``fastnn.matmul`` on the same float32 arrays under
  ``fastnn.set_matmul_precision("high")`` / ``("medium")`` (reset to "highest" afterwards);
* **torch_tf32**: ``torch.mm`` on the float32 views with ``allow_tf32 = True`` (cuBLAS TF32);
* **torch_bf16**: ``torch.mm`` on bfloat16 copies of the operands into a bfloat16 output
  (cuBLAS BF16, float32 accumulation): what a BF16 user of cuBLAS runs. fastnn_bf16 reads float32
  and rounds while loading, so it moves twice the bytes.

Cases, as the CPU suite defines them (its ``GemmCase``): square n x n x n for n = 512 ... 8192,
and the Dense-layer shapes (batch, in, out) = (128,784,256), (128,256,128), (128,128,10),
(1024,784,256), each as forward ``X @ W``, weight gradient ``X^T @ dY`` (transpose_a) and input
gradient ``dY @ W^T`` (transpose_b).

How GPU time is measured (device work is asynchronous):

* the measurement is ``benchmark.pedantic(call, rounds, iterations, warmup_rounds=1)`` with
  pytest-benchmark's timer replaced, for these items only, by ``synced_timer``: it calls
  ``cudaDeviceSynchronize()`` and then reads ``time.perf_counter()``. A round is therefore
  "drain the GPU, start the clock, launch ``iterations`` calls back to back, wait for the GPU
  to finish them, stop the clock", and pytest-benchmark's per-call statistics (median, min,
  max, ...) are GPU-complete times including the launch cost a Python caller pays. Rounds last
  at least ``_MIN_ROUND_S`` (5 ms) so the ~10 µs synchronize is below 1 % of a round.
  (The item fails if pytest-benchmark did not call the timer, e.g. after an API change.)
* a cross-check, stored as ``extra_info["gpu_event_s"]``: the per-call time of a batch of
  back-to-back calls between two CUDA events (``cupy.cuda.Event``, ``torch.cuda.Event`` for
  torch), measured just before. It excludes the final synchronize; for tiny shapes both are
  bound by the launch rate.
* the output is poisoned with NaN before the checked call, and each system's result is checked
  once per case (repetition 0, untimed) against a float64 product of the same float32 inputs
  computed by CuPy: relative Frobenius error < 1e-4 (float32 lands near 1e-6; TF32 would land
  near 3e-4 and fail, so an accidental TF32 path shows up as a failure, not a number).
* inputs: standard normal float32 (never zeros), generated on the GPU once per case with a
  seed derived from the case. The small Dense operands fit in L2, as they do in training.

Settings: ``--bench-reps``/``--quick``/``--bench-order`` as in the CPU suite (thread counts do
not apply); ``BENCH_GPU_SYSTEMS`` (default ``fastnn,cublas,torch``) picks systems;
``BENCH_GPU_TARGET_S`` (default 0.1) is the timed work per measurement; ``FASTNN_COMMIT`` is
recorded in extra_info["commit"] for report.py when the tree has no .git.

Run: ``pytest bench/test_bench_gpu_gemm.py --benchmark-json=/tmp/gpu.json`` then
``python bench/report.py /tmp/gpu.json`` (bench/gpu_session.sh does both on a device machine).
"""

from __future__ import annotations

import math
import os
import time
import zlib
from functools import partial

import pytest

cp = pytest.importorskip("cupy", reason="CuPy not installed: no GPU benchmarks")

import bench_common as bench_conf  # noqa: E402  (bench/bench_common.py, bench/ is on sys.path)
from test_bench_gemm import GemmCase, gemm_cases  # noqa: E402  (the CPU suite's case definitions)


def _device_count() -> int:
    try:
        return cp.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, insufficient driver, no device, ...
        return 0


if _device_count() == 0:
    pytest.skip("no CUDA device visible to CuPy", allow_module_level=True)
if bench_conf.fastnn is None:
    pytest.skip(f"fastnn not importable ({bench_conf.FASTNN_ERROR})", allow_module_level=True)
if not bench_conf.fastnn.cuda_available():
    pytest.skip("fastnn cannot use the GPU: " + bench_conf.fastnn.backend.cuda_status()[1],
                allow_module_level=True)

fastnn = bench_conf.fastnn
torch = bench_conf.torch

SQUARE_SIZES = (512, 1024, 2048, 4096, 8192)
NETWORK_SHAPES = ((128, 784, 256), (128, 256, 128), (128, 128, 10), (1024, 784, 256))
GPU_SYSTEMS = ("fastnn", "cublas", "torch", "fastnn_tf32", "torch_tf32", "fastnn_bf16", "torch_bf16")
TENSOR_CORE_SYSTEMS = GPU_SYSTEMS[3:]
_PRECISION = {"fastnn_tf32": "high", "fastnn_bf16": "medium"}  # fastnn.set_matmul_precision

TARGET_S = float(os.environ.get("BENCH_GPU_TARGET_S", "0.1"))
_MIN_ROUND_S = 5e-3   # a round (iterations calls + one synchronize) lasts at least this long
_MAX_ITERATIONS = 5000
_MAX_ROUNDS = 100
_TOLERANCE = 1e-4     # relative Frobenius error against the float64 product
# TF32 products carry ~2^-11 relative error per operand, BF16 ~2^-8: a random-sign sum of them
# lands near 3e-4 / 3e-3 in relative Frobenius norm.
_TOLERANCE_TC = {"fastnn_tf32": 2e-3, "torch_tf32": 2e-3, "fastnn_bf16": 1.5e-2, "torch_bf16": 1.5e-2}


def gpu_cases() -> list[GemmCase]:
    return gemm_cases(SQUARE_SIZES, NETWORK_SHAPES, kind_prefix="gpu-")


CASES = {case.id: case for case in gpu_cases()}


def gpu_systems() -> list[str]:
    wanted = os.environ.get("BENCH_GPU_SYSTEMS", ",".join(GPU_SYSTEMS))
    wanted = [s.strip() for s in wanted.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in GPU_SYSTEMS]
    if unknown:
        raise pytest.UsageError(f"BENCH_GPU_SYSTEMS: unknown system(s) {unknown}; "
                                f"known: {GPU_SYSTEMS}")
    return [s for s in GPU_SYSTEMS if s in wanted]


def system_unavailable(system: str) -> str | None:
    if system in TENSOR_CORE_SYSTEMS:
        major = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id).get("major", 0)
        if major < 8:
            return "no TF32 / BF16 tensor cores below compute capability 8.0"
    if system.startswith("torch"):
        if torch is None:
            return "torch not installed"
        if not torch.cuda.is_available():
            return "torch has no usable CUDA"
    return None


# --------------------------------------------------------------------------- device facts

def _device_facts() -> dict:
    dev = cp.cuda.Device()
    props = cp.cuda.runtime.getDeviceProperties(dev.id)
    name = props.get("name", b"?")
    facts = {
        "device": name.decode() if isinstance(name, bytes) else str(name),
        "device_cc": f"{props.get('major', '?')}.{props.get('minor', '?')}",
        "device_sms": props.get("multiProcessorCount"),
        "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
        "cuda_driver": cp.cuda.runtime.driverGetVersion(),
        "cupy": cp.__version__,
        "cupy_tf32": os.environ.get("CUPY_TF32"),
        "torch": getattr(torch, "__version__", None),
        "fastnn_version": getattr(fastnn, "__version__", None),
        "fastnn_cuda": next((line for line in str(fastnn.info()).splitlines()
                             if line.startswith("cuda:")), None),
        "commit": os.environ.get("FASTNN_COMMIT") or None,
    }
    return facts


_FACTS: dict | None = None


def device_facts() -> dict:
    global _FACTS
    if _FACTS is None:
        _FACTS = _device_facts()
    return _FACTS


# --------------------------------------------------------------------------- parametrization

def pytest_generate_tests(metafunc):
    if "gpu_gemm_item" not in metafunc.fixturenames:
        return
    s = bench_conf.bench_settings(metafunc.config)
    if s["order"] == "rep":
        outer = [(rep, case) for rep in range(s["reps"]) for case in CASES.values()]
    else:
        outer = [(rep, case) for case in CASES.values() for rep in range(s["reps"])]
    params = []
    for rep, case in outer:
        for system in gpu_systems():
            if system in TENSOR_CORE_SYSTEMS and case.kind != "gpu-square":
                continue
            why = system_unavailable(system)
            marks = [pytest.mark.skip(reason=why)] if why else []
            params.append(pytest.param((case.id, rep, system), marks=marks,
                                       id=f"gpu-{case.id}-r{rep}-{system}"))
    metafunc.parametrize("gpu_gemm_item", params)


# --------------------------------------------------------------------------- inputs, callables

_case_cache: dict = {}


def case_inputs(case: GemmCase):
    """(a, b) on the GPU: random float32 operands as stored. One case is kept at a time
    (with --bench-order rep the inputs are regenerated, identically, when the case recurs)."""
    hit = _case_cache.get(case.id)
    if hit is None:
        _case_cache.clear()
        cp.get_default_memory_pool().free_all_blocks()
        rs = cp.random.RandomState(zlib.crc32(case.id.encode()))
        a = rs.standard_normal(case.a_shape, dtype=cp.float32)
        b = rs.standard_normal(case.b_shape, dtype=cp.float32)
        hit = _case_cache[case.id] = {"a": a, "b": b, "expected": None}
    return hit


def expected_product(case: GemmCase, inputs: dict):
    """float64 op(a) @ op(b) of the float32 inputs (computed once per case, on the GPU)."""
    if inputs["expected"] is None:
        a64, b64 = inputs["a"].astype(cp.float64), inputs["b"].astype(cp.float64)
        inputs["expected"] = cp.matmul(a64.T if case.transpose_a else a64,
                                       b64.T if case.transpose_b else b64)
        del a64, b64
    return inputs["expected"]


def make_call(system: str, case: GemmCase, a, b, out):
    """A no-argument callable writing op(a) @ op(b) into ``out`` (a CuPy array)."""
    ta, tb = case.transpose_a, case.transpose_b
    if system == "fastnn":
        return partial(fastnn.matmul, a, b, transpose_a=ta, transpose_b=tb, out=out)
    if system == "cublas":
        return partial(cp.matmul, a.T if ta else a, b.T if tb else b, out=out)
    if system in ("fastnn_tf32", "fastnn_bf16"):
        return partial(fastnn.matmul, a, b, transpose_a=ta, transpose_b=tb, out=out)
    if system in ("torch", "torch_tf32"):
        at, bt, ot = (torch.as_tensor(x, device="cuda") for x in (a, b, out))  # zero-copy
        assert ot.data_ptr() == out.data.ptr, "torch.as_tensor copied the output buffer"
        return partial(torch.mm, at.t() if ta else at, bt.t() if tb else bt, out=ot)
    if system == "torch_bf16":
        at, bt = (torch.as_tensor(x, device="cuda").to(torch.bfloat16) for x in (a, b))
        ot = torch.empty(tuple(out.shape), dtype=torch.bfloat16, device="cuda")

        def call():
            torch.mm(at.t() if ta else at, bt.t() if tb else bt, out=ot)
        call.result = ot  # the bfloat16 output, checked in float32 by the caller
        return call
    raise ValueError(system)


def check_result(system: str, case: GemmCase, out, expected) -> None:
    limit = _TOLERANCE_TC.get(system, _TOLERANCE)
    assert out.shape == expected.shape, f"{system} {case.id}: shape {out.shape} != {expected.shape}"
    assert out.dtype == cp.float32, f"{system} {case.id}: dtype {out.dtype} != float32"
    finite = bool(cp.isfinite(out).all())
    assert finite, f"{system} {case.id}: non-finite values (elements not written?)"
    err = float(cp.linalg.norm(out.astype(cp.float64) - expected) / cp.linalg.norm(expected))
    assert err < limit, (f"{system} {case.id}: relative Frobenius error {err:.3g} "
                         f"vs the float64 product (limit {limit})")


# --------------------------------------------------------------------------- timing

_timer_reads = 0


def synced_timer() -> float:
    """pytest-benchmark timer for GPU items: wait for all device work, then read the clock."""
    global _timer_reads
    cp.cuda.runtime.deviceSynchronize()
    _timer_reads += 1
    return time.perf_counter()


def event_seconds(call, n: int, system: str) -> tuple[float, float]:
    """(GPU seconds per call between two CUDA events, host seconds per call including the
    final synchronize) for ``n`` back-to-back calls."""
    cp.cuda.runtime.deviceSynchronize()
    if system.startswith("torch"):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    else:
        start, end = cp.cuda.Event(), cp.cuda.Event()
    t0 = time.perf_counter()
    start.record()
    for _ in range(n):
        call()
    end.record()
    end.synchronize()
    host = time.perf_counter() - t0
    ms = start.elapsed_time(end) if system.startswith("torch") else cp.cuda.get_elapsed_time(start, end)
    return ms / 1e3 / n, host / n


def plan(est: float) -> tuple[int, int]:
    """(rounds, iterations) so one measurement of calls taking ``est`` s is ~TARGET_S."""
    iterations = int(min(_MAX_ITERATIONS, max(1, math.ceil(_MIN_ROUND_S / est))))
    min_rounds = 3 if est > 0.05 else 5
    rounds = int(min(_MAX_ROUNDS, max(min_rounds, round(TARGET_S / (est * iterations)))))
    return rounds, iterations


# --------------------------------------------------------------------------- the benchmark

def test_gpu_gemm(benchmark, gpu_gemm_item):
    case_id, rep, system = gpu_gemm_item
    case = CASES[case_id]
    if system.startswith("torch"):
        tf32 = system == "torch_tf32"  # plain float32 otherwise, like the others
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
    fastnn.set_matmul_precision(_PRECISION.get(system, "highest"))
    try:
        _measure(benchmark, case, rep, system)
    finally:
        fastnn.set_matmul_precision("highest")
        if torch is not None:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.set_float32_matmul_precision("highest")


def _measure(benchmark, case, rep, system):
    inputs = case_inputs(case)
    a, b = inputs["a"], inputs["b"]
    out = cp.empty((case.m, case.n), dtype=cp.float32)
    call = make_call(system, case, a, b, out)

    call()  # warm-up: module load, library handles, first-call allocations
    if rep == 0:
        out.fill(cp.nan)
        call()
        cp.cuda.runtime.deviceSynchronize()
        got = cp.asarray(call.result.float()) if system == "torch_bf16" else out
        check_result(system, case, got, expected_product(case, inputs))

    # size the measurement: one call, then a batch lasting ~5 ms (both event-timed)
    one_gpu, one_host = event_seconds(call, 1, system)
    n = int(min(_MAX_ITERATIONS, max(1, math.ceil(_MIN_ROUND_S / max(one_gpu, one_host)))))
    gpu_s, host_s = event_seconds(call, n, system)
    rounds, iterations = plan(max(gpu_s, host_s))

    benchmark.group = f"gpu {case.id}"
    info = benchmark.extra_info
    info.update(system=system, case=case.name, kind=case.kind, variant=case.variant,
                M=case.M, K=case.K, N=case.N, gemm_m=case.m, gemm_k=case.k, gemm_n=case.n,
                transpose_a=case.transpose_a, transpose_b=case.transpose_b,
                repetition=rep, flops=case.flops, rounds=rounds, iterations=iterations,
                gpu_event_s=gpu_s, gpu_event_calls=n, timing="synced_timer",
                torch_allow_tf32=(bool(torch.backends.cuda.matmul.allow_tf32)
                                  if torch is not None else None),
                **device_facts())

    benchmark._timer = synced_timer  # see the module docstring: GPU-complete timing
    reads_before = _timer_reads
    benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=1)
    if not benchmark.disabled:
        assert _timer_reads - reads_before >= 2 * rounds, (
            "pytest-benchmark did not use the synchronizing timer: the times would be launch "
            "times, not GPU times (has BenchmarkFixture._timer changed?)")
