"""``sparsity``: an L1 penalty on each cluster's coefficients, solved exactly."""

import warnings

import numpy as np
import pytest
import sklearn
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_smoothbasis import SmoothingBasisRegressor, SmoothingBasisRegressorCV
from sklearn_smoothbasis._loss import ClusterLoss
from sklearn_smoothbasis._solvers import (
    BasisObjective,
    _ChunkCoefficientProblem,
    basis_matrix,
    design,
)
from sklearn_smoothbasis._sparse_coefficients import (
    UnitNormObjective,
    l1_quadratic_minimizer,
)
from sklearn_smoothbasis.datasets import make_multicluster_regression
from sklearn_smoothbasis.model_selection import ClusterStratifiedKFold


def _data(random_state=0, dtype=np.float64):
    X, Y, groups = make_multicluster_regression(
        n_clusters=15, n_basis=3, n_features=6, n_targets=5, rows_per_cluster=(2, 6),
        noise=0.3, random_state=random_state)
    return X.astype(dtype), Y.astype(dtype), groups


# -- off: exactly today's model --

@pytest.mark.parametrize(
    "cosine_weight, expected",
    [
        # objective_, sum of the maps, sum of their squares, sum of the predictions:
        # printed by the code before sparsity existed (main at 212a1db), with
        # L-BFGS's first step started from the curvature along the gradient and
        # searching its line since (_solvers._line_minimum).
        (0.0, (1.7551335046993974, -9.485954142010364, 226.4901846189024,
               33.040526727511605)),
        (0.5, (1.4718779855161557, -7.524537354406505, 189.1434139997485,
               30.831574255793527)),
    ],
)
def test_sparsity_zero_reproduces_the_model_before_it(cosine_weight, expected):
    X, Y, groups = _data()
    model = SmoothingBasisRegressor(
        n_basis=3, cosine_weight=cosine_weight, prior="shared", alpha=0.3,
        max_iter=20, tol=0, random_state=0, sparsity=0.0,
    ).fit(X, Y, groups)
    maps = np.einsum("ik,kdp->idp", model.coefficients_, model.basis_) + model.prior_
    found = (model.objective_, maps.sum(), np.sum(maps**2),
             model.predict(X, groups=groups).sum())
    np.testing.assert_allclose(found, expected, rtol=1e-10)
    # and the basis is orthonormal, as before
    flat = model.basis_.reshape(3, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(3), atol=1e-12)


# -- the coefficient step --

def test_the_model_minimiser_satisfies_its_optimality_conditions(seed):
    # Ill-conditioned Hessians (condition numbers up to about 1e6) are where
    # coordinate descent crawls; the active-set search is exact on them.
    rng = np.random.RandomState(seed)
    m, K, t = 50, 6, 0.3
    factors = rng.standard_normal((m, K, K)) * np.logspace(-2, 1, K)
    hess = factors @ factors.transpose(0, 2, 1)
    grad, coef = rng.standard_normal((m, K)), rng.standard_normal((m, K))
    z = l1_quadratic_minimizer(hess, grad, coef, t)
    residual = grad + np.einsum("ikl,il->ik", hess, z - coef)
    zero = z == 0
    assert zero.any() and (~zero).any()
    scale = t + np.abs(np.einsum("ikl,il->ik", hess, z)).max()
    assert np.all(np.abs(residual[zero]) <= t + 1e-8 * scale)
    np.testing.assert_allclose(residual[~zero], -t * np.sign(z[~zero]),
                               atol=1e-8 * scale)


