from fractions import Fraction

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_smoothbasis.metrics import (
    RETRIEVAL_SCORERS,
    get_retrieval_scorer,
    mean_cosine_scorer,
    mean_cosine_similarity,
    mean_reciprocal_rank,
    mrr_scorer,
    recall_at_1_scorer,
    recall_at_k,
)

# Four candidates on the axes; each row targets one of them.
A, B, C, D = [1, 0], [0, 1], [-1, 0], [0, -1]
Y_TRUE = np.array([A, B, C, D], dtype=float)
# Similarity orders, by hand:
#   [1, 0.1]  target A: A > B > D > C       -> rank 1
#   [1, 0.5]  target B: A > B > D > C       -> rank 2
#   [1, -0.2] target C: A > D > B > C       -> rank 4
#   [1, 0.4]  target D: A > B > D > C       -> rank 3
Y_PRED = np.array([[1, 0.1], [1, 0.5], [1, -0.2], [1, 0.4]])
RANKS = [1, 2, 4, 3]


@pytest.mark.parametrize("k", [1, 2, 3, 4, 10])
def test_recall_at_k_hand_computed(k):
    expected = Fraction(sum(r <= k for r in RANKS), 4)
    assert recall_at_k(Y_TRUE, Y_PRED, k=k) == pytest.approx(float(expected))


def test_mrr_hand_computed():
    expected = Fraction(1, 4) * sum(Fraction(1, r) for r in RANKS)
    assert expected == Fraction(25, 48)
    assert mean_reciprocal_rank(Y_TRUE, Y_PRED) == pytest.approx(float(expected))


def test_scale_and_row_order_invariance():
    perm = [2, 0, 3, 1]
    assert mean_reciprocal_rank(3 * Y_TRUE[perm], 0.5 * Y_PRED[perm]) == (
        pytest.approx(25 / 48)
    )


def test_candidates_argument():
    extra = [1, 0.1]  # equal to the first prediction
    candidates = np.array([D, extra, C, B, A])
    # Row 0 (target A): extra > A -> rank 2; row 1 (target B): A > extra > B -> 3.
    Y_true, Y_pred = Y_TRUE[:2], Y_PRED[:2]
    assert recall_at_k(Y_true, Y_pred, candidates=candidates) == 0.0
    assert recall_at_k(Y_true, Y_pred, candidates=candidates, k=2) == 0.5
    assert mean_reciprocal_rank(Y_true, Y_pred, candidates=candidates) == (
        pytest.approx(float(Fraction(1, 2) * (Fraction(1, 2) + Fraction(1, 3))))
    )
    # Same result as the default when the candidates are the distinct targets.
    assert mean_reciprocal_rank(Y_TRUE, Y_PRED, candidates=Y_TRUE[::-1]) == (
        pytest.approx(25 / 48)
    )


def test_ties_count_against_the_row():
    Y_true = np.array([A, B])
    # [1, 1] is equally similar to A and B: both rows get rank 2.
    Y_pred = np.array([[1, 1], [1, 1]])
    assert recall_at_k(Y_true, Y_pred) == 0.0
    assert recall_at_k(Y_true, Y_pred, k=2) == 1.0
    assert mean_reciprocal_rank(Y_true, Y_pred) == 0.5
    # Distinct but parallel candidates tie exactly as well.
    assert mean_reciprocal_rank([[1, 0], [2, 0]], [[1, 0], [3, 0]]) == 0.5


def test_zero_rows_have_cosine_zero():
    # Zero prediction: every candidate has cosine 0, a full tie -> rank 3.
    Y_true = np.array([A, B, [0, 0]])
    Y_pred = np.array([[0, 0], [0, 1], [0, -1]])
    # Row 1 ranks B first; row 2 (zero target, cosine 0) ties with A -> rank 2.
    expected = (Fraction(1, 3) + 1 + Fraction(1, 2)) / 3
    assert mean_reciprocal_rank(Y_true, Y_pred) == pytest.approx(float(expected))
    assert mean_cosine_similarity(Y_true, Y_pred) == pytest.approx(1 / 3)


