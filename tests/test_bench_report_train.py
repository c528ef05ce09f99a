"""bench/report.py tabulates bench/test_bench_train.py's epoch times (synthetic JSON, no timing)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPORT = Path(__file__).resolve().parent.parent / "bench" / "report.py"


@pytest.fixture(scope="module")
def report():
    if not REPORT.is_file():
        pytest.skip("bench/report.py is not in this checkout")
    spec = importlib.util.spec_from_file_location("fastnn_bench_report", REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _item(model, system, rep, seconds):
    return {"extra_info": {"kind": "train-epoch", "model": model, "system": system, "threads": 2,
                           "repetition": rep, "samples": 60000, "batch": 128, "keras_version": "3.x"},
            "stats": {"median": seconds}}


def test_train_epochs_table(report):
    times = {"fastnn": [0.5, 0.6, 0.4], "torch": [1.0, 1.0, 1.0], "keras": [2.0, 1.0, 2.0]}
    data = {"datetime": "2026-11-26T01:00:00", "machine_info": {},
            "benchmarks": [_item("mlp", s, r, t) for s, ts in times.items() for r, t in enumerate(ts)]}
    text = report.render(data)
    assert text.startswith("# MNIST training speed")
    row = next(line for line in text.splitlines() if line.startswith("| MLP"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["MLP 784-256-128-10", "2", "3"]
    assert cells[3] == "0.5 (0.4–0.6)"                 # fastnn s/epoch: median (min–max)
    assert cells[6:8] == ["0.50 (0.40–0.60)", "≤ 0.7 ✓"]  # fastnn/torch per repetition
    assert cells[8:10] == ["0.25 (0.20–0.60)", "≤ 0.5 ✓"]  # fastnn/keras per repetition: 0.25, 0.6, 0.2


def test_cnn_ratio_uses_the_faster_torch_layout(report):
    items = [_item("cnn", "fastnn", 0, 9.0), _item("cnn", "torch", 0, 12.0), _item("cnn", "torch_cl", 0, 10.0)]
    rows = report.load_train_rows({"benchmarks": items})
    assert report._train_ratio(rows[("cnn", 2, "cpu")], "torch")[0] == pytest.approx(0.9)


def test_gpu_epochs_get_a_device_column_and_issue_6s_target(report):
    items = [_item("cnn", "fastnn", r, 2.0) for r in range(3)] + [_item("cnn", "torch", r, 2.5) for r in range(3)]
    for item in items:
        item["extra_info"]["device"] = "NVIDIA H100 80GB HBM3"
    cpu = [_item("cnn", "fastnn", 0, 6.0), _item("cnn", "torch", 0, 10.0)]
    text = report.render({"datetime": "2026-11-26T01:00:00", "machine_info": {}, "benchmarks": items + cpu})
    assert "| gpu | NVIDIA H100 80GB HBM3 (BENCH_DEVICE=cuda) |" in text
    rows = [line for line in text.splitlines() if line.startswith("| CNN")]
    assert [r.split("|")[2].strip() for r in rows] == ["cpu", "NVIDIA H100 80GB HBM3"]  # CPU first
    gpu = [c.strip() for c in rows[1].strip("|").split("|")]
    assert gpu[-2:] == ["0.80 (0.80–0.80)", "≤ 1.0 ✓"]
    cpu_cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cpu_cells[-2:] == ["0.60 (0.60–0.60)", "≤ 0.8 ✓"]
