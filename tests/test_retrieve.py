"""retrieve: exact top-k answers by cosine, ties by index, batched, and its metrics."""

import numpy as np
import pytest
import sklearn

from sklearn_smoothbasis import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis._ranking import top_k_cosine
from sklearn_smoothbasis.datasets import make_multicluster_regression
from sklearn_smoothbasis.metrics import mean_reciprocal_rank, recall_at_k

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [
    SmoothingBasisRegressor(max_iter=5, random_state=0),
    IndependentProjectionRegressor(),
    SharedProjectionRegressor(),
    MultiHeadRegressor(),
]
IDS = [type(e).__name__ for e in ESTIMATORS]


@pytest.fixture(scope="module")
def data():
    X, Y, groups = make_multicluster_regression(
        n_clusters=12,
        n_features=6,
        n_targets=5,
        rows_per_cluster=(2, 4),
        random_state=0,
    )
    answers, answer_index = np.unique(Y.round(12), axis=0, return_inverse=True)
    return X, Y, groups, answers, answer_index.ravel()


def _brute_force(Y_pred, answers, k):
    """Every cosine, then a stable sort: the reference ranking, ties by index."""
    P = Y_pred / np.linalg.norm(Y_pred, axis=1, keepdims=True)
    A = answers / np.linalg.norm(answers, axis=1, keepdims=True)
    S = P @ A.T
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
@pytest.mark.parametrize("routed", [True, False], ids=["routed", "groups"])
def test_retrieve_matches_brute_force_ranking_of_predict(estimator, routed, data):
    X, Y, groups, answers, _ = data
    model = sklearn.clone(estimator).fit(X, Y, groups=groups)
    groups_arg = None if routed else groups
    expected_indices, expected_sims = _brute_force(
        model.predict(X, groups=groups_arg), answers, 4
    )
    indices, similarities = model.retrieve(X, answers, k=4, groups=groups_arg)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(similarities, expected_sims, rtol=1e-12, atol=1e-12)
    assert indices.dtype == np.intp and similarities.dtype == np.float64


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_retrieve_keeps_float32(estimator, data):
    X, Y, groups, answers, _ = data
    model = sklearn.clone(estimator).fit(X.astype(np.float32), Y.astype(np.float32),
                                         groups=groups)
    result = model.retrieve(X.astype(np.float32), answers, k=3)
    assert result.similarities.dtype == np.float32
    reference = model.retrieve(X.astype(np.float32), answers.astype(np.float32), k=3)
    np.testing.assert_array_equal(result.indices, reference.indices)


def test_retrieve_batches_give_the_same_result(data):
    X, Y, groups, answers, _ = data
    model = SmoothingBasisRegressor(max_iter=5, random_state=0).fit(X, Y, groups=groups)
    whole = model.retrieve(X, answers, k=5)
    # working_memory is in MiB: this allows two or three rows per batch.
    with sklearn.config_context(working_memory=0.002):
        batched = model.retrieve(X, answers, k=5)
    np.testing.assert_array_equal(batched.indices, whole.indices)
    np.testing.assert_allclose(batched.similarities, whole.similarities, rtol=1e-12)


def test_ties_are_broken_by_index():
    # answers 0, 2 and 4 are the same direction (2 is a scaled copy); 1 and 3 too.
    answers = np.array([[1.0, 0], [0, 1], [2, 0], [0, 1], [1, 0], [-1, 0]])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    model = SharedProjectionRegressor(method="identity").fit(X, X)
    indices, similarities = model.retrieve(X, answers, k=4)
    assert indices.tolist() == [[0, 2, 4, 1], [1, 3, 0, 2], [0, 1, 2, 3]]
    # A zero prediction has cosine 0 with every answer: the first k by index.
    np.testing.assert_array_equal(similarities[2], 0.0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 7, 20])
def test_top_k_with_many_ties_is_the_stable_sort(seed, k):
    rng = np.random.RandomState(seed)
    # Few distinct directions, so most rows have ties across the k-th place.
    directions = np.eye(3)[rng.randint(3, size=20)] * rng.uniform(1, 3, size=(20, 1))
    queries = (
        np.eye(3)[rng.randint(3, size=30)] + 0.5 * np.eye(3)[rng.randint(3, size=30)]
    )
    answers_unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    indices, similarities = top_k_cosine(queries, answers_unit, k)
    expected, expected_sims = _brute_force(queries, directions, k)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(similarities, expected_sims, atol=1e-12)


def test_metrics_accept_a_retrieve_result(data):
    X, Y, groups, answers, answer_index = data
    model = SmoothingBasisRegressor(max_iter=5, random_state=0).fit(X, Y, groups=groups)
    Y_pred = model.predict(X)
    full = model.retrieve(X, answers, k=len(answers))
    for k in (1, 3):
        assert recall_at_k(answer_index, full, k=k) == recall_at_k(Y, Y_pred, k=k)
        assert recall_at_k(answer_index, model.retrieve(X, answers, k=k), k=k) == (
            recall_at_k(Y, Y_pred, k=k)
        )
    assert mean_reciprocal_rank(answer_index, full) == pytest.approx(
        mean_reciprocal_rank(Y, Y_pred), rel=1e-12
    )
    # Truncated at k=1: a miss counts 0, so MRR@1 is Recall@1.
    top1 = model.retrieve(X, answers, k=1)
    assert mean_reciprocal_rank(answer_index, top1) == recall_at_k(answer_index, top1)


def test_metrics_reject_a_mismatched_retrieve_result(data):
    X, Y, _groups, answers, answer_index = data
    model = SharedProjectionRegressor().fit(X, Y)
    result = model.retrieve(X, answers, k=2)
    with pytest.raises(ValueError, match="at least 3 answers per row; it has 2"):
        recall_at_k(answer_index, result, k=3)
    with pytest.raises(ValueError, match="candidates cannot be given"):
        recall_at_k(answer_index, result, candidates=answers)
    with pytest.raises(ValueError, match="Y_true must be the index of each row's own"):
        recall_at_k(Y, result)
    with pytest.raises(ValueError, match="answer indices but the retrieve result has"):
        mean_reciprocal_rank(answer_index[:-1], result)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"k": 0},
            r"k must be an integer between 1 and the number of answers \(3\); got 0",
        ),
        ({"k": 4}, r"between 1 and the number of answers \(3\); got 4"),
        ({"k": 1.0}, "got 1.0"),
        ({"k": True}, "got True"),
        ({"groups": [0, 1]}, "groups passed to retrieve has 2 labels"),
    ],
)
def test_retrieve_rejects_bad_arguments(kwargs, message, data):
    X, Y, _groups, answers, _ = data
    model = SharedProjectionRegressor().fit(X, Y)
    with pytest.raises(ValueError, match=message):
        model.retrieve(X, answers[:3], **kwargs)


def test_retrieve_rejects_bad_answers(data):
    X, Y, _groups, answers, _ = data
    model = SharedProjectionRegressor().fit(X, Y)
    with pytest.raises(
        ValueError, match="answers has 4 columns but the model predicts 5"
    ):
        model.retrieve(X, answers[:, :4])
    with pytest.raises(ValueError, match="Expected 2D array"):
        model.retrieve(X, answers[0])
    bad = answers.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="answers contains NaN"):
        model.retrieve(X, bad)
    with pytest.raises(ValueError, match="X has 5 features"):
        model.retrieve(X[:, :5], answers)


def test_retrieve_needs_a_fitted_model(data):
    X, _Y, _groups, answers, _ = data
    with pytest.raises(sklearn.exceptions.NotFittedError):
        SharedProjectionRegressor().retrieve(X, answers)
