#!/usr/bin/env python
"""Turn the pytest-benchmark JSON of bench/test_bench_gemm.py into a markdown report.

    pytest bench/ --benchmark-json=/tmp/gemm.json
    python bench/report.py /tmp/gemm.json -o bench/results/gemm-$(date +%F).md

Without ``-o`` the markdown goes to standard output.

How the numbers are made (see bench/README.md):

* each benchmark item is one (threads, case, repetition, system) measurement; its median time
  per call gives that repetition's GFLOP/s = 2·m·n·k / median / 1e9;
* a system's headline GFLOP/s is the median over repetitions, shown with the min–max over
  repetitions;
* a ratio (fastnn/numpy, fastnn/torch) is taken per repetition, between the two systems'
  measurements of that same repetition (they ran back to back, interleaved), then summarised
  as median (min–max);
* targets: fastnn/numpy ≥ 0.9 on square n ≥ 512, ≥ 1.0 on the network (Dense) shapes; a row
  is marked ✓ when the ratio's median meets its target and ✗ when it misses it.

GPU items (bench/test_bench_gpu_gemm.py: extra_info kind "gpu-square"/"gpu-network", a
"device" name, no thread count) get their own table per device: TFLOP/s of fastnn, cublas (CuPy)
and torch, and the fastnn/cublas and fastnn/torch ratios per repetition, summarised the same way
(no targets); a JSON holding only GPU items gets a GPU header instead of the CPU one. A CPU-only
JSON renders exactly as before.

Only the standard library is needed; fastnn is imported (optionally) only when the JSON does
not record its version and ISA.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import subprocess
import sys
from collections import OrderedDict, defaultdict
from pathlib import Path

SYSTEMS = ("fastnn", "numpy", "reference", "torch")
VARIANT_LABELS = {
    "nn": "A·B",
    "forward": "forward X·W",
    "wgrad": "weight grad Xᵀ·dY",
    "igrad": "input grad dY·Wᵀ",
}


def target_for(info: dict) -> float | None:
    """The fastnn/numpy ratio a row must reach, or None when the row has no target."""
    kind = info.get("kind") or ("square" if str(info.get("case", "")).startswith("square")
                                else "network")
    if kind == "square":
        return 0.9 if int(info.get("M", 0)) >= 512 else None
    return 1.0


# --------------------------------------------------------------------------- loading

def is_gpu_item(info: dict) -> bool:
    """A measurement of bench/test_bench_gpu_gemm.py."""
    return str(info.get("kind", "")).startswith("gpu-")


def load_rows(data: dict):
    """Group measurements: {threads: OrderedDict[(case, variant)] -> row}."""
    by_threads: dict[int, OrderedDict] = defaultdict(OrderedDict)
    duplicates = 0
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        stats = bench.get("stats") or {}
        if not {"system", "case", "variant", "threads", "flops"} <= info.keys():
            continue  # not a GEMM item of this suite
        if is_gpu_item(info):
            continue  # rendered by the GPU part below
        median = stats.get("median")
        if not median or median <= 0:
            continue
        threads = int(info["threads"])
        key = (info["case"], info["variant"])
        row = by_threads[threads].setdefault(key, {"info": info, "gflops": defaultdict(dict)})
        rep = int(info.get("repetition", 0))
        if rep in row["gflops"][info["system"]]:
            duplicates += 1
        row["gflops"][info["system"]][rep] = info["flops"] / median / 1e9
    return by_threads, duplicates


def spread(values):
    """(median, min, max) of a non-empty list, else None."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def ratios(row, num: str, den: str):
    a, b = row["gflops"].get(num, {}), row["gflops"].get(den, {})
    return [a[rep] / b[rep] for rep in sorted(a.keys() & b.keys()) if b[rep] > 0]


# --------------------------------------------------------------------------- formatting

def fmt_gflops(s) -> str:
    if s is None:
        return "—"
    med, lo, hi = s

    def f(x):
        return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"

    return f"{f(med)} ({f(lo)}–{f(hi)})"


def fmt_ratio(s, target: float | None = None) -> str:
    if s is None:
        return "—"
    med, lo, hi = s
    # three decimals where two would round a miss up to the target (0.996 is not 1.00)
    digits = 3 if target is not None and med < target <= round(med, 2) else 2
    return f"{med:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def case_label(info: dict) -> str:
    if info.get("kind") == "square" or str(info["case"]).startswith("square"):
        return f"square {info['M']}"
    return f"dense {info['M']}×{info['K']}×{info['N']}"


def gemm_label(info: dict) -> str:
    m = info.get("gemm_m", info.get("M"))
    k = info.get("gemm_k", info.get("K"))
    n = info.get("gemm_n", info.get("N"))
    return f"{m}×{k}×{n}"


# --------------------------------------------------------------------------- header facts

