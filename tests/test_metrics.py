"""fastnn.metrics with Keras 3 semantics: every metric against a direct NumPy computation on random
data (odd sizes, size 1, with and without sample weights), streaming over uneven batches equals
one big batch, reset_state, top-k with k >= classes and ties, precision/recall 0/0 cases, names,
get / get_config / from_config, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fastnn import metrics

SIZES = [1, 7, 33]
CLASSES = 5


def _rng(seed=0):
    return np.random.default_rng(seed)


def _wmean(per_sample, w):
    per_sample = np.asarray(per_sample, np.float64)
    if w is None:
        return float(per_sample.mean())
    return float(np.sum(per_sample * w) / np.sum(w))


def _weights(n, weighted, seed=1):
    return _rng(seed).uniform(0.1, 3.0, n) if weighted else None


# ---------------------------------------------------------------------------- data and oracles

def _binary(n, seed=0):
    r = _rng(seed)
    return r.integers(0, 2, (n, 1)).astype(np.float32), r.random((n, 1)).astype(np.float32)


def _categorical(n, seed=0, classes=CLASSES):
    r = _rng(seed)
    labels = r.integers(0, classes, n)
    return labels, np.eye(classes, dtype=np.float32)[labels], r.random((n, classes)).astype(np.float32)


def _top_k_oracle(labels, scores, k):
    # the label counts as top-k when fewer than k scores are strictly larger than its own
    return np.array([np.sum(s > s[l]) < k for l, s in zip(labels, scores)], np.float64)


def _cases():
    """(metric factory, y_true, y_pred, per-sample oracle) for each per-sample metric."""
    out = []
    for n in SIZES:
        yb, pb = _binary(n, seed=n)
        labels, onehot, scores = _categorical(n, seed=n)
        ints = _rng(n).integers(0, 3, (n, 4))
        ints_pred = np.where(_rng(n + 1).random((n, 4)) < 0.5, ints, 7)
        reg_t, reg_p = _rng(n).standard_normal((n, 3)), _rng(n + 2).standard_normal((n, 3))
        out += [
            ("accuracy", metrics.Accuracy, ints, ints_pred, (ints == ints_pred).mean(axis=1)),
            ("binary", metrics.BinaryAccuracy, yb, pb, ((pb > 0.5) == yb)[:, 0]),
            ("binary_t0.7", lambda: metrics.BinaryAccuracy(threshold=0.7), yb[:, 0], pb,
             (pb[:, 0] > 0.7) == yb[:, 0]),
            ("categorical", metrics.CategoricalAccuracy, onehot, scores, labels == scores.argmax(1)),
            ("sparse", metrics.SparseCategoricalAccuracy, labels, scores, labels == scores.argmax(1)),
            ("sparse_n1", metrics.SparseCategoricalAccuracy, labels[:, None], scores, labels == scores.argmax(1)),
            ("top2", lambda: metrics.TopKCategoricalAccuracy(k=2), onehot, scores, _top_k_oracle(labels, scores, 2)),
            ("sparse_top3", lambda: metrics.SparseTopKCategoricalAccuracy(k=3), labels, scores,
             _top_k_oracle(labels, scores, 3)),
            ("mse", metrics.MeanSquaredError, reg_t, reg_p, ((reg_t - reg_p) ** 2).mean(axis=1)),
            ("mae", metrics.MeanAbsoluteError, reg_t, reg_p, np.abs(reg_t - reg_p).mean(axis=1)),
        ]
    return out


CASES = _cases()
IDS = [f"{c[0]}-n{len(c[2])}" for c in CASES]


# ---------------------------------------------------------------------------- per-sample metrics

@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_metric_matches_numpy(case, weighted):
    _, make, y_true, y_pred, per_sample = case
    w = _weights(len(y_true), weighted)
    m = make()
    m.update_state(y_true, y_pred, sample_weight=w)
    assert m.result() == pytest.approx(_wmean(per_sample, w), rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", [c for c in CASES if len(c[2]) == 33], ids=[i for i in IDS if i.endswith("n33")])
def test_streaming_over_uneven_batches_equals_one_batch(case, weighted):
    _, make, y_true, y_pred, _ = case
    w = _weights(len(y_true), weighted)
    whole, streamed = make(), make()
    whole.update_state(y_true, y_pred, sample_weight=w)
    for a, b in [(0, 1), (1, 8), (8, 20), (20, 33)]:
        streamed.update_state(y_true[a:b], y_pred[a:b], sample_weight=None if w is None else w[a:b])
    assert streamed.result() == pytest.approx(whole.result(), rel=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if len(c[2]) == 7], ids=[i for i in IDS if i.endswith("n7")])
def test_reset_state_starts_over(case):
    _, make, y_true, y_pred, per_sample = case
    m = make()
    m.update_state(y_true[:3], y_pred[:3])
    m.reset_state()
    assert m.result() == 0.0  # Keras' divide_no_nan on an empty state
    m.update_state(y_true, y_pred)
    assert m.result() == pytest.approx(float(np.mean(per_sample)), rel=1e-6)


def test_per_sample_functions_return_one_value_per_sample():
    labels, onehot, scores = _categorical(9)
    for fn, yt in [(metrics.sparse_categorical_accuracy, labels), (metrics.categorical_accuracy, onehot),
                   (metrics.top_k_categorical_accuracy, onehot), (metrics.sparse_top_k_categorical_accuracy, labels)]:
        out = fn(yt, scores)
        assert out.shape == (9,), fn.__name__
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(labels, scores), labels == scores.argmax(1))


def test_top_k_with_k_at_least_the_classes_and_ties():
    labels, onehot, scores = _categorical(11, classes=4)
    for k in (4, 5, 100):
        assert metrics.TopKCategoricalAccuracy(k=k)(onehot, scores) == 1.0
        assert metrics.SparseTopKCategoricalAccuracy(k=k)(labels, scores) == 1.0
    flat = np.full((3, 4), 0.25, np.float32)  # all tied: the label's score is never beaten
    assert metrics.SparseTopKCategoricalAccuracy(k=1)(np.array([0, 2, 3]), flat) == 1.0
    # k=1 top-k equals plain sparse categorical accuracy when there are no ties
    assert metrics.SparseTopKCategoricalAccuracy(k=1)(labels, scores) == \
        pytest.approx(float(np.mean(labels == scores.argmax(1))))
    nan = np.array([[np.nan, 0.1, 0.2]], np.float32)  # a NaN score at the label is never a hit
    assert metrics.SparseTopKCategoricalAccuracy(k=2)(np.array([0]), nan) == 0.0


def test_sparse_top_k_from_sorted_ids():
    ids = np.array([[3, 1, 0], [2, 0, 1]])
    m = metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
    assert m(np.array([1, 1]), ids) == pytest.approx(0.5)


def test_mean_weighted_and_rank_two_values():
    m = metrics.Mean()
    m.update_state(np.array([1.0, 2.0, 3.0]), sample_weight=np.array([1.0, 0.0, 3.0]))
    assert m.result() == pytest.approx((1 + 9) / 4)
    m.reset_state()
    m.update_state(np.array([[1.0, 3.0], [5.0, 7.0]]))  # averaged per sample first
    assert m.result() == pytest.approx(4.0) and m.count == 2
    m.reset_state()
    m.update_state(np.array([[1.0, 3.0], [5.0, 7.0]]), sample_weight=np.array([[1.0, 0.0], [1.0, 1.0]]))
    # element weights (Keras): sum(values * w) over the per-sample means of w
    assert m.result() == pytest.approx(((1 * 1 + 3 * 0) / 2 + (5 + 7) / 2) / ((1 + 0) / 2 + 1))


# ---------------------------------------------------------------------------- precision / recall

def _confusion(y_true, y_pred, w, t):
    pred, actual = y_pred > t, y_true != 0
    w = np.ones_like(y_pred, dtype=np.float64) if w is None else np.broadcast_to(w.reshape(-1, 1), y_pred.shape)
    return np.sum(w * (pred & actual)), np.sum(w * (pred & ~actual)), np.sum(w * (~pred & actual))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_recall_match_numpy_multilabel(n, weighted):
    r = _rng(n)
    y_true = r.integers(0, 2, (n, 3)).astype(np.float32)
    y_pred = r.random((n, 3)).astype(np.float32)
    w = _weights(n, weighted)
    for t, kwargs in [(0.5, {}), (0.3, {"thresholds": 0.3})]:
        tp, fp, fn = _confusion(y_true, y_pred, w, t)
        p, rc = metrics.Precision(**kwargs), metrics.Recall(**kwargs)
        p.update_state(y_true, y_pred, sample_weight=w)
        rc.update_state(y_true, y_pred, sample_weight=w)
        assert p.result() == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
        assert rc.result() == pytest.approx(tp / (tp + fn) if tp + fn else 0.0)


def test_precision_is_streamed_not_a_mean_of_batch_ratios():
    y_true = np.array([1, 0, 0, 0, 1, 1, 1, 1], np.float32)
    y_pred = np.array([0.9, 0.8, 0.7, 0.6, 0.9, 0.9, 0.9, 0.9], np.float32)
    p = metrics.Precision()
    p.update_state(y_true[:4], y_pred[:4])  # 1 TP, 3 FP -> 0.25 alone
    p.update_state(y_true[4:], y_pred[4:])  # 4 TP, 0 FP -> 1.0 alone
    assert p.result() == pytest.approx(5 / 8)  # not (0.25 + 1) / 2
    assert p.true_positives[0] == 5 and p.false_positives[0] == 3


def test_precision_recall_zero_over_zero():
    p, r = metrics.Precision(), metrics.Recall()
    assert p.result() == 0.0 and r.result() == 0.0  # nothing seen
    p.update_state(np.array([1.0, 1.0]), np.array([0.1, 0.2]))  # no positive predictions
    assert p.result() == 0.0
    r.update_state(np.array([0.0, 0.0]), np.array([0.9, 0.2]))  # no actual positives
    assert r.result() == 0.0


def test_precision_recall_thresholds_list_top_k_class_id():
    r = _rng(3)
    y_true = r.integers(0, 2, (13, 4)).astype(np.float32)
    y_pred = r.random((13, 4)).astype(np.float32)
    p = metrics.Precision(thresholds=[0.2, 0.5, 0.8])
    p.update_state(y_true, y_pred)
    expected = []
    for t in (0.2, 0.5, 0.8):
        tp, fp, _ = _confusion(y_true, y_pred, None, t)
        expected.append(tp / (tp + fp) if tp + fp else 0.0)
    np.testing.assert_allclose(p.result(), expected)
    rc = metrics.Recall(class_id=2)
    rc.update_state(y_true, y_pred)
    tp, _, fn = _confusion(y_true[:, 2:3], y_pred[:, 2:3], None, 0.5)
    assert rc.result() == pytest.approx(tp / (tp + fn))
    top = metrics.Precision(top_k=1)  # only each row's best score is predicted positive
    top.update_state(y_true, y_pred)
    hits = y_true[np.arange(13), y_pred.argmax(1)]
    assert top.result() == pytest.approx(float(hits.mean()))


# ---------------------------------------------------------------------------- names, get, config

def test_default_names_match_keras():
    expected = {metrics.Accuracy: "accuracy", metrics.BinaryAccuracy: "binary_accuracy",
                metrics.CategoricalAccuracy: "categorical_accuracy",
                metrics.SparseCategoricalAccuracy: "sparse_categorical_accuracy",
                metrics.TopKCategoricalAccuracy: "top_k_categorical_accuracy",
                metrics.SparseTopKCategoricalAccuracy: "sparse_top_k_categorical_accuracy",
                metrics.MeanSquaredError: "mean_squared_error", metrics.MeanAbsoluteError: "mean_absolute_error",
                metrics.Precision: "precision", metrics.Recall: "recall", metrics.Mean: "mean"}
    for cls, name in expected.items():
        assert cls().name == name
    assert metrics.BinaryAccuracy().get_config()["threshold"] == 0.5
    assert metrics.TopKCategoricalAccuracy().get_config()["k"] == 5
    assert metrics.SparseTopKCategoricalAccuracy().get_config()["k"] == 5


def test_get_by_name_object_class_and_callable():
    for name, cls in [("mse", metrics.MeanSquaredError), ("mae", metrics.MeanAbsoluteError),
                      ("mean_squared_error", metrics.MeanSquaredError), ("precision", metrics.Precision),
                      ("recall", metrics.Recall), ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
                      ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
                      ("binary_accuracy", metrics.BinaryAccuracy), ("Precision", metrics.Precision),
                      ("accuracy", metrics.Accuracy)]:
        assert type(metrics.get(name)) is cls, name
    m = metrics.Recall()
    assert metrics.get(m) is m and isinstance(metrics.get(metrics.Recall), metrics.Recall)
    assert metrics.get(None) is None

    def hits(y_true, y_pred):
        return (np.asarray(y_true) == np.asarray(y_pred)).astype(float)

    wrapped = metrics.get(hits)
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "hits"
    assert wrapped(np.array([1, 2, 3]), np.array([1, 0, 3])) == pytest.approx(2 / 3)


@pytest.mark.parametrize("metric", [metrics.Accuracy(), metrics.BinaryAccuracy(threshold=0.3, name="b3"),
                                    metrics.CategoricalAccuracy(), metrics.SparseCategoricalAccuracy(),
                                    metrics.TopKCategoricalAccuracy(k=2), metrics.SparseTopKCategoricalAccuracy(k=3),
                                    metrics.MeanSquaredError(), metrics.MeanAbsoluteError(), metrics.Mean(name="m"),
                                    metrics.Precision(thresholds=[0.2, 0.6], name="p"), metrics.Recall(class_id=1),
                                    metrics.MeanMetricWrapper(metrics.binary_accuracy, threshold=0.9)],
                         ids=lambda m: type(m).__name__)
def test_config_round_trip(metric):
    clone = type(metric).from_config(metric.get_config())
    assert type(clone) is type(metric) and clone.get_config() == metric.get_config() and clone.name == metric.name
    again = metrics.deserialize(metrics.serialize(metric))
    assert again.get_config() == metric.get_config()


def test_unserialisable_wrapper_says_why():
    with pytest.raises(TypeError, match="cannot be serialised"):
        metrics.MeanMetricWrapper(lambda a, b: a).get_config()


# ---------------------------------------------------------------------------- bad input

def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown metric 'accuracyy'.*mse.*precision.*top_k_categorical_accuracy"):
        metrics.get("accuracyy")
    with pytest.raises(TypeError, match="metrics.get"):
        metrics.get(5)
    with pytest.raises(ValueError, match="unknown metric class"):
        metrics.deserialize({"class_name": "F1Score", "config": {}})


@pytest.mark.parametrize("make, y_true, y_pred, pattern", [
    (metrics.CategoricalAccuracy, np.array([0, 1, 2]), np.zeros((3, 3)), r"'categorical_accuracy'.*\(3,\).*\(3, 3\)"),
    (metrics.SparseCategoricalAccuracy, np.eye(3), np.zeros((3, 3)), r"'sparse_categorical_accuracy'.*one-hot"),
    (metrics.SparseCategoricalAccuracy, np.zeros(4), np.zeros((3, 3)), r"'sparse_categorical_accuracy'.*\(4,\)"),
    (metrics.MeanSquaredError, np.zeros((3, 3)), np.zeros((3, 4)), r"'mean_squared_error'.*\(3, 3\).*\(3, 4\)"),
    (metrics.BinaryAccuracy, np.zeros((5, 1)), np.zeros((4, 1)), r"'binary_accuracy'.*\(5, 1\).*\(4, 1\)"),
    (metrics.Precision, np.zeros((3, 2)), np.zeros((3, 3)), r"'precision'.*\(3, 2\).*\(3, 3\)"),
    (lambda: metrics.TopKCategoricalAccuracy(k=2), np.zeros(3), np.zeros((3, 4)), r"'top_k_categorical_accuracy'"),
])
def test_shape_mismatch_names_the_metric(make, y_true, y_pred, pattern):
    with pytest.raises(ValueError, match=pattern):
        make().update_state(y_true, y_pred)


def test_other_bad_input():
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        metrics.SparseTopKCategoricalAccuracy(k=1).update_state(np.array([0, 3]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="k must be a positive int"):
        metrics.TopKCategoricalAccuracy(k=0).update_state(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match=r"Precision: threshold values must be numbers in \[0, 1\]"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="Recall: top_k"):
        metrics.Recall(top_k=0)
    with pytest.raises(ValueError, match="sample_weight of shape"):
        metrics.MeanSquaredError().update_state(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="one value per sample"):
        metrics.MeanMetricWrapper(lambda yt, yp: np.zeros(2), name="bad").update_state(np.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match="MeanMetricWrapper: fn must be a callable"):
        metrics.MeanMetricWrapper("mse")


def test_device_arrays_are_copied_to_the_host_once():
    class FakeDeviceArray:  # the two things metrics use from a CuPy array
        __cuda_array_interface__ = {}

        def __init__(self, a):
            self.a, self.copies, self.shape = a, 0, a.shape

        def get(self):
            self.copies += 1
            return self.a

    labels, _, scores = _categorical(6)
    dev = FakeDeviceArray(scores)
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(labels, dev)
    assert m.result() == pytest.approx(float(np.mean(labels == scores.argmax(1)))) and dev.copies == 1
