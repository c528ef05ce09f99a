"""Import hygiene, fastnn.info(), the command line, thread settings and the reference itself."""

import subprocess
import sys

import numpy as np
import pytest

import fastnn


def test_import_needs_no_cupy_or_gpu():
    code = "import sys, fastnn; fastnn.matmul; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_info_reports_build_and_runtime():
    text = fastnn.info()
    assert text.startswith(f"fastnn {fastnn.__version__}")
    for key in ("build:", "cpu isa:", "threads:", "cuda:", "gpu:"):
        assert key in text
    assert f"cpu isa: {fastnn._C.cpu_isa()}" in text


@pytest.mark.parametrize("cmd", [["fastnn", "info"], [sys.executable, "-m", "fastnn", "info"]])
def test_command_line_info(cmd):
    if cmd[0] == "fastnn":
        import shutil

        if shutil.which("fastnn") is None:
            pytest.skip("console script not on PATH")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert out.startswith("fastnn ") and "cpu isa:" in out


def test_num_threads_round_trip():
    fastnn.set_num_threads(1)
    assert fastnn.get_num_threads() == 1
    fastnn.set_num_threads(3)
    assert fastnn.get_num_threads() == 3


def test_cuda_available_is_a_bool():
    assert isinstance(fastnn.cuda_available(), bool)


def test_reference_matches_a_plain_triple_loop():
    # The oracle itself, checked once against the definition.
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 4))
    c0, bias = rng.standard_normal((3, 5)), rng.standard_normal(5)
    want = np.empty((3, 5))
    for i in range(3):
        for j in range(5):
            s = sum(a[p, i] * b[j, p] for p in range(4))
            want[i, j] = max(0.5 * s - 2.0 * c0[i, j] + bias[j], 0.0)
    got = fastnn.reference.gemm(a, b, transpose_a=True, transpose_b=True, alpha=0.5, beta=-2.0, out=c0.copy(),
                                bias=bias, activation="relu")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_reference_keeps_the_dtype_it_is_given():
    a = np.ones((3, 3), np.float32)
    assert fastnn.reference.matmul(a, a, bias=np.ones(3, np.float32)).dtype == np.float32
    assert fastnn.reference.gemm(a.astype(np.float64), a.astype(np.float64), alpha=0.5).dtype == np.float64


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF symbol table check")
def test_extension_keeps_any_static_cxx_runtime_private():
    """A toolchain may link libstdc++ into _C statically (the GPU machine's CUDA image did). Its
    symbols must then stay private: exported, they mix with the process's own libstdc++ and
    `ostream << int` in an error message printed nothing or crashed (GPU session 2026-11-25)."""
    import shutil

    from fastnn import _C

    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("binutils' nm is not installed")
    out = subprocess.run([nm, "-D", "--defined-only", _C.__file__], capture_output=True, text=True, check=True)
    exported = {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}
    runtime = sorted(s for s in exported if s in ("__cxa_throw", "__cxa_begin_catch", "__gxx_personality_v0")
                     or s.startswith(("_ZNSt6locale", "_ZNSo", "_ZSt4cout", "_ZNSt8ios_base")))
    assert not runtime, f"_C exports C++ runtime symbols (a static libstdc++ left public): {runtime[:5]}"


def test_error_messages_format_numbers():
    from fastnn import _C

    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"unknown activation code 99 \(expected 0\.\.\d+\)"):
        _C.activation_forward(x, x, 99)