def git_commit(repo_dir: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo_dir), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(repo_dir), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + (" (dirty)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def commit_text(data: dict) -> str:
    ci = data.get("commit_info") or {}
    cid = ci.get("id")
    if cid and cid != "unknown" and not ci.get("error"):
        text = cid[:12] + (" (dirty: uncommitted changes when measured)" if ci.get("dirty")
                           else "")
        if ci.get("branch") and ci["branch"] != "(unknown)":
            text += f" on {ci['branch']}"
        return text
    here = git_commit(Path(__file__).resolve().parent)
    if here:
        return f"{here} (from git when the report was made; the JSON has no commit)"
    return "unknown (no commit recorded; the repository had none)"


def fastnn_facts(data: dict) -> tuple[str, str, str]:
    """(version, isa, where from)."""
    fb = (data.get("machine_info") or {}).get("fastnn_bench") or {}
    version, isa = fb.get("fastnn"), fb.get("fastnn_isa")
    if version or isa:
        return version or "?", isa or "?", "recorded by the run"
    try:  # the JSON predates the recording, or fastnn was absent from the run
        import fastnn  # noqa: WPS433

        info = str(fastnn.info())
        match = re.search(r"cpu isa\s*:\s*(\S+)", info, re.I)
        return (getattr(fastnn, "__version__", "?"), match.group(1) if match else "?",
                "fastnn importable when the report was made")
    except Exception:
        pass
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        if info.get("fastnn_version") or info.get("fastnn_isa"):
            return (info.get("fastnn_version") or "?", info.get("fastnn_isa") or "?",
                    "benchmark extra_info")
    return "not measured", "?", "fastnn was not importable"


def blas_text(fb: dict) -> str:
    libs = [lib for lib in fb.get("blas") or [] if lib.get("user_api") == "blas"]
    if not libs:
        return "BLAS unknown"
    parts = []
    for lib in libs:
        part = f"{lib.get('internal_api', '?')} {lib.get('version', '?')}"
        extra = [x for x in (lib.get("architecture"), lib.get("threading_layer")) if x]
        if extra:
            part += f" ({', '.join(extra)})"
        parts.append(part)
    return "; ".join(parts)


def header(data: dict, systems_present: list[str], duplicates: int) -> list[str]:
    mi = data.get("machine_info") or {}
    cpu = mi.get("cpu") or {}
    fb = mi.get("fastnn_bench") or {}
    settings = fb.get("settings") or {}
    model = fb.get("cpu_model") or cpu.get("brand_raw") or mi.get("processor") or "unknown CPU"
    cores = fb.get("cpus_available") or cpu.get("count") or fb.get("os_cpu_count") or "?"
    flags = set(cpu.get("flags") or [])
    cpu_isa = "avx512f" if "avx512f" in flags else "avx2+fma" if {"avx2", "fma"} <= flags else ""
    version, isa, isa_src = fastnn_facts(data)
    torch_v = fb.get("torch")
    date = str(data.get("datetime", "?")).replace("T", " ")[:19]

    lines = ["# GEMM benchmark: fastnn vs NumPy/OpenBLAS, the NumPy reference and PyTorch", ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| machine | {model}, {cores} cores available"
        + (f" ({cpu_isa})" if cpu_isa else "")
        + f", {mi.get('system', '?')} {mi.get('release', '')} |",
        f"| date | {date} UTC |",
        f"| commit | {commit_text(data)} |",
        f"| fastnn | {version}, cpu isa: {isa} ({isa_src}) |",
        f"| numpy | {fb.get('numpy', '?')}, {blas_text(fb)} |",
        f"| torch | {torch_v if torch_v else 'not installed: no torch columns'} |",
        f"| python | {fb.get('python') or mi.get('python_version', '?')}, "
        f"pytest-benchmark {data.get('version', '?')} |",
    ]
    if settings:
        lines.append(
            f"| run | threads {settings.get('threads')}, {settings.get('reps')} repetitions"
            f"{' (quick)' if settings.get('quick') else ''}, systems interleaved "
            f"{' → '.join(systems_present)} within each repetition, "
            + ("each repetition over all cases in turn (order: rep), "
               if settings.get("order") == "rep" else
               "a case's repetitions in a row (order: case), ")
            + f"{settings.get('pause')} s pause around OpenBLAS calls |")
    if fb.get("glibc_tunables"):
        lines.append(f"| GLIBC_TUNABLES | `{fb['glibc_tunables']}` |")
    lines += [
        "",
        "GFLOP/s = 2·m·n·k / time. Each cell: median over repetitions of the per-repetition "
        "median time, with the min–max over repetitions in brackets. Ratios are taken per "
        "repetition between systems that ran back to back, then summarised the same way. "
        "`m×k×n` is the GEMM actually run (op(A) is m×k); the dense cases are the three GEMMs "
        "of a Dense layer with batch×in×out as named. Targets on fastnn/numpy: ≥ 0.90 for "
        "square n ≥ 512, ≥ 1.00 for the dense shapes; ✓ met, ✗ missed (by the median).",
    ]
    if duplicates:
        lines += ["", f"Note: {duplicates} duplicate measurements (same repetition and system) "
                      "were found; the last one was kept."]
    return lines


# --------------------------------------------------------------------------- tables

def table(rows: OrderedDict, systems_present: list[str]) -> list[str]:
    have_fastnn = "fastnn" in systems_present
    ratio_cols = []
    if have_fastnn and "numpy" in systems_present:
        ratio_cols.append(("numpy", "fastnn/numpy"))
    if have_fastnn and "torch" in systems_present:
        ratio_cols.append(("torch", "fastnn/torch"))

    head = ["case", "variant", "m×k×n"] + [f"{s} GFLOP/s" for s in systems_present]
    head += [label for _, label in ratio_cols]
    if ratio_cols and ratio_cols[0][0] == "numpy":
        head.append("target")
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    met = missed = 0
    for row in rows.values():
        info = row["info"]
        cells = [case_label(info), VARIANT_LABELS.get(info["variant"], info["variant"]),
                 gemm_label(info)]
        cells += [fmt_gflops(spread(list(row["gflops"].get(s, {}).values())))
                  for s in systems_present]
        for den, _ in ratio_cols:
            cells.append(fmt_ratio(spread(ratios(row, "fastnn", den)),
                                   target_for(info) if den == "numpy" else None))
        if ratio_cols and ratio_cols[0][0] == "numpy":
            target = target_for(info)
            r = spread(ratios(row, "fastnn", "numpy"))
            if target is None:
                cells.append("—")
            elif r is None:
                cells.append(f"≥ {target:.2f} ?")
            elif r[0] >= target:
                met += 1
                cells.append(f"≥ {target:.2f} ✓")
            else:
                missed += 1
                cells.append(f"≥ {target:.2f} ✗")
        out.append("| " + " | ".join(cells) + " |")
    if met or missed:
        out += ["", f"Targets met: {met} of {met + missed}."]
    return out


def render(data: dict) -> str:
    train = load_train_rows(data)
    if train and not _has_other_items(data):
        return "\n".join(train_document(data, train)) + "\n"
    conv = load_conv_rows(data)
    if conv:
        text = "\n".join(conv_document(data, conv)) + "\n"
        rest = dict(data, benchmarks=[b for b in data.get("benchmarks", [])
                                      if (b.get("extra_info") or {}).get("kind") != "conv"])
        if rest["benchmarks"]:
            text += "\n" + _render_gemm_and_cpu_ops(rest)
        return text
    text = _render_gemm_and_cpu_ops(data)
    if train:
        text += "\n" + "\n".join(train_sections(train)) + "\n"
    gpu_ops = load_gpu_op_rows(data)
    if gpu_ops:
        text += "\n".join(gpu_op_sections(gpu_ops)) + "\n"
    return text


def _render_gemm_and_cpu_ops(data: dict) -> str:
    by_device, gpu_duplicates = load_gpu_rows(data)
    by_threads, _ = load_rows(data)
    activations = load_activation_rows(data)
    if not (by_device or by_threads or activations) and load_gpu_op_rows(data):
        return "# GPU ops: fastnn (CUDA) vs PyTorch\n"
    if activations and not by_threads and not by_device:
        return "\n".join(activation_document(data, activations)) + "\n"
    if by_device and not by_threads:
        text = "\n".join(gpu_document(data, by_device, gpu_duplicates)) + "\n"
    else:
        text = render_cpu(data)
        if by_device:
            text += "\n" + "\n".join(gpu_sections(data, by_device, gpu_duplicates, level=2)) + "\n"
    if activations:
        text += "\n" + "\n".join(activation_sections(activations)) + "\n"
    return text


# --------------------------------------------------------------------------- GPU op items

def _kind_items(data: dict, kind: str):
    """(extra_info, median seconds) of each measured item of one suite (its extra_info "kind")."""
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        median = (bench.get("stats") or {}).get("median")
        if info.get("kind") == kind and median:
            yield info, median



def load_gpu_op_rows(data: dict):
    """{device: OrderedDict[op] -> {system: {repetition: median seconds}}} for
    bench/test_bench_gpu_ops.py (extra_info kind "gpu-op")."""
    by_device: dict[str, OrderedDict] = defaultdict(OrderedDict)
    for info, median in _kind_items(data, "gpu-op"):
        row = by_device[str(info.get("device", "?"))].setdefault(info["op"], defaultdict(dict))
        row[info["system"]][int(info.get("repetition", 0))] = median
        row["_meta"] = {"elements": info.get("elements"), "commit": info.get("commit")}
    return by_device


def gpu_op_sections(by_device) -> list[str]:
    out: list[str] = []
    for device in sorted(by_device):
        rows = by_device[device]
        commit = next((r["_meta"].get("commit") for r in rows.values() if r["_meta"].get("commit")), None)
        out += ["", f"## GPU ops on {device} (commit {commit or '?'})", "",
                "Time in µs per call, GPU-complete (synchronizing timer), median over repetitions "
                "(min–max); torch/fastnn is torch's time over fastnn's per repetition (target ≥ 1.0). "
                "act-*: forward + backward; ce-*: fused softmax cross-entropy loss + gradient; "
                "adam-1M: one step over 2^20 parameters in 10 tensors (torch_fused: "
                "`torch.optim.Adam(fused=True)`); adam-class-1M: the same through "
                "`fastnn.optimizers.Adam`; adam-gclip-1M: with global-norm clipping to 1.0 "
                "(torch: `clip_grad_norm_` + step).", "",
                "| op | fastnn µs | torch µs | torch/fastnn | torch_fused µs | torch_fused/fastnn |",
                "|---|---:|---:|---:|---:|---:|"]
        met = total = 0
        for op, row in rows.items():
            def us(system):
                s = spread(list(row.get(system, {}).values()))
                return "—" if s is None else f"{s[0] * 1e6:.3g} ({s[1] * 1e6:.3g}–{s[2] * 1e6:.3g})"
            vs_torch, r = _speedup(row, "torch")
            vs_fused, _ = _speedup(row, "torch_fused")
            if r is not None:
                total += 1
                met += r >= 1.0
            out.append(f"| {op} | {us('fastnn')} | {us('torch')} | {vs_torch} | {us('torch_fused')} | {vs_fused} |")
        out += ["", f"fastnn at least as fast as torch: {met} of {total}."]
    return out


# --------------------------------------------------------------------------- training epochs

TRAIN_SYSTEMS = ("fastnn", "torch", "torch_cl", "keras")
#: fastnn's epoch time over the other system's must stay at or below these, per model (issue 4
#: for the MLP, issue 5 for the CNN on the CPU; issue 6 for the CNN on a GPU).
TRAIN_TARGETS = {"mlp": {"torch": 0.7, "keras": 0.5}, "cnn": {"torch": 0.8, "keras": 0.5}}
GPU_TRAIN_TARGETS = {"cnn": {"torch": 1.0}}


def _train_target(model: str, device: str, other: str):
    if device != "cpu":
        return GPU_TRAIN_TARGETS.get(model, {}).get(other)
    return TRAIN_TARGETS.get(model, TRAIN_TARGETS["mlp"]).get(other)


def load_train_rows(data: dict):
    """{(model, threads, device): {system: {repetition: seconds per epoch}}} for
    bench/test_bench_train.py (extra_info kind "train-epoch"; one epoch per item, so the median is
    that epoch's time). device: "cpu" or the GPU's name (older JSON has none: "cpu")."""
    rows: dict = {}
    for info, median in _kind_items(data, "train-epoch"):
        key = (info["model"], int(info["threads"]), str(info.get("device") or "cpu"))
        row = rows.setdefault(key, {"_meta": info})
        row.setdefault(info["system"], {})[int(info.get("repetition", 0))] = median
    return dict(sorted(rows.items(), key=lambda kv: (kv[0][2] != "cpu", ["mlp", "cnn"].index(kv[0][0])
                                                        if kv[0][0] in ("mlp", "cnn") else 9, kv[0][1])))


def _has_other_items(data: dict) -> bool:
    return any((b.get("extra_info") or {}).get("kind") != "train-epoch" for b in data.get("benchmarks", []))


def _train_ratio(row, other: str):
    """fastnn's time over ``other``'s per repetition (for torch: the faster of NCHW and
    channels_last in that repetition), as (median, min, max)."""
    fast = row.get("fastnn", {})
    if other == "torch" and "torch_cl" in row:
        reps = set(row.get("torch", {})) | set(row["torch_cl"])
        theirs = {r: min(t for t in (row.get("torch", {}).get(r), row["torch_cl"].get(r)) if t is not None)
                  for r in reps}
    else:
        theirs = row.get(other, {})
    return spread([fast[r] / theirs[r] for r in sorted(set(fast) & set(theirs)) if theirs[r] > 0])


TRAIN_MODEL_LABELS = {"mlp": "MLP 784-256-128-10", "cnn": "CNN Conv32-Pool-Conv64-Pool-Dense128-Dense10"}


def train_sections(rows) -> list[str]:
    present = [s for s in TRAIN_SYSTEMS if any(s in row for row in rows.values())]
    others = [s for s in ("torch", "keras") if s in present]
    on_gpu = any(device != "cpu" for _, _, device in rows)
    out = ["## Training: seconds per 60,000-image MNIST epoch", "",
           "One epoch per measurement (batch 128, Adam, float32, after one untimed warm-up epoch per "
           "system); systems interleaved within each repetition. Each cell: median over repetitions "
           "(min–max). fastnn/x is fastnn's epoch time over x's in the same repetition, then median "
           "(min–max): below 1, fastnn is faster. For the CNN, torch is NCHW, torch_cl channels_last, and "
           "fastnn/torch uses the faster of the two per repetition. fastnn and keras: `model.fit(verbose=0)` "
           "with the accuracy metric; torch: the idiomatic eager loop (index shuffling, `nn.Sequential`, "
           "`optim.Adam`, `cross_entropy`). Targets: fastnn/torch ≤ "
           f"{TRAIN_TARGETS['mlp']['torch']} (MLP) / {TRAIN_TARGETS['cnn']['torch']} (CNN), fastnn/keras ≤ "
           f"{TRAIN_TARGETS['mlp']['keras']}; ✓ met, ✗ missed (by the median)."
           + (" On a GPU (`BENCH_DEVICE=cuda`): fastnn `model.to(\"cuda\")` then `fit` on the host arrays, "
              "torch with the whole dataset on the GPU, every epoch ending with a device synchronize; "
              f"target fastnn/torch ≤ {GPU_TRAIN_TARGETS['cnn']['torch']} for the CNN (issue 6)." if on_gpu else ""),
           "",
           "| model | " + ("device | " if on_gpu else "") + "threads | reps | "
           + " | ".join(f"{s} s/epoch" for s in present)
           + "".join(f" | fastnn/{o} | target" for o in others) + " |",
           "|---|" + ("---|" if on_gpu else "") + "---:|---:|" + "---:|" * (len(present) + 2 * len(others))]
    for (model, threads, device), row in rows.items():
        reps = len(row.get("fastnn", {}))
        cells = [TRAIN_MODEL_LABELS.get(model, model)] + ([device] if on_gpu else []) + [str(threads), str(reps)]
        for s in present:
            sp = spread(list(row.get(s, {}).values()))
            cells.append("—" if sp is None else f"{sp[0]:.3g} ({sp[1]:.3g}–{sp[2]:.3g})")
        for o in others:
            r = _train_ratio(row, o)
            target = _train_target(model, device, o)
            cells.append("—" if r is None else f"{r[0]:.2f} ({r[1]:.2f}–{r[2]:.2f})")
            cells.append("—" if r is None or target is None else f"≤ {target} {'✓' if r[0] <= target else '✗'}")
        out.append("| " + " | ".join(cells) + " |")
    return out


def train_document(data: dict, rows) -> list[str]:
    mi = data.get("machine_info") or {}
    fb = mi.get("fastnn_bench") or {}
    version, isa, _ = fastnn_facts(data)
    meta = next(iter(rows.values()))["_meta"]
    lines = ["# MNIST training speed: fastnn vs PyTorch eager and Keras 3 (torch backend)", "",
             "| | |", "|---|---|",
             f"| machine | {fb.get('cpu_model') or (mi.get('cpu') or {}).get('brand_raw', '?')}, "
             f"{fb.get('cpus_available', '?')} cores available (shared with other work) |",
             f"| date | {str(data.get('datetime', '?')).replace('T', ' ')[:19]} UTC |",
             f"| commit | {commit_text(data)} |",
             f"| fastnn | {version}, cpu isa: {isa} |"]
    gpus = sorted({device for _, _, device in rows if device != "cpu"})
    if gpus:
        lines.append(f"| gpu | {', '.join(gpus)} (BENCH_DEVICE=cuda) |")
    lines += [f"| numpy | {fb.get('numpy', '?')} |",
             f"| torch | {fb.get('torch') or 'not installed'} |",
             f"| keras | {meta.get('keras_version') or 'not importable: no keras column'} (KERAS_BACKEND=torch) |",
             f"| python | {fb.get('python') or mi.get('python_version', '?')}, "
             f"pytest-benchmark {data.get('version', '?')} |", ""]
    return lines + train_sections(rows)


# --------------------------------------------------------------------------- activation items

ACTIVATION_SYSTEMS = ("fastnn", "reference", "torch")


def load_activation_rows(data: dict):
    """{threads: OrderedDict[op] -> {system: {repetition: median seconds}}} for
    bench/test_bench_activation.py (extra_info kind "activation")."""
    by_threads: dict[int, OrderedDict] = defaultdict(OrderedDict)
    for info, median in _kind_items(data, "activation"):
        row = by_threads[int(info["threads"])].setdefault(info["op"], defaultdict(dict))
        row[info["system"]][int(info.get("repetition", 0))] = median
        row["_meta"] = {"n": info.get("n"), "target": float(info.get("target_vs_reference", 3.0))}
    return by_threads


def _ms(values) -> str:
    s = spread(values)
    return "—" if s is None else f"{s[0] * 1e3:.3g} ({s[1] * 1e3:.3g}–{s[2] * 1e3:.3g})"


def _speedup(row, slow: str) -> tuple[str, float | None]:
    """slow-system time / fastnn time per repetition (higher: fastnn faster)."""
    reps = sorted(set(row.get("fastnn", {})) & set(row.get(slow, {})))
    s = spread([row[slow][r] / row["fastnn"][r] for r in reps])
    return ("—", None) if s is None else (f"{s[0]:.2f} ({s[1]:.2f}–{s[2]:.2f})", s[0])


def activation_sections(by_threads) -> list[str]:
    # A numpy column appears when a suite timed plain NumPy beside the reference
    # (bench/test_bench_elementwise.py); it then has a >= 1.0x target like torch.
    with_numpy = any("numpy" in row for rows in by_threads.values() for row in rows.values())
    out = ["## Element-wise and row-wise ops, optimizer steps", "",
           "Time in ms per call: forward + backward for the ops, one update for the optimizers "
           "(median over repetitions, min–max in brackets); speed-ups are the other system's time "
           "over fastnn's, per repetition. Targets: ≥ the listed multiple of the NumPy reference "
           "(3× for activations, 5× for softmax cross-entropy and Adam) and ≥ 1.0× torch (autograd "
           "backward or torch.optim, as a user runs them)"
           + (" and, where timed, ≥ 1.0× plain NumPy." if with_numpy else ".")]
    for threads in sorted(by_threads):
        out += ["", f"### {threads} thread{'s' if threads != 1 else ''}", ""]
        if with_numpy:
            out += ["| op | elements | fastnn ms | numpy ms | reference ms | torch ms | numpy/fastnn | "
                    "reference/fastnn | torch/fastnn | target |",
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        else:
            out += ["| op | elements | fastnn ms | reference ms | torch ms | reference/fastnn | torch/fastnn | target |",
                    "|---|---:|---:|---:|---:|---:|---:|---:|"]
        met = total = 0
        for op, row in by_threads[threads].items():
            meta = row.get("_meta", {})
            target = meta.get("target", 3.0)
            vs_ref, r_ref = _speedup(row, "reference")
            vs_torch, r_torch = _speedup(row, "torch")
            vs_numpy, r_numpy = _speedup(row, "numpy")
            ok = [r >= t for r, t in ((r_ref, target), (r_torch, 1.0), (r_numpy, 1.0)) if r is not None]
            total += 1 if ok else 0
            met += 1 if ok and all(ok) else 0
            mark = "—" if not ok else ("✓" if all(ok) else "✗")
            cells = [op, str(meta.get("n", "?")), _ms(row.get("fastnn", {}).values())]
            if with_numpy:
                cells.append(_ms(row.get("numpy", {}).values()))
            cells += [_ms(row.get("reference", {}).values()), _ms(row.get("torch", {}).values())]
            if with_numpy:
                cells.append(vs_numpy)
            cells += [vs_ref, vs_torch, f"≥ {target:g}× ref: {mark}"]
            out.append("| " + " | ".join(cells) + " |")
        out += ["", f"Targets met: {met} of {total}."]
    return out


def activation_document(data: dict, by_threads) -> list[str]:
    mi = data.get("machine_info") or {}
    fb = mi.get("fastnn_bench") or {}
    version, isa, _ = fastnn_facts(data)
    lines = ["# Element-wise ops, softmax cross-entropy and optimizer steps: fastnn vs the NumPy reference and PyTorch", "",
             "| | |", "|---|---|",
             f"| machine | {fb.get('cpu_model') or (mi.get('cpu') or {}).get('brand_raw', '?')}, "
             f"{fb.get('cpus_available', '?')} cores available |",
             f"| date | {str(data.get('datetime', '?')).replace('T', ' ')[:19]} UTC |",
             f"| commit | {commit_text(data)} |",
             f"| fastnn | {version}, cpu isa: {isa} |",
             f"| numpy | {fb.get('numpy', '?')} |",
             f"| torch | {fb.get('torch') or 'not installed'} |", ""]
    return lines + activation_sections(by_threads)


def render_cpu(data: dict) -> str:
    by_threads, duplicates = load_rows(data)
    present = {s for rows in by_threads.values() for row in rows.values() for s in row["gflops"]}
    systems_present = [s for s in SYSTEMS if s in present] + sorted(present - set(SYSTEMS))
    lines = header(data, systems_present, duplicates)
    if not by_threads:
        lines += ["", "**No GEMM measurements in this file.**"]
    for threads in sorted(by_threads):
        lines += ["", f"## {threads} thread{'s' if threads != 1 else ''} "
                      "(fixed for every system)", ""]
        lines += table(by_threads[threads], systems_present)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- conv items

CONV_SYSTEMS = ("fastnn", "torch_nchw", "torch_cl", "reference")


def load_conv_rows(data: dict):
    """{threads: OrderedDict[(case, pass)] -> {system: {repetition: median seconds}}} for
    bench/test_bench_conv.py (extra_info kind "conv")."""
    by_threads: dict[int, OrderedDict] = defaultdict(OrderedDict)
    for info, median in _kind_items(data, "conv"):
        row = by_threads[int(info["threads"])].setdefault((info["case"], info["pass_"]), defaultdict(dict))
        row[info["system"]][int(info.get("repetition", 0))] = median
        row["_meta"] = info
    return by_threads


def _torch_best(row) -> dict:
    """Per repetition, the faster of torch's two memory formats."""
    reps = set(row.get("torch_nchw", {})) | set(row.get("torch_cl", {}))
    return {r: min(t for t in (row.get("torch_nchw", {}).get(r), row.get("torch_cl", {}).get(r)) if t is not None)
            for r in reps}


def conv_sections(by_threads) -> list[str]:
    out = ["## Convolution layers of the MNIST CNN, batch 128", "",
           "Time in ms per call (median over repetitions, min–max in brackets). `fwd`: relu(conv(x) + b); "
           "`fwd+bwd`: the forward, then dw and db (and dx for conv2; conv1 is the first layer). torch is "
           "timed on NCHW and channels_last tensors; torch/fastnn uses the faster of the two in each "
           "repetition. Speed-ups are the other system's time over fastnn's, per repetition. Targets "
           "(issue 5): ≥ 1.0× torch and ≥ 3× the NumPy reference."]
    for threads in sorted(by_threads):
        out += ["", f"### {threads} thread{'s' if threads != 1 else ''} (fixed for every system)", "",
                "| layer | pass | GEMM m×k×n | fastnn ms | torch NCHW ms | torch channels_last ms | reference ms | "
                "torch/fastnn | reference/fastnn | targets |",
                "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
        met = total = 0
        for (case, p), row in by_threads[threads].items():
            meta = row["_meta"]
            best = dict(row)
            best["torch"] = _torch_best(row)
            vs_torch, r_torch = _speedup(best, "torch")
            vs_ref, r_ref = _speedup(best, "reference")
            ok = [r >= t for r, t in ((r_torch, 1.0), (r_ref, 3.0)) if r is not None]
            total += 1 if ok else 0
            met += 1 if ok and all(ok) else 0
            marks = []
            if r_torch is not None:
                marks.append(f"torch {'✓' if r_torch >= 1.0 else '✗'}")
            if r_ref is not None:
                marks.append(f"3× ref {'✓' if r_ref >= 3.0 else '✗'}")
            cells = [case.split(" ")[0] + " " + " ".join(case.split(" ")[1:]), p,
                     f"{meta.get('gemm_m')}×{meta.get('gemm_k')}×{meta.get('gemm_n')}",
                     _ms(row.get("fastnn", {}).values()), _ms(row.get("torch_nchw", {}).values()),
                     _ms(row.get("torch_cl", {}).values()), _ms(row.get("reference", {}).values()),
                     vs_torch, vs_ref, ", ".join(marks) or "—"]
            out.append("| " + " | ".join(cells) + " |")
        out += ["", f"Rows meeting both targets: {met} of {total}."]
    return out


def conv_document(data: dict, by_threads) -> list[str]:
    mi = data.get("machine_info") or {}
    fb = mi.get("fastnn_bench") or {}
    version, isa, _ = fastnn_facts(data)
    blas = blas_text(fb) if fb.get("blas") else "?"
    lines = ["# 2-D convolution: fastnn vs PyTorch CPU and the NumPy reference", "",
             "| | |", "|---|---|",
             f"| machine | {fb.get('cpu_model') or (mi.get('cpu') or {}).get('brand_raw', '?')}, "
             f"{fb.get('cpus_available', '?')} cores available |",
             f"| date | {str(data.get('datetime', '?')).replace('T', ' ')[:19]} UTC |",
             f"| commit | {commit_text(data)} |",
             f"| fastnn | {version}, cpu isa: {isa} |",
             f"| numpy | {fb.get('numpy', '?')} ({blas}) |",
             f"| torch | {fb.get('torch') or 'not installed'} |",
             f"| GLIBC_TUNABLES | {fb.get('glibc_tunables') or 'unset (torch as a user gets it)'} |", ""]
    return lines + conv_sections(by_threads)


# --------------------------------------------------------------------------- GPU items

GPU_SYSTEMS = ("fastnn", "cublas", "torch", "fastnn_tf32", "torch_tf32", "fastnn_bf16", "torch_bf16")
# (numerator, denominator) of the GPU GEMM table's ratio columns, where both ran.
GPU_RATIOS = (("fastnn", "cublas"), ("fastnn", "torch"), ("fastnn_tf32", "torch_tf32"),
              ("fastnn_bf16", "torch_bf16"))
GPU_VARIANT_LABELS = dict(VARIANT_LABELS)


def load_gpu_rows(data: dict):
    """Group GPU measurements: {device: OrderedDict[(case, variant)] -> row}; a row holds
    "gflops" (from pytest-benchmark's median, GPU-complete timing) and "event_gflops" (from the
    CUDA-event cross-check), each {system: {repetition: GFLOP/s}}."""
    by_device: dict[str, OrderedDict] = defaultdict(OrderedDict)
    duplicates = 0
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        stats = bench.get("stats") or {}
        if not is_gpu_item(info) or not {"system", "case", "variant", "flops"} <= info.keys():
            continue
        median = stats.get("median")
        if not median or median <= 0:
            continue
        device = str(info.get("device") or "unknown GPU")
        key = (info["case"], info["variant"])
        row = by_device[device].setdefault(
            key, {"info": info, "gflops": defaultdict(dict), "event_gflops": defaultdict(dict)})
        rep = int(info.get("repetition", 0))
        if rep in row["gflops"][info["system"]]:
            duplicates += 1
        row["gflops"][info["system"]][rep] = info["flops"] / median / 1e9
        event_s = info.get("gpu_event_s")
        if event_s and event_s > 0:
            row["event_gflops"][info["system"]][rep] = info["flops"] / event_s / 1e9
    return by_device, duplicates


def fmt_tflops(s) -> str:
    """GFLOP/s spread shown as TFLOP/s with about three significant digits."""
    if s is None:
        return "—"

    def f(x):
        x /= 1e3
        return (f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 1
                else f"{x:.3f}")

    med, lo, hi = s
    return f"{f(med)} ({f(lo)}–{f(hi)})"


def _first_gpu_info(rows: OrderedDict) -> dict:
    merged: dict = {}
    for row in rows.values():
        for k, v in row["info"].items():
            if v is not None and k not in merged:
                merged[k] = v
    return merged


def _cuda_version(v) -> str:
    try:
        v = int(v)
    except (TypeError, ValueError):
        return "?"
    return f"{v // 1000}.{(v % 1000) // 10}"


def gpu_commit_text(data: dict, info: dict) -> str:
    if info.get("commit"):
        return f"{info['commit']} (passed in as FASTNN_COMMIT)"
    return commit_text(data)


def gpu_header_rows(data: dict, device: str, info: dict, systems_present: list[str]) -> list[str]:
    fb = (data.get("machine_info") or {}).get("fastnn_bench") or {}
    settings = fb.get("settings") or {}
    date = str(data.get("datetime", "?")).replace("T", " ")[:19]
    sms = info.get("device_sms")
    version = info.get("fastnn_version") or fb.get("fastnn") or "?"
    torch_v = info.get("torch") or fb.get("torch")
    tf32 = info.get("torch_allow_tf32")
    lines = [
        "| | |",
        "|---|---|",
        f"| device | {device} (compute capability {info.get('device_cc', '?')}"
        + (f", {sms} SMs" if sms else "")
        + f"), CUDA runtime {_cuda_version(info.get('cuda_runtime'))}, "
          f"driver {_cuda_version(info.get('cuda_driver'))} |",
        f"| host | {fb.get('cpu_model') or '?'}, "
        f"{(data.get('machine_info') or {}).get('system', '?')} "
        f"{(data.get('machine_info') or {}).get('release', '')} |",
        f"| date | {date} UTC |",
        f"| commit | {gpu_commit_text(data, info)} |",
        f"| fastnn | {version}, {info.get('fastnn_cuda') or 'cuda: ?'} |",
        f"| cupy (cuBLAS) | {info.get('cupy', '?')}, CUPY_TF32="
        f"{info.get('cupy_tf32') or 'unset'} |",
        "| torch | " + (f"{torch_v}, allow_tf32={tf32}" if torch_v and "torch" in systems_present
                         else f"{torch_v or 'not installed'}: no torch column") + " |",
        f"| python | {fb.get('python') or (data.get('machine_info') or {}).get('python_version', '?')}, "
        f"pytest-benchmark {data.get('version', '?')} |",
    ]
    if settings:
        lines.append(
            f"| run | {settings.get('reps')} repetitions{' (quick)' if settings.get('quick') else ''}, "
            f"systems interleaved {' → '.join(systems_present)} within each repetition, "
            + ("each repetition over all cases in turn (order: rep) |"
               if settings.get("order") == "rep" else
               "a case's repetitions in a row (order: case) |"))
    return lines


GPU_METHOD = (
    "TFLOP/s = 2·m·n·k / time. Time per call: pytest-benchmark's median over rounds, each round "
    "being a device synchronize, `iterations` back-to-back calls and a device synchronize (so "
    "it is GPU-complete and includes the launch cost a Python caller pays); each cell is the "
    "median over repetitions with the min–max in brackets. Ratios are taken per repetition "
    "between systems that ran back to back, then summarised the same way. \"by events\" is "
    "the same ratio from a CUDA-event timing of one batch of back-to-back calls per "
    "measurement (a cross-check). fastnn, cublas and torch compute in float32 (no TF32); the "
    "*_tf32 / *_bf16 columns use the tensor cores (fastnn through set_matmul_precision('high' / "
    "'medium') on the same float32 arrays; torch with allow_tf32, and on bfloat16 copies of the "
    "operands for torch_bf16). Outputs are preallocated; transposed operands are read in place. "
    "`m×k×n` is the GEMM actually run.")


def _geomean(values):
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def gpu_table(rows: OrderedDict, systems_present: list[str]) -> list[str]:
    ratio_cols = [(num, den) for num, den in GPU_RATIOS if num in systems_present and den in systems_present]
    has_events = any(row["event_gflops"].get("fastnn") for row in rows.values())
    head = ["case", "variant", "m×k×n"] + [f"{s} TFLOP/s" for s in systems_present]
    head += [f"{num}/{den}" for num, den in ratio_cols]
    event_col = has_events and ("fastnn", "cublas") in ratio_cols
    if event_col:
        head.append("fastnn/cublas by events")
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    medians: dict[str, list] = defaultdict(list)
    for row in rows.values():
        info = row["info"]
        cells = [case_label(info), GPU_VARIANT_LABELS.get(info["variant"], info["variant"]),
                 gemm_label(info)]
        cells += [fmt_tflops(spread(list(row["gflops"].get(s, {}).values())))
                  for s in systems_present]
        for num, den in ratio_cols:
            r = spread(ratios(row, num, den))
            cells.append(fmt_ratio(r))
            if r is not None and (num, den) == ("fastnn", "cublas"):
                group = "square" if str(info.get("kind")) == "gpu-square" else "dense"
                medians[group].append(r[0])
        if event_col:
            ev = {"gflops": row["event_gflops"]}
            cells.append(fmt_ratio(spread(ratios(ev, "fastnn", "cublas"))))
        out.append("| " + " | ".join(cells) + " |")
    summary = []
    for group, label in (("square", "square"), ("dense", "dense (network) shapes")):
        g = _geomean(medians.get(group, []))
        if g is not None:
            summary.append(f"{label} {g:.2f} ({len(medians[group])} rows)")
    if summary:
        out += ["", "Geometric mean of the fastnn/cublas medians: " + "; ".join(summary) + "."]
    return out


def _gpu_systems_present(rows: OrderedDict) -> list[str]:
    present = {s for row in rows.values() for s in row["gflops"]}
    return [s for s in GPU_SYSTEMS if s in present] + sorted(present - set(GPU_SYSTEMS))


def gpu_sections(data: dict, by_device: dict, duplicates: int, level: int) -> list[str]:
    """One section per device: a fact table, the method, the results table."""
    h = "#" * level
    lines: list[str] = []
    for device in sorted(by_device):
        rows = by_device[device]
        systems_present = _gpu_systems_present(rows)
        info = _first_gpu_info(rows)
        if lines:
            lines.append("")
        lines += [f"{h} GPU: {device}", ""]
        lines += gpu_header_rows(data, device, info, systems_present)
        lines += ["", GPU_METHOD, ""]
        lines += gpu_table(rows, systems_present)
    if duplicates:
        lines += ["", f"Note: {duplicates} duplicate GPU measurements (same repetition and "
                      "system) were found; the last one was kept."]
    return lines


def gpu_document(data: dict, by_device: dict, duplicates: int) -> list[str]:
    lines = ["# GEMM benchmark on GPU: fastnn (CUDA) vs cuBLAS (CuPy) and PyTorch", ""]
    lines += gpu_sections(data, by_device, duplicates, level=2)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("-o", "--output",
                        help="markdown file to write, e.g. bench/results/gemm-YYYY-MM-DD.md "
                             "(default: standard output)")
    args = parser.parse_args(argv)
    with open(args.json, encoding="utf-8") as fh:
        data = json.load(fh)
    text = render(data)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
