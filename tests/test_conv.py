"""2-D convolution: the conv2d kernels (ops / functional.conv2d) against the float64 NumPy
reference, finite-difference checks of the reference's backward, Keras' output-shape rules,
the Conv2D / ZeroPadding2D layers, and bad input.

Tolerances (u = 2**-24, the unit roundoff of float32). The inputs are float32 and the
reference runs on the same values in float64, so the reference is exact to ~1e-16 and the
whole difference is the kernel's float32 accumulation. A sum of T products accumulated in
float32 (any order, FMA or not) errs by at most gamma_T = T u / (1 - T u) times the sum of the
absolute products, so every element is checked against

    |got - want| <= (T + 4) u * sum|products|  (+ the smallest normal, for exact zeros)

with T the number of terms of that element: K = KH*KW*Cin for the forward (+1 for the bias),
KH*KW*Cout for the input gradient, N*OH*OW for the kernel gradient (its per-chunk and per-thread
partial sums are added in float32 too: still T additions in all). ``sum|products|`` is the same
convolution run on |x|, |w|, |dy| by the reference. The relu epilogue is 1-Lipschitz, so the
bound carries through it unchanged.

3x3 stride-1 convolutions with enough channels run Winograd F(2x2, 3x3) or F(4x4, 3x3) on the
CPU instead (csrc/cpu/winograd_kernels.h): y = A^T [(G w G^T) (.) (B^T d B)] A per m x m output
tile. Its rounding errors are bounded the same way but against the magnitude of the transformed
sum, ``winograd_magnitude`` below: the same algorithm run on |d|, |w| with |A|, |B|, |G| (it
also counts pairs of an input and a tap that cancel exactly in the direct sum). The terms, for
m = 2 / m = 4: 2 / 6 roundings in B^T d B, 4 / 8 in G w G^T (1/6 is inexact too), the C-term
GEMM, 4 / 6 in the output transform and 1 for the bias, so T = C + 11 / C + 21 for the forward
(O + 10 / O + 20 for dx, the same algorithm on dy without a bias); for dw, G^T [sum over the
tiles of (A g A^T) (.) (B^T d B)] G, T = tiles + 12 / tiles + 26 (plus one addition per task's
partial sum: at most 3 at the tests' 2 threads, inside the +4). For these geometries the bound
used is the largest of the three (direct, m = 2, m = 4), so it holds whichever path the kernel
takes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import _C, layers, ops
from fastnn import reference as ref
from fastnn.conv_geometry import output_size, resolve_padding, same_padding
from conftest import AVAILABLE_ISAS

U = 2.0**-24
TINY = float(np.finfo(np.float32).tiny)


# --------------------------------------------------------------------------- random problems

def random_case(rng):
    """One random convolution: batch 1..8, spatial 1..20, channels 1..17, kernel 1..5, stride 1..3,
    dilation 1..2, padding valid / same / explicit, such that the kernel fits."""
    while True:
        n = int(rng.integers(1, 9))
        h, w = (int(v) for v in rng.integers(1, 21, size=2))
        cin, cout = (int(v) for v in rng.integers(1, 18, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        strides = tuple(int(v) for v in rng.integers(1, 4, size=2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
        mode = rng.choice(["valid", "same", "explicit"])
        if mode == "explicit":
            padding = tuple(tuple(int(v) for v in rng.integers(0, 4, size=2)) for _ in range(2))
        else:
            padding = str(mode)
        pads = resolve_padding("t", padding, (h, w), (kh, kw), strides, dilation)
        oh = output_size(h, kh, strides[0], dilation[0], *pads[0])
        ow = output_size(w, kw, strides[1], dilation[1], *pads[1])
        if oh >= 1 and ow >= 1:
            return dict(shape=(n, h, w, cin), kernel=(kh, kw, cin, cout), strides=strides, dilation=dilation,
                        padding=padding)


_rng = np.random.default_rng(20261126)
CASES = [random_case(_rng) for _ in range(40)]
# The paths with their own code: 1x1 stride 1 unpadded (a plain GEMM), the MNIST CNN's layers,
# a wide image (chunks inside one image), an empty batch.
CASES += [
    dict(shape=(3, 5, 7, 6), kernel=(1, 1, 6, 9), strides=(1, 1), dilation=(1, 1), padding="valid"),
    dict(shape=(2, 4, 4, 5), kernel=(1, 1, 5, 3), strides=(2, 2), dilation=(1, 1), padding="valid"),
    dict(shape=(4, 28, 28, 1), kernel=(3, 3, 1, 32), strides=(1, 1), dilation=(1, 1), padding="valid"),
    dict(shape=(4, 13, 13, 32), kernel=(3, 3, 32, 64), strides=(1, 1), dilation=(1, 1), padding="valid"),
    dict(shape=(1, 40, 64, 8), kernel=(3, 3, 8, 16), strides=(1, 1), dilation=(1, 1), padding="same"),
    dict(shape=(9, 6, 6, 3), kernel=(2, 2, 3, 4), strides=(2, 2), dilation=(1, 1), padding="valid"),
    # the implicit-GEMM forward with one run per tap (dilated along W) and a partial last panel
    dict(shape=(2, 12, 30, 6), kernel=(3, 3, 6, 40), strides=(1, 2), dilation=(2, 2), padding="same"),
]
# Winograd (3x3, stride 1, >= 16 channels both ways; F(4x4, 3x3), or F(2x2, 3x3) for outputs
# under ~6 and for wide layers): channels that are not whole vectors or panels, outputs of odd
# size and of size 1, padding wider than the kernel (the backward-data pass then crops), the
# 16-wide micro-kernel, several blocks per task (at 1 thread).
WINOGRAD_CASES = [
    dict(shape=(3, 7, 9, 17), kernel=(3, 3, 17, 33), strides=(1, 1), dilation=(1, 1), padding="same"),
    dict(shape=(2, 1, 1, 16), kernel=(3, 3, 16, 20), strides=(1, 1), dilation=(1, 1), padding="same"),
    dict(shape=(1, 3, 3, 16), kernel=(3, 3, 16, 16), strides=(1, 1), dilation=(1, 1), padding="valid"),
    dict(shape=(1, 9, 4, 40), kernel=(3, 3, 40, 16), strides=(1, 1), dilation=(1, 1), padding=((2, 0), (1, 3))),
    dict(shape=(2, 2, 2, 16), kernel=(3, 3, 16, 18), strides=(1, 1), dilation=(1, 1), padding=((3, 3), (3, 3))),
    dict(shape=(1, 20, 20, 64), kernel=(3, 3, 64, 70), strides=(1, 1), dilation=(1, 1), padding="valid"),
    dict(shape=(16, 11, 11, 16), kernel=(3, 3, 16, 32), strides=(1, 1), dilation=(1, 1), padding="same"),
    # too wide for F(4x4)'s transformed filter to stay in cache: F(2x2)
    dict(shape=(1, 6, 7, 192), kernel=(3, 3, 192, 200), strides=(1, 1), dilation=(1, 1), padding="same"),
]
CASES += WINOGRAD_CASES


def case_id(c):
    p = c["padding"] if isinstance(c["padding"], str) else "pad" + "".join(str(v) for q in c["padding"] for v in q)
    return (f"x{'x'.join(map(str, c['shape']))}-k{'x'.join(map(str, c['kernel']))}-s{c['strides'][0]}{c['strides'][1]}"
            f"-d{c['dilation'][0]}{c['dilation'][1]}-{p}")


def arrays(rng, c):
    x = rng.standard_normal(c["shape"]).astype(np.float32)
    w = rng.standard_normal(c["kernel"]).astype(np.float32)
    b = rng.standard_normal(c["kernel"][3]).astype(np.float32)
    return x, w, b


def geometry(c):
    return dict(strides=c["strides"], padding=c["padding"], dilation=c["dilation"])


def flat_pads(c):
    (t, b), (l, r) = resolve_padding("t", c["padding"], c["shape"][1:3], c["kernel"][:2], c["strides"], c["dilation"])
    return (t, b, l, r)


def assert_within(got, want, tol, what):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    err = np.abs(got - want)
    assert np.all(err <= tol), f"{what}: max error {err.max():.3g}, worst ratio {np.max(err / tol):.3g}"


def assert_close(got, want, magnitude, terms, what):
    assert_within(got, want, (terms + 4) * U * magnitude + TINY, what)


# Winograd F(m x m, 3x3) in absolute values (see the module docstring), m = 2 and 4: |B^T|, |G|, |A^T|.
_WINOGRAD = {
    2: [np.abs(np.array(a, dtype=np.float64)) for a in (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]])],
    4: [np.abs(np.array(a, dtype=np.float64)) for a in (
        [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0],
         [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
         [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]])],
}
# Roundings beyond the GEMM's (module docstring), plus the usual 4 of slack: forward, dx, dw.
_WINOGRAD_TERMS = {2: (16, 15, 16), 4: (26, 25, 30)}


def winograd_like(c):
    """The geometries the CPU may run by Winograd (the kernel's own test is narrower)."""
    return c["kernel"][:2] == (3, 3) and tuple(c["strides"]) == (1, 1) and tuple(c["dilation"]) == (1, 1)


def _windows(x, m, top, left, tiles_h, tiles_w):
    """The (m+2) x (m+2) input windows of every m x m output tile, (N, th, tw, C, m+2, m+2); zeros
    outside x."""
    n, h, w, c = x.shape
    padded = np.zeros((n, m * tiles_h + 2, m * tiles_w + 2, c))
    rows = np.arange(padded.shape[1]) - top
    cols = np.arange(padded.shape[2]) - left
    ri, ci = np.nonzero((rows >= 0) & (rows < h))[0], np.nonzero((cols >= 0) & (cols < w))[0]
    padded[:, ri[:, None], ci[None, :]] = x[:, rows[ri][:, None], cols[ci][None, :]]
    view = np.lib.stride_tricks.sliding_window_view(padded, (m + 2, m + 2), axis=(1, 2))
    return view[:, ::m, ::m]


def winograd_magnitude(x, w, m, top, left, out_h, out_w):
    """|A^T| [(|G| |w| |G^T|) (.) (|B^T| |x| |B|)] |A| per output element, (N, out_h, out_w, O)."""
    bt, g, at = _WINOGRAD[m]
    th, tw = -(-out_h // m), -(-out_w // m)
    v = np.einsum("ak,nijckl,bl->nijcab", bt, _windows(np.abs(x), m, top, left, th, tw), bt, optimize=True)
    u = np.einsum("ak,klco,bl->abco", g, np.abs(w), g, optimize=True)
    prod = np.einsum("nijcab,abco->nijabo", v, u, optimize=True)
    y = np.einsum("pa,nijabo,qb->nipjqo", at, prod, at, optimize=True)
    return y.reshape(x.shape[0], m * th, m * tw, -1)[:, :out_h, :out_w]


def winograd_filter_magnitude(x, dy, m, top, left):
    """|G^T| [sum over tiles of (|A| |g| |A^T|) (.) (|B^T| |x| |B|)] |G|, (3, 3, C, O)."""
    bt, g_, at = _WINOGRAD[m]
    n, oh, ow, o = dy.shape
    th, tw = -(-oh // m), -(-ow // m)
    g = np.zeros((n, m * th, m * tw, o))
    g[:, :oh, :ow] = np.abs(dy)
    g = g.reshape(n, th, m, tw, m, o)
    v = np.einsum("ak,nijckl,bl->nijcab", bt, _windows(np.abs(x), m, top, left, th, tw), bt, optimize=True)
    gt = np.einsum("ka,nikjlo,lb->nijabo", at, g, at, optimize=True)
    prod = np.einsum("nijcab,nijabo->abco", v, gt, optimize=True)
    return np.einsum("ak,abco,bl->klco", g_, prod, g_, optimize=True)


def check_forward(y, c, x, w, b, activation):
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    want = ref.conv2d(x64, w64, b64, activation=activation, **geometry(c))
    mag = ref.conv2d(np.abs(x64), np.abs(w64), None if b is None else np.abs(b64), **geometry(c))
    kh, kw, cin, _ = c["kernel"]
    if winograd_like(c):
        (top, _), (left, _) = resolve_padding("t", c["padding"], c["shape"][1:3], (3, 3), (1, 1), (1, 1))
        bound = (kh * kw * cin + 5) * mag  # in units of U, as assert_close's (terms + 4) * magnitude
        for m, (extra, _, _) in _WINOGRAD_TERMS.items():
            wmag = winograd_magnitude(x64, w64, m, top, left, *want.shape[1:3])
            bound = np.maximum(bound, (cin + extra) * (wmag if b is None else wmag + np.abs(b64)))
        assert_within(y, want, U * bound + TINY, "forward")
        return
    assert_close(y, want, mag, kh * kw * cin + 1, "forward")


def check_backward(dx, dw, db, c, x, w, dy):
    x64, w64, dy64 = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
    rx, rw, rb = ref.conv2d_backward(x64, w64, dy64, **geometry(c))
    mx, mw, mb = ref.conv2d_backward(np.abs(x64), np.abs(w64), np.abs(dy64), **geometry(c))
    kh, kw, cin, cout = c["kernel"]
    n, oh, ow, _ = dy.shape
    if winograd_like(c):  # the larger of the direct and the Winograd bounds (module docstring)
        (top, _), (left, _) = resolve_padding("t", c["padding"], c["shape"][1:3], (3, 3), (1, 1), (1, 1))
        h, w_ = c["shape"][1:3]
        if dx is not None:
            rotated = np.abs(w64[::-1, ::-1].transpose(0, 1, 3, 2))
            bound = (kh * kw * cout + 4) * mx
            for m, (_, extra, _) in _WINOGRAD_TERMS.items():
                bound = np.maximum(bound, (cout + extra) * winograd_magnitude(dy64, rotated, m, 2 - top, 2 - left, h, w_))
            assert_within(dx, rx, U * bound + TINY, "dx")
        if dw is not None:
            bound = (n * oh * ow + 4) * mw
            for m, (_, _, extra) in _WINOGRAD_TERMS.items():
                tiles = n * -(-oh // m) * -(-ow // m)
                bound = np.maximum(bound, (tiles + extra) * winograd_filter_magnitude(x64, dy64, m, top, left))
            assert_within(dw, rw, U * bound + TINY, "dw")
        dx = dw = None
    if dx is not None:
        assert_close(dx, rx, mx, kh * kw * cout, "dx")
    if dw is not None:
        assert_close(dw, rw, mw, n * oh * ow, "dw")
    if db is not None:
        assert_close(db, rb, mb, n * oh * ow, "db")


# --------------------------------------------------------------------------- kernels vs reference

@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_forward_and_backward_match_reference(rng, c):
    x, w, b = arrays(rng, c)
    activation = "relu" if rng.random() < 0.5 else None
    xt, wt, bt = fastnn.Tensor(x, requires_grad=True), fastnn.Tensor(w, requires_grad=True), fastnn.Tensor(b, requires_grad=True)
    y = F.conv2d(xt, wt, bt, activation=activation, **geometry(c))
    check_forward(y.numpy(), c, x, w, b, activation)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    F.sum(F.multiply(y, dy)).backward()
    # The rule behind the relu: the gradient flows where the output is positive.
    dz = dy * (y.numpy() > 0) if activation == "relu" else dy
    check_backward(xt.grad, wt.grad, bt.grad, c, x, w, dz)


@pytest.mark.parametrize("c", CASES[:12] + CASES[40:], ids=case_id)
@pytest.mark.parametrize("threads", [1, 2])
def test_ops_match_reference_for_each_thread_count(rng, c, threads):
    fastnn.set_num_threads(threads)
    x, w, b = arrays(rng, c)
    pads, s, d = flat_pads(c), c["strides"], c["dilation"]
    y = ops.conv2d(x, w, bias=b, strides=s, padding=pads, dilation=d)
    check_forward(y, c, x, w, b, None)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = ops.conv2d_backward_data(dy, w, x.shape, strides=s, padding=pads, dilation=d)
    dw = ops.conv2d_backward_filter(x, dy, c["kernel"][:2], strides=s, padding=pads, dilation=d)
    check_backward(dx, dw, None, c, x, w, dy)
    # Same threads, same bits.
    assert np.array_equal(ops.conv2d(x, w, bias=b, strides=s, padding=pads, dilation=d), y)
    assert np.array_equal(ops.conv2d_backward_filter(x, dy, c["kernel"][:2], strides=s, padding=pads, dilation=d), dw)


@pytest.mark.parametrize("c", CASES[:12] + CASES[40:], ids=case_id)
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_backward_matches_reference(rng, c, threads):
    """ops.conv2d_backward: relu mask, dx, dw and db in one pass over dy, with and without each part."""
    fastnn.set_num_threads(threads)
    x, w, b = arrays(rng, c)
    pads, s, d = flat_pads(c), c["strides"], c["dilation"]
    y = ops.conv2d(x, w, bias=b, strides=s, padding=pads, dilation=d, activation="relu")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dz = dy * (y > 0)
    geo = dict(strides=s, padding=pads, dilation=d)
    dx, dw, db = ops.conv2d_backward(x, w, dy, y=y, **geo)
    check_backward(dx, dw, db, c, x, w, dz)
    again = ops.conv2d_backward(x, w, dy, y=y, **geo)
    assert all(np.array_equal(p, q) for p, q in zip(again, (dx, dw, db)))  # same threads, same bits
    dx2, dw2, db2 = ops.conv2d_backward(x, w, dy, input_grad=False, bias_grad=False, **geo)
    assert dx2 is None and db2 is None
    check_backward(None, dw2, None, c, x, w, dy)


def test_fused_backward_errors(rng):
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    dy = rng.standard_normal((2, 6, 6, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="conv2d_backward: argument 'y' must have shape"):
        ops.conv2d_backward(x, w, dy, y=dy[:, :5].copy())
    with pytest.raises(ValueError, match="conv2d_backward: argument 'dy' must have shape"):
        ops.conv2d_backward(x, w, dy[:, :5].copy())
    with pytest.raises(TypeError, match="conv2d_backward: argument 'dy'.*float32"):
        ops.conv2d_backward(x, w, dy.astype(np.float64))


@pytest.mark.parametrize("isa", AVAILABLE_ISAS)
@pytest.mark.parametrize("c", [CASES[0], CASES[1], CASES[42], CASES[43], CASES[44], CASES[46]] + WINOGRAD_CASES,
                         ids=case_id)
def test_every_isa(rng, isa, c):
    _C.set_cpu_isa(isa)
    x, w, b = arrays(rng, c)
    pads, s, d = flat_pads(c), c["strides"], c["dilation"]
    y = ops.conv2d(x, w, bias=b, strides=s, padding=pads, dilation=d, activation="relu")
    check_forward(y, c, x, w, b, "relu")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = ops.conv2d_backward_data(dy, w, x.shape, strides=s, padding=pads, dilation=d)
    dw = ops.conv2d_backward_filter(x, dy, c["kernel"][:2], strides=s, padding=pads, dilation=d)
    check_backward(dx, dw, None, c, x, w, dy)
    # the fused backward, relu mask from y, on this ISA too
    dx, dw, db = ops.conv2d_backward(x, w, dy, y=y, strides=s, padding=pads, dilation=d)
    check_backward(dx, dw, db, c, x, w, dy * (y > 0))


def test_a_nan_input_reaches_every_output_that_reads_it_and_stays_in_its_tiles(rng):
    """NaN propagates as in the direct sum: every output whose window holds it is NaN (on the
    Winograd path, so are the other outputs of those m x m tiles, and no others)."""
    x = rng.standard_normal((1, 12, 12, 16)).astype(np.float32)
    w = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    x[0, 5, 5, 3] = np.nan
    for activation in (None, "relu"):
        y = ops.conv2d(x, w, activation=activation)  # 10 x 10 outputs
        assert np.isnan(y[0, 3:6, 3:6]).all()
        assert np.isfinite(y[0, 8:]).all() and np.isfinite(y[0, :, 8:]).all()


def test_outputs_written_into_given_arrays(rng):
    c = CASES[42]
    x, w, b = arrays(rng, c)
    out = np.full((4, 26, 26, 32), np.nan, np.float32)  # never read
    assert ops.conv2d(x, w, bias=b, out=out) is out
    check_forward(out, c, x, w, b, None)


def test_other_activations_follow_the_convolution(rng):
    c = CASES[3]
    x, w, b = arrays(rng, c)
    for name in ("tanh", "sigmoid", "leaky_relu"):
        xt = fastnn.Tensor(x, requires_grad=True)
        y = F.conv2d(xt, w, b, activation=name, **geometry(c))
        z = F.conv2d(x, w, b, **geometry(c)).numpy()
        want = ref.activation(z.astype(np.float64), name, alpha=fastnn.ops.ACTIVATIONS[name][1])
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)
        F.sum(y).backward()
        assert xt.grad.shape == x.shape


def test_non_contiguous_inputs(rng):
    """functional.conv2d copies strided views (as the other ops do); the kernel itself takes only
    C-contiguous arrays and says so."""
    base = rng.standard_normal((3, 9, 10, 8)).astype(np.float32)
    x = base[:, 1:8, ::2, :5]  # a strided view
    w = rng.standard_normal((3, 3, 5, 4)).astype(np.float32)
    c = dict(shape=x.shape, kernel=w.shape, strides=(1, 1), dilation=(1, 1), padding="same")
    y = F.conv2d(x, w, padding="same")
    check_forward(y.numpy(), c, np.ascontiguousarray(x), w, None, None)
    wt = np.asfortranarray(w)
    y2 = F.conv2d(x, wt, padding="same")
    np.testing.assert_array_equal(y2.numpy(), y.numpy())
    with pytest.raises(ValueError, match="conv2d: argument 'x'.*contiguous"):
        ops.conv2d(x, w, padding=(1, 1, 1, 1))


def test_empty_batch(rng):
    x = np.empty((0, 6, 6, 3), np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    xt, wt = fastnn.Tensor(x, requires_grad=True), fastnn.Tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, padding="same")
    assert y.shape == (0, 6, 6, 4)
    F.sum(y).backward()
    assert xt.grad.shape == x.shape
    np.testing.assert_array_equal(wt.grad, np.zeros_like(w))


# --------------------------------------------------------------------------- the reference's gradients

@pytest.mark.parametrize("c", [CASES[0], CASES[5], CASES[9],
                               dict(shape=(2, 5, 6, 3), kernel=(3, 2, 3, 2), strides=(2, 1), dilation=(1, 2),
                                    padding="same")], ids=case_id)
def test_reference_backward_matches_finite_differences(rng, c):
    x = rng.standard_normal(c["shape"])
    w = rng.standard_normal(c["kernel"])
    y = ref.conv2d(x, w, **geometry(c))
    dy = rng.standard_normal(y.shape)
    dx, dw, db = ref.conv2d_backward(x, w, dy, **geometry(c))

    def loss(xv, wv, bv):
        return float(np.sum(ref.conv2d(xv, wv, bv, **geometry(c)) * dy))

    b = np.zeros(c["kernel"][3])
    eps = 1e-6
    for arr, grad, which in ((x, dx, 0), (w, dw, 1), (b, db, 2)):
        for idx in rng.choice(arr.size, size=min(arr.size, 12), replace=False):
            i = np.unravel_index(idx, arr.shape)
            args = [x, w, b]
            plus, minus = [a.copy() for a in args], [a.copy() for a in args]
            plus[which][i] += eps
            minus[which][i] -= eps
            fd = (loss(*plus) - loss(*minus)) / (2 * eps)
            assert abs(fd - grad[i]) <= 1e-6 * (1 + abs(fd)), (which, i, fd, grad[i])


# --------------------------------------------------------------------------- Keras' shape rules

@pytest.mark.parametrize("size,k,s,d,want_valid,want_same,pad_same", [
    (28, 3, 1, 1, 26, 28, (1, 1)),
    (28, 3, 2, 1, 13, 14, (0, 1)),   # total 1: the odd pixel goes after (bottom / right)
    (13, 3, 1, 1, 11, 13, (1, 1)),
    (7, 4, 1, 1, 4, 7, (1, 2)),      # even kernel: total 3
    (10, 3, 3, 1, 3, 4, (1, 1)),
    (9, 3, 1, 2, 5, 9, (2, 2)),      # dilated kernel spans 5
    (5, 5, 2, 1, 1, 3, (2, 2)),
    (1, 1, 3, 1, 1, 1, (0, 0)),
    (6, 2, 2, 1, 3, 3, (0, 0)),
])
def test_output_sizes_follow_keras(size, k, s, d, want_valid, want_same, pad_same):
    # Keras: valid out = floor((in - ((k-1) d + 1)) / s) + 1; same out = ceil(in / s).
    assert output_size(size, k, s, d, 0, 0) == want_valid
    assert same_padding(size, k, s, d) == pad_same
    assert output_size(size, k, s, d, *pad_same) == want_same == -(-size // s)
    x = np.ones((1, size, size + 1, 2), np.float32)
    w = np.ones((k, k, 2, 3), np.float32)
    assert F.conv2d(x, w, strides=s, dilation=d).shape == (1, want_valid, output_size(size + 1, k, s, d, 0, 0), 3)
    assert F.conv2d(x, w, strides=s, dilation=d, padding="same").shape == (1, want_same, -(-(size + 1) // s), 3)
    conv = layers.Conv2D(3, k, strides=s, dilation_rate=d, padding="same")
    assert conv.compute_output_shape((None, size, None, 2)) == (None, want_same, None, 3)


def test_explicit_padding_forms_agree(rng):
    x = rng.standard_normal((2, 6, 7, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    a = F.conv2d(x, w, padding=1).numpy()
    b = F.conv2d(x, w, padding=(1, 1)).numpy()
    c = F.conv2d(x, w, padding=((1, 1), (1, 1))).numpy()
    d = F.conv2d(x, w, padding="same").numpy()
    assert np.array_equal(a, b) and np.array_equal(a, c) and np.array_equal(a, d)
    assert F.conv2d(x, w, padding=((0, 2), (3, 0))).shape == (2, 6, 8, 2)


# --------------------------------------------------------------------------- bad input

def test_bad_input_errors(rng):
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="conv2d: x has 5 channels.*w expects 3"):
        F.conv2d(np.zeros((2, 8, 8, 5), np.float32), w)
    with pytest.raises(ValueError, match="conv2d: argument 'w' expects 3 input channels"):
        ops.conv2d(np.zeros((2, 8, 8, 5), np.float32), w)
    with pytest.raises(ValueError, match="conv2d: the kernel .*larger than the padded input"):
        F.conv2d(x[:, :2, :2], w)
    with pytest.raises(ValueError, match="conv2d: strides must be >= 1"):
        F.conv2d(x, w, strides=0)
    with pytest.raises(ValueError, match="conv2d: strides must be >= 1"):
        F.conv2d(x, w, strides=(1, -2))
    with pytest.raises(ValueError, match="conv2d: strides must be >= 1"):
        ops.conv2d(x, w, strides=(0, 1))
    with pytest.raises(ValueError, match="conv2d: dilation must be >= 1"):
        F.conv2d(x, w, dilation=0)
    with pytest.raises(TypeError, match="conv2d: strides must be an int or a pair"):
        F.conv2d(x, w, strides=(1, 2, 3))
    with pytest.raises(ValueError, match="conv2d: padding must be"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match="conv2d: padding must be >= 0"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="conv2d: x must be 4-D"):
        F.conv2d(x[0], w)
    with pytest.raises(ValueError, match="conv2d: w must be 4-D"):
        F.conv2d(x, w[0])
    with pytest.raises(ValueError, match=r"conv2d: b must have shape \(4,\)"):
        F.conv2d(x, w, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="conv2d: argument 'x'.*float32"):
        ops.conv2d(x.astype(np.float64), w)
    with pytest.raises(ValueError, match="conv2d: argument 'out' must have shape"):
        ops.conv2d(x, w, out=np.empty((2, 6, 6, 5), np.float32))
    with pytest.raises(ValueError, match="conv2d: unknown activation"):
        ops.conv2d(x, w, activation="tanh")
    with pytest.raises(ValueError, match="conv2d_backward_data: argument 'dy' must have shape"):
        ops.conv2d_backward_data(np.zeros((2, 5, 6, 4), np.float32), w, x.shape)
    with pytest.raises(ValueError, match="conv2d_backward_filter: argument 'dy' must have shape"):
        ops.conv2d_backward_filter(x, np.zeros((2, 6, 5, 4), np.float32), (3, 3))
    with pytest.raises(ValueError, match="conv2d: argument 'out'"):
        ops.conv2d(x, w, out=x)  # wrong shape (and aliasing)


def test_layer_errors():
    with pytest.raises(ValueError, match="Conv2D: strides must be >= 1"):
        layers.Conv2D(4, 3, strides=0)
    with pytest.raises(ValueError, match="Conv2D: strides must be >= 1"):
        layers.Conv2D(4, 3, strides=(1, -1))
    with pytest.raises(ValueError, match="Conv2D: kernel_size must be >= 1"):
        layers.Conv2D(4, 0)
    with pytest.raises(ValueError, match="Conv2D: filters must be a positive int"):
        layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match="Conv2D: data_format='channels_first' is not supported"):
        layers.Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="ZeroPadding2D: data_format='channels_first' is not supported"):
        layers.ZeroPadding2D(1, data_format="channels_first")
    with pytest.raises(ValueError, match="Conv2D: padding must be 'valid' or 'same'"):
        layers.Conv2D(4, 3, padding="causal")
    # channels mismatch after building
    conv = layers.Conv2D(4, 3)
    conv(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="conv2d.*expected axis -1 of the input \\(channels\\) to have value 3"):
        conv(np.zeros((1, 8, 8, 2), np.float32))
    # an NCHW input to a layer built for 1 channel
    mnist = layers.Conv2D(32, 3)
    mnist.build((None, 28, 28, 1))
    with pytest.raises(ValueError, match="channels_last.*looks channels_first.*transpose"):
        mnist(np.zeros((2, 1, 28, 28), np.float32))
    # the same, built lazily from the bad input: the kernel does not fit, with the hint
    with pytest.raises(ValueError, match="larger than the input's height.*looks channels_first"):
        layers.Conv2D(32, 3)(np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="kernel \\(5x5\\) is larger than the input's height \\(4\\) with padding='valid'"):
        layers.Conv2D(2, 5)(np.zeros((1, 4, 9, 1), np.float32))
    with pytest.raises(ValueError, match="must be 4-D"):
        layers.Conv2D(2, 3)(np.zeros((4, 9, 1), np.float32))


# --------------------------------------------------------------------------- layers

def test_conv2d_layer_builds_counts_and_matches_the_functional_op(rng):
    conv = layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1))
    assert conv.build_from_declared()  # what Sequential does with the declared input shape
    assert conv.kernel.shape == (3, 3, 1, 32) and conv.bias.shape == (32,)
    assert conv.count_params() == 3 * 3 * 1 * 32 + 32  # Keras: 320
    conv2 = layers.Conv2D(64, 3, use_bias=False)
    conv2.build((None, 13, 13, 32))
    assert conv2.count_params() == 3 * 3 * 32 * 64
    x = rng.standard_normal((2, 28, 28, 1)).astype(np.float32)
    y = conv(x)
    assert y.shape == (2, 26, 26, 32) and conv.output_shape == (None, 26, 26, 32)
    np.testing.assert_array_equal(y.numpy(), F.conv2d(x, conv.kernel, conv.bias, activation="relu").numpy())
    assert layers.Conv2D(8, 3, strides=2, padding="same").compute_output_shape((None, 28, 28, 1)) == (None, 14, 14, 8)
    assert layers.Conv2D(3, 3).name.startswith("conv2d")


def test_conv2d_layer_config_round_trip():
    conv = layers.Conv2D(6, (3, 2), strides=(2, 1), padding="same", dilation_rate=(1, 2), activation="tanh",
                         use_bias=False, kernel_initializer="he_normal", kernel_regularizer="l2",
                         input_shape=(10, 9, 3), name="c1")
    config = json.loads(json.dumps(layers.serialize(conv)))
    assert config["class_name"] == "Conv2D"
    assert config["config"]["kernel_size"] == [3, 2] and config["config"]["strides"] == [2, 1]
    assert config["config"]["padding"] == "same" and config["config"]["data_format"] == "channels_last"
    clone = layers.deserialize(config)
    assert isinstance(clone, layers.Conv2D)
    for attr in ("filters", "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias"):
        assert getattr(clone, attr) == getattr(conv, attr), attr
    assert clone.build_from_declared() and conv.build_from_declared()
    assert clone.kernel.shape == conv.kernel.shape == (3, 2, 3, 6) and clone.get_config() == conv.get_config()
    pad = layers.ZeroPadding2D(((1, 2), (0, 3)))
    assert layers.deserialize(json.loads(json.dumps(layers.serialize(pad)))).padding == ((1, 2), (0, 3))


def test_zero_padding2d(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    for padding, pads in ((1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))), (((0, 1), (2, 3)), ((0, 1), (2, 3)))):
        layer = layers.ZeroPadding2D(padding)
        xt = fastnn.Tensor(x, requires_grad=True)
        y = layer(xt)
        want = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
        np.testing.assert_array_equal(y.numpy(), want)
        assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + want.shape[1:]
        g = rng.standard_normal(want.shape).astype(np.float32)
        F.sum(F.multiply(y, g)).backward()
        np.testing.assert_array_equal(xt.grad, g[:, pads[0][0]:pads[0][0] + 3, pads[1][0]:pads[1][0] + 4, :])
    with pytest.raises(ValueError, match="ZeroPadding2D: padding must be >= 0"):
        layers.ZeroPadding2D(-1)


def test_tiny_cnn_trains():
    """Conv2D -> ZeroPadding2D -> Conv2D -> Flatten -> Dense learns a spatial rule; the loss falls."""
    fastnn.manual_seed(3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4, :, 0].mean(axis=(1, 2)) > x[:, 4:, :, 0].mean(axis=(1, 2))).astype(np.int64)  # top vs bottom
    model = fastnn.Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        layers.ZeroPadding2D(1),
        layers.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=12, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses


def test_cnn_save_and_load(tmp_path):
    rng = np.random.default_rng(5)
    model = fastnn.Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        layers.ZeroPadding2D(((0, 1), (1, 0))),
        layers.Conv2D(6, 3, strides=2, padding="same", dilation_rate=1),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((16, 8, 8, 1)).astype(np.float32)
    model.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    path = tmp_path / "cnn.keras"
    model.save(path)
    again = fastnn.models.load_model(path)
    assert [type(l).__name__ for l in again.layers] == ["Conv2D", "ZeroPadding2D", "Conv2D", "Flatten", "Dense"]
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
