"""Every gradient of the objective agrees with finite differences."""

import numpy as np
import pytest

from sklearn_smoothbasis._loss import ClusterLoss, ContrastiveLoss
from sklearn_smoothbasis._solvers import (
    BasisObjective,
    _ChunkCoefficientProblem,
    basis_matrix,
    design,
)

LOSS_PARTS = pytest.mark.parametrize(
    "cosine_weight, alpha",
    [(0.0, 0.0), (1.0, 0.0), (0.5, 0.0), (0.0, 0.3), (0.7, 0.3)],
    ids=["mse", "cosine", "mixed", "mse+alpha", "mixed+alpha"],
)


def _numerical_gradient(f, x, eps=1e-6):
    """Central differences of a scalar function of an array."""
    grad = np.empty(x.size)
    flat = x.ravel()
    for j in range(x.size):
        step = np.zeros_like(flat)
        step[j] = eps
        grad[j] = (
            f((flat + step).reshape(x.shape)) - f((flat - step).reshape(x.shape))
        ) / (2 * eps)
    return grad.reshape(x.shape)


def _problem(seed, n_clusters=4, d=5, p=3, K=2, with_prior=True):
    rng = np.random.RandomState(seed)
    counts = rng.randint(1, 5, size=n_clusters)
    starts = np.concatenate(([0], np.cumsum(counts)))
    X = rng.standard_normal((starts[-1], d))
    Y = rng.standard_normal((starts[-1], p))
    base = X @ rng.standard_normal((d, p)) if with_prior else None
    basis = rng.standard_normal((K, d, p))
    coef = rng.standard_normal((n_clusters, K))
    return X, Y, base, starts, basis, coef


@pytest.mark.parametrize("cosine_weight", [0.0, 0.4, 1.0])
def test_row_loss_gradient(cosine_weight, seed):
    rng = np.random.RandomState(seed)
    Y_pred, Y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    weights = rng.uniform(0.1, 1.0, size=6)  # rows mixed, as the solvers mix them
    loss = ClusterLoss(cosine_weight)
    values, grad = loss.row_values_and_gradients(Y_pred, Y)
    np.testing.assert_allclose(values, loss.row_values(Y_pred, Y))
    numerical = _numerical_gradient(
        lambda P: np.dot(loss.row_values(P, Y), weights), Y_pred
    )
    np.testing.assert_allclose(grad * weights[:, None], numerical, rtol=1e-5, atol=1e-7)


def test_row_loss_zero_prediction_is_finite():
    loss = ClusterLoss(0.5)
    values, grad = loss.row_values_and_gradients(np.zeros((2, 3)), np.ones((2, 3)))
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(values, 0.5 * 3 + 0.5 * 1.0)


@LOSS_PARTS
@pytest.mark.parametrize("with_prior", [True, False], ids=["prior", "no-prior"])
def test_basis_gradient(cosine_weight, alpha, with_prior, seed):
    X, Y, base, starts, basis, coef = _problem(seed, with_prior=with_prior)
    chunk_starts = np.array([0, 2, len(starts) - 1])  # two chunks: sums across chunks
    objective = BasisObjective(X, Y, base, starts, ClusterLoss(cosine_weight), alpha,
                               chunk_starts)
    _, _, grad = objective(basis, coef, solve=False)
    numerical = _numerical_gradient(
        lambda G: objective(G, coef, solve=False, need_grad=False)[0], basis
    )
    np.testing.assert_allclose(grad, numerical, rtol=1e-5, atol=1e-7)


def _coefficient_problem(seed, cosine_weight, alpha):
    X, Y, base, starts, basis, coef = _problem(seed)
    K = basis.shape[0]
    flat = basis.reshape(K, -1)
    problem = _ChunkCoefficientProblem(
        design(X, basis_matrix(basis), K), base, Y, np.diff(starts), flat @ flat.T,
        ClusterLoss(cosine_weight), alpha, typical_value=1.0, coef=coef,
    )
    problem.prepare()
    return problem, coef


@LOSS_PARTS
def test_coefficient_gradient(cosine_weight, alpha, seed):
    problem, coef = _coefficient_problem(seed, cosine_weight, alpha)
    grad = problem.evaluate(coef)[1]
    numerical = _numerical_gradient(lambda C: problem.values(C).sum(), coef)
    np.testing.assert_allclose(grad, numerical, rtol=1e-5, atol=1e-7)


