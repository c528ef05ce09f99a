"""The ``fastnn`` command: ``train`` end to end (embedded sample, a --data folder, the clear errors),
``info`` through ``python -m fastnn``, ``bench --quick`` as a smoke test, and the NumPy reference
MLP step of ``fastnn bench`` against fastnn's own step. No timed asserts."""

from __future__ import annotations

import gzip
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import _mnist_models as mm
from fastnn.cli import main
from fastnn.datasets import mnist

PYTHON_DIR = Path(fastnn.__file__).parent.parent  # the directory holding the imported fastnn


@pytest.fixture
def no_full_mnist(tmp_path, monkeypatch):
    """$FASTNN_DATA and the cache point at empty folders: only the embedded sample is found."""
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FASTNN_CACHE", str(tmp_path / "cache"))


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def small_mnist_dir(tmp_path):
    """A folder holding the four MNIST files, cut down to 600 training and 100 test images (real
    digits from the embedded sample), so that --data runs take a fraction of a second."""
    (x, y), (xt, yt) = mnist.load_sample()
    folder = tmp_path / "mnist"
    folder.mkdir()
    for key, arr in (("x_train", x[:600]), ("y_train", y[:600]), ("x_test", xt[:100]), ("y_test", yt[:100])):
        _write_idx(folder / mnist.FILES[key], arr)
    return folder


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_on_the_embedded_sample(no_full_mnist, capsys):
    code, out, err = _run(capsys, "train", "--epochs", "1", "--batch-size", "64", "--threads", "2")
    assert code == 0, err
    assert "embedded MNIST sample" in out and "20,000 training and 2,000 test images" in out
    assert "Test accuracy: 0." in out
    assert "s per epoch" in out and "samples/s" in out
    assert "Epoch 1/1" in out + err  # the Keras-style progress of fit(verbose=1)
    accuracy = float(out.split("Test accuracy: ")[1].split()[0])
    assert accuracy > 0.85  # one epoch on 18,000 digits


def test_train_from_a_data_folder(small_mnist_dir, capsys):
    code, out, err = _run(capsys, "train", "--data", str(small_mnist_dir), "--epochs", "2", "--batch-size", "32")
    assert code == 0, err
    assert f"full MNIST from {small_mnist_dir}: 600 training and 100 test images" in out
    assert "Test accuracy:" in out


def test_train_finds_fastnn_data(small_mnist_dir, monkeypatch, capsys):
    monkeypatch.setenv("FASTNN_DATA", str(small_mnist_dir))
    code, out, err = _run(capsys, "train", "--epochs", "1", "--batch-size", "100", "--validation-split", "0")
    assert code == 0, err
    assert "full MNIST ($FASTNN_DATA or the cache): 600 training" in out


def test_train_with_a_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    code, out, err = _run(capsys, "train", "--data", str(missing), "--epochs", "1")
    assert code == 2
    assert err.startswith("fastnn train: error: --data") and str(missing) in err
    assert "leave out --data" in err.lower()
    assert "Traceback" not in err and "Epoch" not in out + err


def test_train_cnn(small_mnist_dir, capsys):
    code, out, err = _run(capsys, "train", "--model", "cnn", "--data", str(small_mnist_dir), "--epochs", "1")
    assert code == 0, err
    assert "Test accuracy:" in out


def test_train_on_cuda_without_a_gpu_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(fastnn, "cuda_available", lambda: False)
    code, out, err = _run(capsys, "train", "--device", "cuda", "--epochs", "1")
    assert code == 2
    assert "--device cuda" in err and "GPU" in err and "Traceback" not in err


def test_train_on_cuda_when_the_move_fails_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(fastnn, "cuda_available", lambda: True)

    def refuse(self, device):
        raise RuntimeError("to: no CUDA device")

    monkeypatch.setattr(fastnn.models.Sequential, "to", refuse)
    code, out, err = _run(capsys, "train", "--device", "cuda", "--epochs", "1")
    assert code == 2
    assert "--device cuda: to: no CUDA device" in err and "Traceback" not in err


