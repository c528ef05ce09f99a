"""pytest configuration for the fastnn benchmark suites (bench/).

Run with ``pytest bench/`` (or ``cd bench && pytest``); see bench/README.md.

What lives here, shared by every suite in bench/:

* options: ``--quick`` (also ``BENCH_QUICK=1``), ``--bench-reps``, ``--bench-threads``,
  ``--bench-systems`` (each also readable from an environment variable, see ``bench_settings``);
* the ``bench`` marker, put on every item collected under bench/;
* a guard: bench items are deselected unless bench/ was asked for explicitly (a path under
  bench/ on the command line, or pytest started inside bench/), so a plain ``pytest`` from the
  repository root never spends minutes timing kernels;
* ``ThreadControl``: fixes the thread count of every system (fastnn.set_num_threads,
  torch.set_num_threads, threadpoolctl for NumPy's BLAS);
* machine_info additions for the JSON (fastnn.info(), BLAS libraries, torch version), read by
  bench/report.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_common import (
    ALL_SYSTEMS, BENCH_DIR, Pacer, ThreadControl, bench_settings, fastnn, fastnn_isa,
    machine_info_extra, system_unavailable,
)


# --------------------------------------------------------------------------- options

def pytest_addoption(parser):
    group = parser.getgroup("fastnn bench")
    group.addoption("--quick", action="store_true", default=False,
                    help="fastnn bench: 2 repetitions instead of 5 (also BENCH_QUICK=1)")
    group.addoption("--bench-reps", type=int, default=None,
                    help="fastnn bench: repetitions per case (default 5, 2 with --quick; "
                         "also BENCH_REPS)")
    group.addoption("--bench-threads", default=None,
                    help="fastnn bench: comma-separated thread counts (default 1,2; "
                         "also BENCH_THREADS)")
    group.addoption("--bench-systems", default=None,
                    help="fastnn bench: comma-separated systems among "
                         f"{','.join(ALL_SYSTEMS)} (default all; also BENCH_SYSTEMS)")
    group.addoption("--bench-order", choices=("case", "rep"), default=None,
                    help="fastnn bench: 'case' (default) runs all repetitions of a case in a "
                         "row: threads > case > repetition > system; 'rep' runs each "
                         "repetition over all cases: threads > repetition > case > system, "
                         "spreading a case's repetitions over the run so a slow phase of the "
                         "machine spoils at most one of them (also BENCH_ORDER)")


# --------------------------------------------------------------------------- markers, guard

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "bench: a timing benchmark from bench/ (pytest-benchmark); never part of tests/")


def _explicitly_requested(config) -> bool:
    """True when the paths pytest was given (or, given none, the directory it was started in)
    lie inside bench/."""
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0])
        if not path.is_absolute():
            path = Path(config.invocation_params.dir) / path
        try:
            if path.resolve().is_relative_to(BENCH_DIR):
                return True
        except OSError:
            continue
    return False


def pytest_collection_modifyitems(config, items):
    bench_items = []
    for item in items:
        try:
            inside = Path(str(item.path)).resolve().is_relative_to(BENCH_DIR)
        except OSError:
            inside = False
        if inside:
            item.add_marker(pytest.mark.bench)
            bench_items.append(item)
    if bench_items and not _explicitly_requested(config):
        # e.g. a plain `pytest` at the repository root: the benchmarks take minutes and are not
        # tests. Ask for them by path: `pytest bench/`.
        dropped = set(bench_items)
        keep = [item for item in items if item not in dropped]
        config.hook.pytest_deselected(items=bench_items)
        items[:] = keep


def pytest_report_header(config):
    s = bench_settings(config)
    lines = [
        f"fastnn bench: systems={','.join(s['systems'])} threads={s['threads']} "
        f"repetitions={s['reps']}{' (quick)' if s['quick'] else ''} pause={s['pause']}s "
        f"order={s['order']}",
    ]
    for system in s["systems"]:
        why = system_unavailable(system)
        if why:
            lines.append(f"fastnn bench: {system} skipped: {why}")
    if fastnn is not None:
        lines.append(f"fastnn bench: fastnn {getattr(fastnn, '__version__', '?')} "
                     f"from {getattr(fastnn, '__file__', '?')}, isa={fastnn_isa()}")
    return lines


@pytest.fixture(scope="session")
def thread_control():
    control = ThreadControl()
    yield control
    control.restore()


@pytest.fixture(scope="session")
def settings(request):
    return bench_settings(request.config)


@pytest.fixture(scope="session")
def pacer(request):
    return Pacer(bench_settings(request.config)["pause"])


def pytest_benchmark_update_machine_info(config, machine_info):
    # read by bench/report.py: versions, BLAS, fastnn.info() and the settings of this run
    machine_info["fastnn_bench"] = machine_info_extra(bench_settings(config))
