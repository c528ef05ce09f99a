"""Helpers shared by the benchmark suites in bench/ and their conftest.py.

Kept out of conftest.py so that suites can import them by a name that cannot clash with
tests/conftest.py (``import bench_common``; bench/ is on sys.path when pytest collects it).
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parent

#: Systems every suite knows about, in the order they are interleaved within a repetition.
ALL_SYSTEMS = ("fastnn", "numpy", "reference", "torch")
#: Systems whose calls go through OpenBLAS (NumPy): its worker threads spin after a call.
BLAS_SYSTEMS = {"numpy", "reference"}


# --------------------------------------------------------------------------- optional imports

def _try_import(name):
    try:
        return __import__(name), None
    except Exception as exc:  # ImportError, or a broken build raising something else
        return None, f"{type(exc).__name__}: {exc}"


fastnn, FASTNN_ERROR = _try_import("fastnn")
torch, TORCH_ERROR = _try_import("torch")
threadpoolctl, THREADPOOLCTL_ERROR = _try_import("threadpoolctl")
if fastnn is not None:
    try:
        import fastnn.reference  # noqa: F401  (the NumPy twin, benchmarked as "reference")
    except Exception as exc:  # pragma: no cover - depends on the package state
        FASTNN_REFERENCE_ERROR = f"{type(exc).__name__}: {exc}"
    else:
        FASTNN_REFERENCE_ERROR = None
else:
    FASTNN_REFERENCE_ERROR = FASTNN_ERROR


def system_unavailable(system: str) -> str | None:
    """Why ``system`` cannot be benchmarked here, or None when it can."""
    if system == "fastnn":
        return None if fastnn is not None else f"fastnn not importable ({FASTNN_ERROR})"
    if system == "reference":
        if FASTNN_REFERENCE_ERROR is not None:
            return f"fastnn.reference not importable ({FASTNN_REFERENCE_ERROR})"
        return system_unavailable("numpy")  # runs on NumPy's BLAS: same thread control
    if system == "torch":
        return None if torch is not None else "torch not installed"
    if system == "numpy":
        if threadpoolctl is None:
            return ("threadpoolctl not installed: cannot fix NumPy's BLAS thread count "
                    "(pip install threadpoolctl, or .[bench])")
        return None
    return f"unknown system {system!r}"


def interleaved_params(config, cases, systems, unavailable=None):
    """pytest params (threads, case, repetition, system) ordered threads >
    repetition > case > system: systems interleaved within each repetition,
    a case's repetitions spread over the run. Unavailable systems are skipped
    with the reason. Used by the suites whose items are not GEMMs."""
    s = bench_settings(config)
    unavailable = unavailable or system_unavailable
    params = []
    for threads in s["threads"]:
        for rep in range(s["reps"]):
            for case in cases:
                for system in systems:
                    why = unavailable(system)
                    marks = [pytest.mark.skip(reason=why)] if why else []
                    params.append(pytest.param((threads, case, rep, system), marks=marks,
                                               id=f"t{threads}-{case}-r{rep}-{system}"))
    return params


def fastnn_info() -> str | None:
    if fastnn is None:
        return None
    try:
        return str(fastnn.info())
    except Exception as exc:  # pragma: no cover
        return f"fastnn.info() failed: {exc!r}"


def fastnn_isa() -> str | None:
    info = fastnn_info() or ""
    for line in info.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("cpu isa", "isa"):
            return value.strip()
    return None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def bench_settings(config) -> dict:
    """The effective settings: command-line option, else environment variable, else default."""
    quick = bool(config.getoption("quick", default=False)) or _env_flag("BENCH_QUICK")
    reps = config.getoption("bench_reps", default=None) or os.environ.get("BENCH_REPS")
    reps = int(reps) if reps else (2 if quick else 5)
    threads = config.getoption("bench_threads", default=None) or os.environ.get(
        "BENCH_THREADS", "1,2")
    threads = [int(t) for t in str(threads).split(",") if t.strip()]
    systems = config.getoption("bench_systems", default=None) or os.environ.get(
        "BENCH_SYSTEMS", ",".join(ALL_SYSTEMS))
    systems = [s.strip() for s in str(systems).split(",") if s.strip()]
    unknown = [s for s in systems if s not in ALL_SYSTEMS]
    if unknown:
        raise pytest.UsageError(f"unknown bench system(s) {unknown}; known: {ALL_SYSTEMS}")
    # keep the canonical interleaving order whatever order was given
    systems = [s for s in ALL_SYSTEMS if s in systems]
    pause = float(os.environ.get("BENCH_PAUSE", "0.15"))
    order = config.getoption("bench_order", default=None) or os.environ.get("BENCH_ORDER", "case")
    if order not in ("case", "rep"):
        raise pytest.UsageError(f"--bench-order must be 'case' or 'rep', not {order!r}")
    return {"quick": quick, "reps": max(1, reps), "threads": threads, "systems": systems,
            "pause": pause, "order": order}


# --------------------------------------------------------------------------- threads

class ThreadControl:
    """Sets one thread count for every system; only re-applies when the count changes."""

    def __init__(self):
        self.current = None
        self._blas_limiter = None

    def set(self, n: int) -> None:
        if n == self.current:
            return
        if fastnn is not None:
            fastnn.set_num_threads(n)
            got = fastnn.get_num_threads()
            if got != n:
                raise RuntimeError(f"fastnn.set_num_threads({n}) left get_num_threads()={got}")
        if torch is not None:
            torch.set_num_threads(n)
        if threadpoolctl is not None:
            if self._blas_limiter is not None:
                self._blas_limiter.restore_original_limits()
            # BLAS only: fastnn's own OpenMP pool is governed by fastnn.set_num_threads.
            self._blas_limiter = threadpoolctl.threadpool_limits(limits=n, user_api="blas")
        self.current = n

    def restore(self) -> None:
        if self._blas_limiter is not None:
            self._blas_limiter.restore_original_limits()
            self._blas_limiter = None
        self.current = None


class Pacer:
    """Sleeps before a measurement when it or the previous one ran on OpenBLAS (NumPy), whose
    worker threads keep spinning after a call and steal a core from whatever runs next."""

    def __init__(self, pause: float):
        self.pause = pause
        self.previous = None

    def before(self, system: str) -> None:
        if self.pause > 0 and (system in BLAS_SYSTEMS or self.previous in BLAS_SYSTEMS
                               or self.previous is None):
            time.sleep(self.pause)
        self.previous = system


# --------------------------------------------------------------------------- JSON machine info

def _blas_info():
    if threadpoolctl is None:
        return None
    importlib.import_module("numpy")  # loads OpenBLAS so threadpoolctl can see it
    try:
        info = threadpoolctl.threadpool_info()
    except Exception as exc:  # pragma: no cover
        return [{"error": repr(exc)}]
    keep = ("user_api", "internal_api", "prefix", "version", "num_threads",
            "threading_layer", "architecture", "filepath")
    return [{k: lib.get(k) for k in keep if k in lib} for lib in info]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info_extra(settings: dict) -> dict:
    """Facts about this run stored in the JSON's machine_info["fastnn_bench"]."""
    import numpy

    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "settings": settings,
        "cpu_model": _cpu_model(),
        "os_cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "blas": _blas_info(),
        "torch": getattr(torch, "__version__", None),
        "torch_error": TORCH_ERROR,
        "fastnn": getattr(fastnn, "__version__", None),
        "fastnn_info": fastnn_info(),
        "fastnn_isa": fastnn_isa(),
        "fastnn_error": FASTNN_ERROR,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