def test_mean_cosine_similarity():
    Y_true = [[1, 0], [0, 2], [1, 1]]
    Y_pred = [[3, 0], [0, -1], [1, 0]]
    expected = (1 - 1 + 1 / np.sqrt(2)) / 3
    assert mean_cosine_similarity(Y_true, Y_pred) == pytest.approx(expected)


def test_chunking_does_not_change_ranks():
    rng = np.random.default_rng(0)
    Y_true = rng.normal(size=(50, 4)).round(1)
    Y_pred = Y_true + rng.normal(scale=0.8, size=Y_true.shape)
    expected = mean_reciprocal_rank(Y_true, Y_pred)
    with sklearn.config_context(working_memory=1e-6):  # one row per chunk
        assert mean_reciprocal_rank(Y_true, Y_pred) == expected


def test_float32_input():
    score = mean_reciprocal_rank(Y_TRUE.astype(np.float32), Y_PRED.astype(np.float32))
    assert score == pytest.approx(25 / 48)


@pytest.mark.parametrize(
    "Y_true, Y_pred, kwargs, match",
    [
        ([1.0, 0.0], [1.0, 0.0], {}, "Y_true must be a 2-D array of embeddings"),
        ([[1.0, 0.0]], [[[1.0, 0.0]]], {}, "Y_pred must be a 2-D array"),
        ([[np.nan, 0.0]], [[1.0, 0.0]], {}, "NaN"),
        ([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], {}, "inconsistent numbers"),
        ([[1.0, 0.0]], [[1.0, 0.0, 0.0]], {}, "same number of columns"),
        ([A, B], [A, B], {"k": 0}, "k must be an integer >= 1"),
        ([A, B], [A, B], {"k": 1.5}, "k must be an integer >= 1"),
        ([A, B], [A, B], {"candidates": [A, C]}, "1 of 2 rows of Y_true have no"),
        ([A, B], [A, B], {"candidates": [A, B, A]},
         r"duplicate rows: rows 0 and 2 are equal\. Clusters that share an answer"),
        ([A, B], [A, B], {"candidates": [[1, 0, 0]]}, "same number of columns"),
    ],
)
def test_input_validation(Y_true, Y_pred, kwargs, match):
    with pytest.raises(ValueError, match=match):
        recall_at_k(Y_true, Y_pred, **kwargs)


def test_get_retrieval_scorer():
    assert get_retrieval_scorer("recall_at_1") is recall_at_1_scorer
    assert get_retrieval_scorer("mrr") is mrr_scorer
    assert get_retrieval_scorer("mean_cosine") is mean_cosine_scorer
    with pytest.raises(ValueError, match="Unknown retrieval scorer 'ndcg'"):
        get_retrieval_scorer("ndcg")


def _clustered_data(n_clusters=12, n_per_cluster=6, seed=0):
    """Each cluster: noisy questions around a center, all mapped to one answer."""
    rng = np.random.default_rng(seed)
    answers = rng.normal(size=(n_clusters, 5))
    centers = answers @ rng.normal(size=(5, 8))
    groups = np.repeat(np.arange(n_clusters), n_per_cluster)
    X = centers[groups] + rng.normal(scale=0.3, size=(len(groups), 8))
    return X, answers[groups], groups


def test_scorers_in_grid_search():
    X, Y, _ = _clustered_data()
    search = GridSearchCV(
        Ridge(),
        {"alpha": [1e-2, 1e2, 1e5]},
        scoring=RETRIEVAL_SCORERS,
        refit="mrr",
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, Y)
    assert np.isfinite(search.best_score_)
    assert search.best_params_["alpha"] < 1e5
    for name in RETRIEVAL_SCORERS:
        scores = search.cv_results_[f"mean_test_{name}"]
        assert np.all(np.isfinite(scores))
        assert len(np.unique(scores)) > 1, name
        assert scores[0] > scores[-1], name