@LOSS_PARTS
def test_coefficient_values_from_row_statistics_are_the_exact_values(
    cosine_weight, alpha, seed
):
    # The solve evaluates f_i from per-row K x K statistics instead of predictions:
    # the same math, so the same values to rounding, at the start and away from it.
    problem, coef = _coefficient_problem(seed, cosine_weight, alpha)
    rng = np.random.RandomState(seed + 1)
    for moved in (coef, coef + rng.standard_normal(coef.shape)):
        exact = problem._exact_values(problem._predict(moved), moved)[0]
        np.testing.assert_allclose(problem.values(moved), exact, rtol=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("sampled", [False, True], ids=["all-rows", "sampled"])
def test_curvature_along_a_direction(alpha, sampled, seed, monkeypatch):
    # Squared error, coefficients fixed: J is quadratic along any direction D and
    # curvature_along is its exact second derivative (central differences of J);
    # with the rows sampled (clusters evenly spaced) it estimates the data term
    # from those clusters and keeps the penalty exact.
    from sklearn_smoothbasis import _solvers

    X, Y, base, starts, basis, coef = _problem(seed, n_clusters=200)
    objective = BasisObjective(X, Y, base, starts, ClusterLoss(0.0), alpha,
                               np.array([0, len(starts) - 1]))
    direction = np.random.RandomState(seed + 7).standard_normal(basis.shape)

    def J(t):
        return objective(basis + t * direction, coef, solve=False,
                         need_grad=False)[0]

    exact = (J(1.0) - 2 * J(0.0) + J(-1.0))
    if sampled:
        monkeypatch.setattr(_solvers, "_CURVATURE_MAX_ROWS", len(X) // 2)
    curvature = objective.curvature_along(coef, direction)
    if sampled:
        assert curvature != pytest.approx(exact, rel=1e-6)
        assert curvature == pytest.approx(exact, rel=0.3)
    else:
        assert curvature == pytest.approx(exact, rel=1e-9)


@LOSS_PARTS
def test_objective_matches_definition(cosine_weight, alpha, seed):
    """J is the mean over clusters of (summed row loss + penalty) / cluster size."""
    X, Y, base, starts, basis, coef = _problem(seed)
    objective = BasisObjective(X, Y, base, starts, ClusterLoss(cosine_weight), alpha,
                               np.array([0, len(starts) - 1]))
    value = objective(basis, coef, solve=False, need_grad=False)[0]
    loss = ClusterLoss(cosine_weight)
    expected = []
    for i in range(len(starts) - 1):
        rows = slice(starts[i], starts[i + 1])
        correction = np.einsum("k,kdp->dp", coef[i], basis)
        pred = base[rows] + X[rows] @ correction
        rows_loss = loss.row_values(pred, Y[rows])
        expected.append(
            (rows_loss.sum() + alpha * np.sum(correction**2)) / len(rows_loss)
        )
    assert value == pytest.approx(np.mean(expected), rel=1e-12)


@pytest.mark.parametrize("temperature", [0.01, 0.05, 1.0])  # 0.01: row-max shift
def test_contrastive_loss_gradient(temperature, seed):
    rng = np.random.RandomState(seed)
    Y_pred = rng.standard_normal((6, 4))
    targets = rng.standard_normal((3, 4))
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    own = rng.randint(0, 3, size=6)
    loss = ContrastiveLoss(temperature)
    value, grad = loss.value_and_gradient(Y_pred, targets, own)
    cosines = (
        (Y_pred / np.linalg.norm(Y_pred, axis=1, keepdims=True))
        @ targets.T
        / temperature
    )
    expected = np.mean(np.log(np.exp(cosines).sum(axis=1)) - cosines[np.arange(6), own])
    assert value == pytest.approx(expected)
    numerical = _numerical_gradient(
        lambda P: loss.value_and_gradient(P, targets, own)[0], Y_pred
    )
    np.testing.assert_allclose(grad, numerical, rtol=1e-5, atol=1e-7)


def test_contrastive_loss_of_a_zero_prediction_is_finite():
    targets = np.eye(3)
    value, grad = ContrastiveLoss(0.1).value_and_gradient(
        np.zeros((1, 3)), targets, np.array([1])
    )
    assert value == pytest.approx(np.log(3))  # every cosine is 0: uniform softmax
    np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("problem_seed", range(10))
def test_coefficient_step_never_increases_any_cluster(cosine_weight, dtype,
                                                      problem_seed):
    # Warm starts from random coefficients (as the solver's line-search trials start
    # from the last iteration's) and cold starts from zero: every cluster's exact
    # objective, computed from the predictions, is at most what it was.
    X, Y, base, starts, basis, coef = _problem(problem_seed, n_clusters=6)
    X, Y, base, basis = (a.astype(dtype) for a in (X, Y, base, basis))
    K = basis.shape[0]
    flat = basis.reshape(K, -1)
    for start in (coef.astype(dtype), np.zeros_like(coef, dtype=dtype)):
        problem = _ChunkCoefficientProblem(
            design(X, basis_matrix(basis), K), base, Y, np.diff(starts), flat @ flat.T,
            ClusterLoss(cosine_weight), 0.3, typical_value=1.0, coef=start,
        )
        before = problem.final()[0].copy()
        problem._final = None
        problem.solve()
        after = problem.final()[0]
        assert np.all(after <= before + 16 * np.finfo(dtype).eps * np.abs(before))
        if start.any():  # a random start is far from optimal: the step helps
            assert after.sum() < before.sum()


@pytest.mark.parametrize("temperature", [0.01, 0.05, 1.0])
def test_contrastive_loss_in_float32_is_the_float64_loss(temperature, seed):
    # The logits are shifted by 1 / temperature (by the row maximum below 0.025)
    # instead of normalised row by row: the same loss and gradient to float32
    # rounding, with cosines near 1 and near -1.
    rng = np.random.RandomState(seed)
    targets = rng.standard_normal((50, 8))
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    own = rng.randint(0, 50, size=40)
    Y_pred = np.vstack([targets[own[:20]] + 1e-3 * rng.standard_normal((20, 8)),
                        -targets[own[20:]]])
    loss = ContrastiveLoss(temperature)
    value, grad = loss.value_and_gradient(Y_pred, targets, own)
    value32, grad32 = loss.value_and_gradient(
        Y_pred.astype(np.float32), targets.astype(np.float32), own)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value32 == pytest.approx(value, rel=1e-5)
    np.testing.assert_allclose(grad32, grad, rtol=1e-3, atol=1e-5 * np.abs(grad).max())