def _coefficient_problem(seed, cosine_weight, sparsity, alpha=0.1):
    rng = np.random.RandomState(seed)
    counts = rng.randint(2, 8, size=30)
    n, d, p, K = counts.sum(), 6, 5, 4
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, p))
    base = X @ rng.standard_normal((d, p))
    basis = UnitNormObjective.unit_norm(rng.standard_normal((K, d, p)))[0]
    flat = basis.reshape(K, -1)
    problem = _ChunkCoefficientProblem(
        design(X, basis_matrix(basis), K), base, Y, counts, flat @ flat.T,
        ClusterLoss(cosine_weight), alpha, typical_value=1.0,
        coef=np.zeros((len(counts), K)), sparsity=sparsity,
    )
    return problem


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
def test_coefficient_step_satisfies_the_subgradient_conditions(cosine_weight, seed):
    # At the solution of the coefficient step (basis fixed), with g the gradient of
    # the smooth part f_i: g_k = -t sign(c_k) where c_k != 0, |g_k| <= t where
    # c_k = 0. Thresholding the unpenalised solution afterwards (zeroing the
    # coefficients below half the mean magnitude) violates them by 0.5 to 2.2 here
    # (measured, seeds 0-2, both cosine weights).
    t = 0.3
    problem = _coefficient_problem(seed, cosine_weight, t)
    coef = problem.solve()
    problem.prepare()
    grad = problem.evaluate(coef)[1]
    zero = coef == 0
    assert 0.05 < zero.mean() < 0.9
    # Measured: within 2e-6 (the cosine term's steps stop at a predicted decrease
    # of 1e-13 relative); exact to rounding for the squared error.
    atol = 1e-5 if cosine_weight else 1e-10
    assert np.all(np.abs(grad[zero]) <= t + atol)
    np.testing.assert_allclose(grad[~zero], -t * np.sign(coef[~zero]), atol=atol)


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
def test_coefficient_step_never_increases_the_composite_objective(cosine_weight,
                                                                  seed):
    problem = _coefficient_problem(seed, cosine_weight, 0.3)
    rng = np.random.RandomState(seed)
    start = rng.standard_normal(problem.coef.shape)
    problem.coef, problem.pred = start, problem._predict(start)
    before = problem.final()[0]
    problem._final = None
    problem.solve()
    after = problem.final()[0]
    expected_l1 = 0.3 * np.abs(problem.coef).sum(axis=1)
    rows = problem.loss.row_values(problem.pred, problem.Y)
    smooth = (np.add.reduceat(rows, problem.starts[:-1]) / problem.counts
              + problem.shrink * np.einsum("ik,kl,il->i", problem.coef, problem.gram,
                                           problem.coef))
    np.testing.assert_allclose(after, smooth + expected_l1, rtol=1e-12)
    assert np.all(after <= before)


def test_the_basis_gradient_of_the_unit_norm_objective(seed):
    rng = np.random.RandomState(seed)
    counts = rng.randint(1, 5, size=4)
    starts = np.concatenate(([0], np.cumsum(counts)))
    X = rng.standard_normal((starts[-1], 5))
    Y = rng.standard_normal((starts[-1], 3))
    objective = UnitNormObjective(BasisObjective(
        X, Y, X @ rng.standard_normal((5, 3)), starts, ClusterLoss(0.5), 0.3,
        np.array([0, 4]), sparsity=0.1))
    basis, coef = rng.standard_normal((2, 5, 3)), rng.standard_normal((4, 2))
    _, _, grad = objective(basis, coef, solve=False)
    numerical = np.zeros(basis.size)
    for j in range(basis.size):
        step = np.zeros(basis.size)
        step[j] = 1e-6
        numerical[j] = (
            objective(basis + step.reshape(basis.shape), coef, solve=False)[0]
            - objective(basis - step.reshape(basis.shape), coef, solve=False)[0]
        ) / 2e-6
    np.testing.assert_allclose(grad.ravel(), numerical, rtol=1e-5, atol=1e-8)


# -- the fitted model --

def _support_f1(model, truth):
    """F1 of the fitted zero pattern against the planted one, after matching each
    fitted basis map to a planted one (by |cosine|, one to one)."""
    K = truth.basis.shape[0]
    planted = truth.basis.reshape(K, -1)
    fitted = model.basis_.reshape(model.n_basis_, -1)
    similarity = np.abs(fitted @ planted.T) / np.linalg.norm(planted, axis=1)
    rows, cols = linear_sum_assignment(-similarity)
    found = model.coefficients_[:, rows] != 0
    true = truth.coefficients[:, cols] != 0
    hits = np.sum(found & true)
    return 2 * hits / (found.sum() + true.sum())


