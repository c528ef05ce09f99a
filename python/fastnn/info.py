"""``fastnn.info()``: what this build of fastnn is and what it can use here."""

from __future__ import annotations

import platform

from fastnn import _C
from fastnn.backend import cuda_status


def info() -> str:
    """A multi-line report: version, build flags, CPU ISA, threads, CUDA and GPU."""
    b = _C.build_info()
    isa, best = _C.cpu_isa(), _C.best_cpu_isa()
    lines = [
        f"fastnn {b['version']}",
        f"build: {b['build_type']}, {b['compiler']}",
        f"python: {platform.python_version()} on {platform.machine()}",
        f"cpu isa: {isa}" + ("" if isa == best else f" (best available: {best})"),
        f"threads: {_C.get_num_threads()} (cpus available: {_C.available_cpus()})",
    ]
    if b["cuda"]:
        lines.append(f"cuda: compiled in (nvcc {b['cuda_compiler']}, architectures {b['cuda_architectures']})")
    else:
        lines.append("cuda: not compiled in")
    usable, why = cuda_status()
    lines.append(f"gpu: {'usable, ' if usable else 'not usable: '}{why}")
    lines.append(f"float32 matmul precision: {('highest', 'high', 'medium')[_C.get_matmul_precision()]}")
    return "\n".join(lines)
