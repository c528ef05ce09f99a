"""Every class of bad input to gemm gives a clear Python exception naming the op, never a crash."""

import numpy as np
import pytest

import fastnn
from fastnn import _C

F32 = np.float32


def mats(m=4, k=5, n=6):
    return np.ones((m, k), F32), np.ones((k, n), F32)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64, np.uint8, np.bool_, np.complex64])
def test_wrong_dtype(dtype):
    a, b = mats()
    with pytest.raises(TypeError, match=r"gemm: argument 'a' must have dtype float32, got"):
        fastnn.matmul(a.astype(dtype), b)
    with pytest.raises(TypeError, match=r"gemm: argument 'b' must have dtype float32"):
        fastnn.matmul(a, b.astype(dtype))


def test_non_native_byte_order():
    a, b = mats()
    with pytest.raises(TypeError, match=r"gemm: argument 'a' must have dtype float32, got >f4"):
        fastnn.matmul(a.astype(">f4"), b)


@pytest.mark.parametrize("bad", [[[1.0, 2.0]], 3.0, "x", None])
def test_not_an_array(bad):
    _, b = mats()
    with pytest.raises(TypeError, match=r"gemm: argument 'a' must be a numpy.ndarray or cupy.ndarray, got"):
        fastnn.matmul(bad, b)


@pytest.mark.parametrize("shape", [(5,), (2, 4, 5), ()])
def test_wrong_rank(shape):
    _, b = mats()
    with pytest.raises(ValueError, match=r"gemm: argument 'a' must be 2-D, got a \d-D array of shape"):
        fastnn.matmul(np.ones(shape, F32), b)
    with pytest.raises(ValueError, match=r"gemm: argument 'b' must be 2-D"):
        fastnn.matmul(np.ones((3, 5), F32), np.ones(shape, F32))


def test_mismatched_inner_dimension():
    with pytest.raises(ValueError, match=r"gemm: inner dimensions do not match: op\(a\) is 4x5 .* op\(b\) is 7x6"):
        fastnn.matmul(np.ones((4, 5), F32), np.ones((7, 6), F32))
    with pytest.raises(ValueError, match=r"gemm: inner dimensions do not match.*transposed"):
        fastnn.matmul(np.ones((4, 5), F32), np.ones((5, 6), F32), transpose_a=True)


def test_out_of_wrong_shape_dtype_or_read_only():
    a, b = mats()
    with pytest.raises(ValueError, match=r"gemm: argument 'out' must have shape \(4, 6\), got \(6, 4\)"):
        fastnn.matmul(a, b, out=np.empty((6, 4), F32))
    with pytest.raises(TypeError, match=r"gemm: argument 'out' must have dtype float32, got float64"):
        fastnn.matmul(a, b, out=np.empty((4, 6)))
    ro = np.empty((4, 6), F32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"gemm: argument 'out' is read-only"):
        fastnn.matmul(a, b, out=ro)


def test_non_contiguous_input():
    a = np.ones((4, 10), F32)[:, ::2]  # every other column: rows are not contiguous
    _, b = mats()
    with pytest.raises(ValueError, match=r"gemm: argument 'a' must be contiguous along its last axis.*strides \(40, 8\)"):
        fastnn.matmul(a, b)
    # A broadcast (zero-stride) operand is refused too.
    with pytest.raises(ValueError, match=r"gemm: argument 'b' must be contiguous"):
        fastnn.matmul(np.ones((4, 5), F32), np.broadcast_to(np.ones(6, F32), (5, 6)))


def test_row_stride_views_are_accepted():
    b = np.ones((10, 6), F32)[::2]
    np.testing.assert_array_equal(fastnn.matmul(np.ones((4, 5), F32), b), np.full((4, 6), 5, F32))


def test_bad_bias():
    a, b = mats()
    with pytest.raises(ValueError, match=r"gemm: argument 'bias' must have shape \(6,\) to match the 6 output columns, got \(4,\)"):
        fastnn.matmul(a, b, bias=np.ones(4, F32))
    with pytest.raises(ValueError, match=r"gemm: argument 'bias' must be 1-D"):
        fastnn.matmul(a, b, bias=np.ones((1, 6), F32))
    with pytest.raises(TypeError, match=r"gemm: argument 'bias' must have dtype float32"):
        fastnn.matmul(a, b, bias=np.ones(6))


def test_unknown_activation():
    a, b = mats()
    with pytest.raises(ValueError, match=r"gemm: unknown activation 'sigmoid'"):
        fastnn.matmul(a, b, activation="sigmoid")
    with pytest.raises(ValueError, match=r"gemm: unknown activation"):
        fastnn.reference.matmul(a, b, activation="sigmoid")
    with pytest.raises(ValueError, match=r"gemm: unknown activation code 7"):
        _C.gemm(a, b, np.empty((4, 6), F32), False, False, 1.0, 0.0, None, 7, 0)


