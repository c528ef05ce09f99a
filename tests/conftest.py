import numpy as np
import pytest

import fastnn
from fastnn import _C

# Every micro-kernel this CPU can run, so each ISA's code is tested here even
# though the library would pick only the best one.
_ORDER = ["portable", "avx2", "avx512"]
AVAILABLE_ISAS = _ORDER[: _ORDER.index(_C.best_cpu_isa()) + 1]


@pytest.fixture(autouse=True)
def _restore_runtime_settings():
    """Tests may change threads, ISA or matmul precision; put them back afterwards."""
    threads, isa, precision = fastnn.get_num_threads(), _C.cpu_isa(), fastnn.get_matmul_precision()
    yield
    fastnn.set_num_threads(threads)
    _C.set_cpu_isa(isa)
    fastnn.set_matmul_precision(precision)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