def test_train_plot_writes_a_png(small_mnist_dir, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "history.png"
    code, out, err = _run(capsys, "train", "--data", str(small_mnist_dir), "--epochs", "2", "--plot", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Plot: {png}" in out


def test_train_plot_without_matplotlib_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    png = tmp_path / "history.png"
    code, out, err = _run(capsys, "train", "--plot", str(png), "--epochs", "1")
    assert code == 2
    assert "fastnn[plot]" in err and "matplotlib" in err
    assert "Epoch" not in out + err  # refused before training, not after it
    assert not png.exists()


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--validation-split", "1.5"], "--validation-split must be in [0, 1)"),
])
def test_train_rejects_bad_numbers(argv, message, capsys):
    code, out, err = _run(capsys, "train", *argv)
    assert code == 2 and message in err


def test_python_m_fastnn_info():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PYTHON_DIR), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "fastnn", "info"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "cpu isa" in result.stdout.lower()


def test_bench_quick_smoke(capsys):
    code, out, err = _run(capsys, "bench", "--quick", "--budget", "0.002", "--threads", "1")
    assert code == 0, err
    assert "GEMM float32, 1 thread(s)" in out
    assert "training step" in out
    for system in ("fastnn", "reference"):
        assert any(line.startswith(system) for line in out.splitlines())


def test_reference_mlp_step_matches_fastnn():
    """The float32 NumPy MLP step of ``fastnn bench`` (reference matmul, relu, softmax, sparse
    categorical cross-entropy, Adam) makes the same updates as ``train_on_batch``. Both run in
    float32 through different summation orders: 1e-5 is ~1% of an Adam step (lr 1e-3), while a
    wrong rule (a missing 1/batch, bias correction, a transposed gradient) moves weights by
    ~1e-3."""
    fastnn.manual_seed(7)
    model = mm.build_model("mlp", metrics=())
    rng = np.random.default_rng(7)
    x = rng.random((64, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    reference = mm.ReferenceMLP(model.get_weights())
    start = [w.copy() for w in reference.weights]
    for _ in range(3):
        loss = model.train_on_batch(x, y)
        ref_loss = reference.step(x, y)
        np.testing.assert_allclose(ref_loss, loss, rtol=1e-5)
    for got, want, before in zip(model.get_weights(), reference.weights, start):
        assert want.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert np.abs(want - before).max() > 1e-3  # the weights did move
    for param, grad in zip(model.trainable_weights, reference.grads):
        np.testing.assert_allclose(np.asarray(param.grad), grad, rtol=1e-4, atol=1e-6)


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_mnist_mlp_example_runs(small_mnist_dir, monkeypatch, capsys):
    """examples/mnist_mlp.py as written (10 epochs, batch 128, validation_split 0.1), on the cut-down
    MNIST folder found through $FASTNN_DATA, as fastnn.datasets.mnist.load_data() finds the real one."""
    script = EXAMPLES / "mnist_mlp.py"
    if not script.is_file():
        pytest.skip("examples/ is not in this checkout")
    monkeypatch.setenv("FASTNN_DATA", str(small_mnist_dir))
    runpy.run_path(str(script), run_name="__main__")
    out, err = capsys.readouterr()
    assert "600 train samples" in out and "100 test samples" in out
    assert "Epoch 10/10" in out + err
    assert "Test accuracy:" in out


def test_mnist_cnn_example_runs(small_mnist_dir, monkeypatch, capsys):
    """examples/mnist_cnn.py as written (Conv32-Pool-Conv64-Pool-Dense128-Dense10, 10 epochs), on the
    cut-down MNIST folder."""
    script = EXAMPLES / "mnist_cnn.py"
    if not script.is_file():
        pytest.skip("examples/ is not in this checkout")
    monkeypatch.setenv("FASTNN_DATA", str(small_mnist_dir))
    runpy.run_path(str(script), run_name="__main__")
    out, err = capsys.readouterr()
    assert "x_train shape: (600, 28, 28, 1)" in out and "Total params: 225,034" in out
    assert "Epoch 10/10" in out + err and "Test accuracy:" in out


def test_examples_are_the_keras_programs_with_fastnn_imports():
    for name in ("mnist_mlp.py", "mnist_cnn.py"):
        path = EXAMPLES / name
        if not path.is_file():
            pytest.skip("examples/ is not in this checkout")
        source = path.read_text()
        compile(source, str(path), "exec")
        assert "import fastnn as keras" in source and "from fastnn import layers" in source
        assert "keras.datasets.mnist.load_data()" in source and "to_categorical" in source
        assert "validation_split=0.1" in source and "batch_size = 128" in source and "epochs = 10" in source