def test_beta_without_out():
    a, b = mats()
    with pytest.raises(ValueError, match=r"gemm: beta != 0 .* 'out' must be given"):
        fastnn.gemm(a, b, beta=1.0)


def test_out_aliasing_an_input():
    a = np.ones((6, 6), F32)
    with pytest.raises(ValueError, match=r"gemm: argument 'out' shares memory with 'a'"):
        fastnn.matmul(a, np.ones((6, 6), F32), out=a)
    buf = np.ones((6, 12), F32)
    with pytest.raises(ValueError, match=r"gemm: argument 'out' shares memory with 'b'"):
        fastnn.matmul(np.ones((6, 6), F32), buf[:, :6], out=buf[:, 3:9])
    flat = np.ones(100, F32)  # rows 5 of b and 0 of out share flat[30:36]
    with pytest.raises(ValueError, match=r"gemm: argument 'out' shares memory with 'b'"):
        fastnn.matmul(np.ones((6, 6), F32), flat[:36].reshape(6, 6), out=flat[30:66].reshape(6, 6))


def test_disjoint_columns_of_one_buffer_are_accepted():
    # out and b are the two halves of each row of one buffer: no element is shared.
    rng = np.random.default_rng(5)
    buf = rng.standard_normal((6, 12)).astype(F32)
    a = rng.standard_normal((6, 6)).astype(F32)
    b = buf[:, :6].copy()
    fastnn.matmul(a, buf[:, :6], out=buf[:, 6:])
    np.testing.assert_allclose(buf[:, 6:], a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(buf[:, :6], b)


def test_unaligned_input():
    raw = np.zeros(4 * 30 + 1, np.uint8)
    a = np.frombuffer(raw.data, dtype=F32, count=30, offset=1).reshape(5, 6)
    assert not a.flags.aligned
    with pytest.raises(ValueError, match=r"gemm: argument 'a' is not aligned to its 4-byte items"):
        fastnn.matmul(a, np.ones((6, 3), F32))


def test_messages_describe_the_array_as_passed():
    # A reversed column-major view: the kernel re-views it internally, the
    # message must still show the user's shape and strides.
    x = np.zeros((4, 3), F32)[::-1].T
    with pytest.raises(ValueError, match=r"gemm: argument 'a' must be contiguous .* got shape \(3, 4\) with strides \(4, -12\)"):
        fastnn.matmul(x, np.ones((4, 2), F32))


def test_mixed_devices_when_cupy_is_present():
    cupy = pytest.importorskip("cupy")
    if not fastnn.cuda_available():
        pytest.skip("no usable GPU")
    a, b = mats()
    with pytest.raises(ValueError, match=r"gemm: argument 'b' is on cuda"):
        fastnn.matmul(a, cupy.asarray(b))


def test_cuda_array_without_cuda_build_or_gpu():
    # A stand-in object exposing __cuda_array_interface__ reaches the CUDA path
    # without needing CuPy: mixed with numpy operands it must be refused cleanly.
    class FakeCudaArray:
        def __init__(self, shape):
            self.shape = shape
            self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f4", "data": (0, False), "version": 3}

    a, b = mats()
    with pytest.raises(ValueError, match=r"gemm: argument 'b' is on cuda .* but 'a' is on cpu"):
        fastnn.matmul(a, FakeCudaArray((5, 6)))


def test_cuda_operands_without_a_usable_cuda_stack():
    # Whatever is missing here (a CUDA build, CuPy or a GPU), a CUDA operand
    # gets a RuntimeError saying what, not an ImportError or a crash.
    if fastnn.cuda_available():
        pytest.skip("a GPU is usable here")

    class FakeCudaArray:
        def __init__(self, shape, pointer):
            self.shape = shape
            self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f4", "data": (pointer, False), "version": 3}

    with pytest.raises(RuntimeError, match=r"built without CUDA|need CuPy|CUDA error|no usable CUDA"):
        fastnn.matmul(FakeCudaArray((2, 2), 4096), FakeCudaArray((2, 2), 8192))


def test_thread_count_validation():
    with pytest.raises(ValueError, match=r"set_num_threads: n must be >= 1, got 0"):
        fastnn.set_num_threads(0)
    with pytest.raises(TypeError, match=r"set_num_threads: n must be an int"):
        fastnn.set_num_threads(1.5)
    with pytest.raises(ValueError, match=r"set_cpu_isa: unknown ISA 'sse9'"):
        _C.set_cpu_isa("sse9")
