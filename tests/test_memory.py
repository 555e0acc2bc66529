"""Extra memory stays within ``working_memory``: peaks of Python allocations measured
with tracemalloc (numpy reports its buffers to it) against a bound computed from the
setting, never a wall clock."""

import tracemalloc

import numpy as np
import pytest
import sklearn

from sklearn_smoothbasis import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis.metrics import mean_cosine_similarity, recall_at_k

MiB = 2**20
# Allocations that do not grow with the rows: index arrays of one batch, Python
# objects, small per-call buffers.
_SLACK = MiB // 2


def _peak_bytes(function):
    """Peak of traced allocations while ``function`` runs, above what was live before,
    and its result."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = function()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return peak, result


@pytest.fixture(scope="module")
def fitted():
    """Models of 200 clusters with d = p = 32 (smoothing basis: K = 10), fitted on
    float64, and 6,000 query rows: the n x K x p design array of predict alone would
    take 15 MiB."""
    rng = np.random.RandomState(0)
    n_clusters, d, p = 200, 32, 32
    groups = np.repeat(np.arange(n_clusters), 2)
    X = rng.standard_normal((2 * n_clusters, d))
    Y = rng.standard_normal((2 * n_clusters, p))
    models = [
        SmoothingBasisRegressor(
            n_basis=10, max_iter=2, prior=None, init="random", random_state=0
        ),
        IndependentProjectionRegressor(),
        MultiHeadRegressor(),
        SharedProjectionRegressor(),
    ]
    models = [model.fit(X, Y, groups=groups) for model in models]
    return models, rng.standard_normal((6000, d))


@pytest.mark.parametrize(
    "index", range(4), ids=["smoothing", "independent", "multihead", "shared"]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("working_memory", [1, 4])
def test_predict_extra_memory_stays_within_working_memory(
    fitted, index, dtype, working_memory
):
    models, X = fitted
    model, X = models[index], X.astype(dtype)
    model_bytes = sum(
        v.nbytes for v in vars(model).values() if isinstance(v, np.ndarray)
    )
    with sklearn.config_context(working_memory=working_memory):
        peak, Y_pred = _peak_bytes(lambda: model.predict(X))
    # The output, at most one copy of the model's arrays, and working_memory.
    bound = Y_pred.nbytes + model_bytes + working_memory * MiB + _SLACK
    assert peak <= bound, (peak / MiB, bound / MiB)
    # Unchunked, the design array alone would exceed it (the bound is not vacuous).
    if index == 0:
        assert X.shape[0] * model.n_basis_ * model.n_targets_ * X.itemsize > bound


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_metrics_extra_memory_stays_within_working_memory(dtype):
    rng = np.random.RandomState(0)
    Y = rng.standard_normal((3000, 16)).astype(dtype)
    Y_true = np.repeat(Y[:1500], 2, axis=0)
    Y_pred = Y_true + rng.standard_normal(Y_true.shape).astype(dtype)
    with sklearn.config_context(working_memory=1):
        peak, _ = _peak_bytes(lambda: recall_at_k(Y_true, Y_pred))
        # The similarities of all rows with all 1,500 candidates would take 17 MiB
        # (float32) to 34 MiB (float64); unit copies of the inputs are allowed.
        bound = 2 * Y_true.nbytes + MiB + _SLACK + 2 * Y_true.nbytes
        assert peak <= bound, (peak / MiB, bound / MiB)
        peak, _ = _peak_bytes(lambda: mean_cosine_similarity(Y_true, Y_pred))
        assert peak <= bound, (peak / MiB, bound / MiB)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_extra_memory_stays_within_working_memory():
    # 3,000 rows: the n x n kernel of the exact initial basis alone took 69 MiB per
    # copy (208 MiB peak) before it was summed in blocks of rows.
    rng = np.random.RandomState(0)
    n_clusters, d, p = 200, 16, 16
    groups = np.repeat(np.arange(n_clusters), 15)
    X = rng.standard_normal((len(groups), d))
    Y = rng.standard_normal((len(groups), p))
    model = SmoothingBasisRegressor(
        n_basis=4, max_iter=2, prior="shared", random_state=0
    )
    with sklearn.config_context(working_memory=1):
        peak, _ = _peak_bytes(lambda: model.fit(X, Y, groups=groups))
    # Copies of the inputs (sorted rows, X P, residuals, ...), a few N x N arrays
    # (the Gram matrix of the maps and its eigendecomposition) and working_memory.
    bound = 8 * (X.nbytes + Y.nbytes) + 4 * 8 * n_clusters**2 + MiB + _SLACK
    assert peak <= bound, (peak / MiB, bound / MiB)