@pytest.mark.parametrize("data_seed", range(3))
def test_planted_zero_pattern_is_recovered(data_seed):
    # 80 clusters over 6 planted maps, each coefficient zero with probability 0.8
    # (a third of them nonzero). Measured F1 of the zero pattern: 0.987, 0.972,
    # 0.980 for seeds 0, 1, 2 (sparsity=0.3). Chance: the dense model (every
    # coefficient nonzero) scores 0.50, 0.52, 0.49; a random pattern of the true
    # density about 0.33.
    X, Y, groups, truth = make_multicluster_regression(
        n_clusters=80, n_basis=6, n_features=12, n_targets=12,
        rows_per_cluster=(8, 12), noise=0.1, sparsity=0.8, random_state=data_seed,
        return_truth=True)
    params = dict(n_basis=6, prior=None, alpha=0.0, cosine_weight=0.0,
                  random_state=0)
    sparse = SmoothingBasisRegressor(sparsity=0.3, **params).fit(X, Y, groups)
    dense = SmoothingBasisRegressor(**params).fit(X, Y, groups)
    assert _support_f1(sparse, truth) > 0.93
    assert _support_f1(dense, truth) < 0.55


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_planted_zero_pattern_is_recovered_with_the_cosine_term():
    # The same problem around a known prior P (so no prediction is near zero,
    # where the cosine is undefined). Measured F1 0.97 (0.95 and 0.97 for data
    # seeds 1 and 2); the dense model 0.50.
    X, Y, groups, truth = make_multicluster_regression(
        n_clusters=80, n_basis=6, n_features=12, n_targets=12,
        rows_per_cluster=(8, 12), noise=0.1, sparsity=0.8, random_state=0,
        return_truth=True)
    prior = np.random.RandomState(1).standard_normal((12, 12))
    Y = Y + X @ prior
    model = SmoothingBasisRegressor(
        n_basis=6, prior=prior, alpha=0.0, cosine_weight=0.5, sparsity=0.3,
        max_iter=50, random_state=0,
    ).fit(X, Y, groups)
    assert _support_f1(model, truth) > 0.9


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
def test_fitted_coefficients_satisfy_the_subgradient_conditions(cosine_weight):
    # The objective written out here (not the package's loss), differentiated by
    # central differences at the fitted model.
    X, Y, groups = _data()
    t, alpha = 0.3, 0.3
    model = SmoothingBasisRegressor(
        n_basis=3, cosine_weight=cosine_weight, prior="shared", alpha=alpha,
        sparsity=t, max_iter=5, random_state=0).fit(X, Y, groups)
    lam, prior = cosine_weight, model.prior_
    coef_all = model.coefficients_
    assert 0 < np.mean(coef_all == 0) < 1
    for i, cluster in enumerate(model.clusters_):
        Xi, Yi = X[groups == cluster], Y[groups == cluster]

        def smooth(coef):
            W = prior + np.tensordot(coef, model.basis_, axes=1)
            pred = Xi @ W
            cos = np.sum(pred * Yi, axis=1) / (
                np.linalg.norm(pred, axis=1) * np.linalg.norm(Yi, axis=1))
            rows = (1 - lam) * np.sum((pred - Yi) ** 2, axis=1) + lam * (1 - cos)
            return (rows.sum() + alpha * np.sum((W - prior) ** 2)) / len(Xi)

        coef, h = coef_all[i], 1e-6
        grad = np.array([(smooth(coef + h * e) - smooth(coef - h * e)) / (2 * h)
                         for e in np.eye(3)])
        zero = coef == 0
        assert np.all(np.abs(grad[zero]) <= t + 1e-5)
        np.testing.assert_allclose(grad[~zero], -t * np.sign(coef[~zero]), atol=1e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
def test_objective_with_the_l1_term_never_increases(dtype, solver, cosine_weight,
                                                    seed):
    X, Y, groups = _data(seed, dtype)
    t = 0.3
    model = SmoothingBasisRegressor(
        n_basis=3, cosine_weight=cosine_weight, prior="shared", alpha=0.1,
        sparsity=t, solver=solver, max_iter=25, tol=0, reorth_interval=3,
        random_state=seed,
    ).fit(X, Y, groups)
    curve = np.array(model.loss_curve_)
    assert len(curve) == model.n_iter_ > 1
    assert np.all(np.diff(curve) <= 0)
    assert model.objective_ == pytest.approx(curve[-1], rel=1e-6)
    # objective_ includes the L1 term: the mean over clusters of f_i + t ||c_i||_1.
    loss = ClusterLoss(cosine_weight)
    pred = model.predict(X, groups=groups).astype(np.float64)
    values = []
    for i, cluster in enumerate(model.clusters_):
        rows = groups == cluster
        W = np.tensordot(model.coefficients_[i], model.basis_, axes=1)
        values.append(
            (loss.row_values(pred[rows], Y[rows].astype(np.float64)).sum()
             + 0.1 * np.sum(W.astype(np.float64) ** 2)) / rows.sum()
            + t * np.abs(model.coefficients_[i]).sum())
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert model.objective_ == pytest.approx(np.mean(values), rel=rtol)
    # The gauge: unit-norm basis maps, not re-orthonormalised (by either solver).
    norms = np.linalg.norm(model.basis_.reshape(3, -1), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert model.basis_.dtype == model.coefficients_.dtype == dtype
    assert np.any(model.coefficients_ == 0)


def test_float32_and_float64_agree():
    X, Y, groups = _data()
    params = dict(n_basis=3, prior="shared", alpha=0.1, sparsity=0.3, tol=1e-8,
                  max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m64 = SmoothingBasisRegressor(**params).fit(X, Y, groups)
        m32 = SmoothingBasisRegressor(**params).fit(
            X.astype(np.float32), Y.astype(np.float32), groups)
    assert m32.objective_ == pytest.approx(m64.objective_, rel=1e-3)
    np.testing.assert_allclose(m32.predict(X.astype(np.float32), groups=groups),
                               m64.predict(X, groups=groups), atol=0.05)


def test_more_sparsity_more_zeros():
    X, Y, groups = _data()
    zeros = [
        np.mean(SmoothingBasisRegressor(
            n_basis=3, prior="shared", sparsity=t, max_iter=20, random_state=0,
        ).fit(X, Y, groups).coefficients_ == 0)
        for t in (0.0, 0.03, 0.3, 30.0)
    ]
    assert zeros[0] == 0 and zeros[-1] == 1
    assert zeros == sorted(zeros) and len(set(zeros)) >= 3


@pytest.mark.parametrize("bad", [-0.1, "big", None])
def test_bad_sparsity_is_a_clear_error(bad):
    X, Y, groups = _data()
    with pytest.raises(InvalidParameterError, match="sparsity"):
        SmoothingBasisRegressor(sparsity=bad).fit(X, Y, groups)


# -- joined to the rest --

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_and_add_clusters_keep_the_gauge_and_the_objective():
    X, Y, groups = _data()
    model = SmoothingBasisRegressor(n_basis=3, prior="shared", sparsity=0.3,
                                    max_iter=20, random_state=0)
    model.fit(X[groups < 12], Y[groups < 12], groups[groups < 12])
    model.partial_fit(X[groups >= 12], Y[groups >= 12], groups[groups >= 12])
    assert model.coefficients_.shape == (15, 3)
    np.testing.assert_allclose(np.linalg.norm(model.basis_.reshape(3, -1), axis=1), 1)
    assert np.any(model.coefficients_ == 0)
    assert model.loss_curve_ == [pytest.approx(model.objective_, rel=1e-12)]
    model.add_clusters([99], Y[:1])
    assert model.coefficients_.shape == (16, 3)
    assert model.predict(X[:3], groups=[99, 99, 99]).shape == (3, Y.shape[1])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_and_the_cv_estimator_take_sparsity():
    X, Y, groups = _data()
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            SmoothingBasisRegressor(n_basis=2, max_iter=5, random_state=0),
            {"sparsity": [0.0, 0.3, 3.0]}, cv=ClusterStratifiedKFold(2),
        ).fit(X, Y, groups=groups)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and len(np.unique(scores)) == 3
    assert search.best_estimator_.sparsity == search.best_params_["sparsity"]
    cv = SmoothingBasisRegressorCV(
        alphas=[1.0], priors=["shared"], routing_temperatures=[0.1],
        routing_shrinkages=[1.0], cv=2, n_basis=2, max_iter=5, sparsity=1.0,
        random_state=0,
    ).fit(X, Y, groups=groups)
    assert cv.best_estimator_.sparsity == 1.0
    assert np.any(cv.best_estimator_.coefficients_ == 0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_save_and_load_round_trip(tmp_path):
    from sklearn_smoothbasis.io import load, save

    X, Y, groups = _data()
    model = SmoothingBasisRegressor(n_basis=3, prior="shared", sparsity=0.3,
                                    max_iter=10, random_state=0).fit(X, Y, groups)
    save(model, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert loaded.sparsity == 0.3
    assert sklearn.clone(loaded).get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.coefficients_, model.coefficients_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
