"""Behaviour of SmoothingBasisRegressor: recovery, consistency, convergence, API."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
from scipy.linalg import subspace_angles
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sklearn_smoothbasis import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    NoGroupsWarning,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis._linalg import cluster_starts
from sklearn_smoothbasis.datasets import make_multicluster_regression
from sklearn_smoothbasis.model_selection import ClusterStratifiedKFold

PLAIN = dict(prior=None, alpha=0.0, cosine_weight=0.0)


def _relative_error(Y_pred, Y):
    return np.sum((Y_pred - Y) ** 2) / np.sum(Y**2)


def _small(random_state=0, **kw):
    params = dict(
        n_clusters=12, n_basis=2, n_features=6, n_targets=5, random_state=random_state
    )
    params.update(kw)
    return make_multicluster_regression(**params)


def _maps(model):
    """Every cluster's full map W_i = P + sum_k C_ik G_k."""
    maps = np.einsum("ik,kdp->idp", model.coefficients_, model.basis_)
    return maps if model.prior_ is None else maps + model.prior_


# -- recovery and consistency -------------------------------------------------------


def test_planted_truth_recovery(planted):
    X, Y, groups, truth, X_test, Y_test, groups_test = planted
    model = SmoothingBasisRegressor(n_basis=4, random_state=0, **PLAIN).fit(
        X, Y, groups
    )
    error = _relative_error(model.predict(X_test, groups=groups_test), Y_test)
    learned = model.basis_.reshape(4, -1).T
    angle = np.degrees(subspace_angles(learned, truth.basis.reshape(4, -1).T).max())
    assert error < 0.01
    assert angle < 6
    for baseline in (IndependentProjectionRegressor(method="pinv"),
                     SharedProjectionRegressor(method="pinv")):
        baseline_error = _relative_error(
            baseline.fit(X, Y, groups).predict(X_test, groups=groups_test), Y_test
        )
        assert baseline_error > 20 * error


def test_one_cluster_matches_shared_ridge():
    X, Y, _ = _small(n_clusters=1, rows_per_cluster=30)
    alpha = 0.05
    model = SmoothingBasisRegressor(
        n_basis=1, prior=None, alpha=alpha, cosine_weight=0.0, tol=1e-14,
        max_iter=500,
    ).fit(X, Y, groups=np.zeros(len(X)))
    # shrinkage is a ridge penalty on the cluster's summed squared error: Ridge's alpha.
    shared = SharedProjectionRegressor(method="ridge", alpha=alpha).fit(X, Y)
    np.testing.assert_allclose(_maps(model)[0], shared.coef_, rtol=1e-5, atol=1e-6)


# loss -> 0
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_as_many_basis_maps_as_clusters_fits_like_independent_maps():
    X, Y, groups = _small(n_clusters=6, rows_per_cluster=4, noise=0.5)
    model = SmoothingBasisRegressor(n_basis=6, **PLAIN).fit(X, Y, groups)
    independent = IndependentProjectionRegressor(method="pinv").fit(X, Y, groups)
    model_error = _relative_error(model.predict(X, groups=groups), Y)
    independent_error = _relative_error(independent.predict(X, groups=groups), Y)
    assert model_error <= independent_error + 1e-8


@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
@pytest.mark.parametrize("init", ["svd", "random"])
def test_objective_never_increases(solver, cosine_weight, init, seed):
    X, Y, groups = _small(random_state=seed, noise=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SmoothingBasisRegressor(
            n_basis=2, solver=solver, cosine_weight=cosine_weight, init=init,
            alpha=0.01, max_iter=40, reorth_interval=3, random_state=seed,
        ).fit(X, Y, groups)
    curve = np.array(model.loss_curve_)
    assert len(curve) == model.n_iter_
    assert np.all(np.diff(curve) <= 1e-12 * np.abs(curve[:-1]))
    assert model.objective_ == pytest.approx(curve[-1], rel=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cosine_weight", [0.3, 1.0])
@pytest.mark.parametrize("data_seed", range(6))
def test_objective_never_increases_over_many_problems(dtype, cosine_weight,
                                                      data_seed):
    # The coefficient steps are inexact (Gauss-Newton stopped early, row statistics
    # in float64 while predictions are in the data's dtype): whatever they do, the
    # objective after each iteration is at most the one before.
    X, Y, groups = make_multicluster_regression(
        n_clusters=15, n_basis=3, n_features=6, n_targets=5, rows_per_cluster=(1, 6),
        noise=0.5, random_state=data_seed)
    model = SmoothingBasisRegressor(
        n_basis=3, cosine_weight=cosine_weight, prior="shared", alpha=0.1,
        max_iter=30, tol=0, random_state=data_seed,
    ).fit(X.astype(dtype), Y.astype(dtype), groups)
    curve = np.array(model.loss_curve_)
    assert len(curve) == model.n_iter_ > 1
    assert np.all(np.diff(curve) <= 0)


def _coefficient_gradients(model, X, Y, groups):
    """Gradient of each cluster's objective with respect to its coefficients, by central
    differences of the objective written out here (not the package's loss):
    f_i(c) = (sum_r [(1-lam) |x_r W - y_r|^2 + lam (1 - cos(x_r W, y_r))]
    + alpha |W - P|_F^2) / n_i with W = P + sum_k c_k G_k."""
    lam, alpha = model.cosine_weight, model.alpha
    prior = 0 if model.prior_ is None else model.prior_
    gradients = []
    for i, cluster in enumerate(model.clusters_):
        Xi, Yi = X[groups == cluster], Y[groups == cluster]

        def objective(coef):
            W = prior + np.tensordot(coef, model.basis_, axes=1)
            pred = Xi @ W
            cos = np.sum(pred * Yi, axis=1) / (
                np.linalg.norm(pred, axis=1) * np.linalg.norm(Yi, axis=1))
            rows = (1 - lam) * np.sum((pred - Yi) ** 2, axis=1) + lam * (1 - cos)
            return (rows.sum() + alpha * np.sum((W - prior) ** 2)) / len(Xi)

        coef, h = model.coefficients_[i], 1e-6
        gradients.append([(objective(coef + h * e) - objective(coef - h * e)) / (2 * h)
                          for e in np.eye(len(coef))])
    return np.array(gradients)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
@pytest.mark.parametrize("alpha", [0.3, 3.0])
def test_coefficients_are_optimal_for_the_fitted_basis(cosine_weight, alpha):
    # The coefficients are re-solved for every basis: at the fitted model each
    # cluster's gradient, penalty included, vanishes. A coefficient step that ignored
    # alpha, or skipped the Gauss-Newton refinement of the cosine term, leaves
    # gradients of 0.25 and more here (measured on broken copies).
    X, Y, groups = make_multicluster_regression(
        n_clusters=12, n_basis=3, n_features=8, n_targets=8, noise=0.3, random_state=0)
    model = SmoothingBasisRegressor(n_basis=3, cosine_weight=cosine_weight, alpha=alpha,
                                    max_iter=3, random_state=0).fit(X, Y, groups=groups)
    gradients = _coefficient_gradients(model, X, Y, groups)
    assert np.abs(gradients).max() < 1e-3


def test_solvers_reach_the_same_objective():
    X, Y, groups = _small(noise=0.05)
    common = dict(n_basis=2, cosine_weight=0.3, alpha=0.01, tol=1e-10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lbfgs = SmoothingBasisRegressor(solver="lbfgs", max_iter=500, **common).fit(
            X, Y, groups
        )
        gd = SmoothingBasisRegressor(solver="gd", lr=4.0, max_iter=3000, **common).fit(
            X, Y, groups
        )
    assert gd.objective_ == pytest.approx(lbfgs.objective_, rel=1e-3)


def test_basis_is_orthonormal_and_auto_size():
    X, Y, groups = _small(n_clusters=10)
    model = SmoothingBasisRegressor(random_state=0).fit(X, Y, groups)
    assert model.n_basis_ == 4  # ceil(sqrt(10))
    # ceil(sqrt(n_clusters)) up to 16 (225 clusters), 16 beyond
    assert SmoothingBasisRegressor()._check_params(8, 8, 225) == 15
    assert SmoothingBasisRegressor()._check_params(8, 8, 226) == 16
    assert SmoothingBasisRegressor()._check_params(8, 8, 10_000) == 16
    assert SmoothingBasisRegressor()._check_params(2, 2, 10_000) == 4  # d * p
    flat = model.basis_.reshape(model.n_basis_, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(model.n_basis_), atol=1e-10)


def test_convergence_warning():
    X, Y, groups = _small()
    with pytest.warns(
        ConvergenceWarning, match=r"did not converge in max_iter=1 iterations"
    ):
        SmoothingBasisRegressor(max_iter=1).fit(X, Y, groups)


def test_init_survives_vanishing_maps():
    """Targets that the prior fits exactly leave nothing for the init to find."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((20, 4))
    groups = np.repeat(np.arange(5), 4)
    model = SmoothingBasisRegressor(n_basis=3, prior="identity", cosine_weight=0.0,
                                    random_state=0).fit(X, X.copy(), groups)
    flat = model.basis_.reshape(3, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(model.predict(X, groups=groups), X, atol=1e-8)


def test_seed_model_has_no_prior_and_identity_prior_is_used():
    X, Y, groups = _small(n_targets=6)
    assert SmoothingBasisRegressor(prior=None).fit(X, Y, groups).prior_ is None
    identity = SmoothingBasisRegressor(prior="identity").fit(X, Y, groups)
    np.testing.assert_array_equal(identity.prior_, np.eye(6))


def test_shared_prior_is_the_ridge_map():
    X2, Y2, groups2 = _small(n_targets=3)
    shared = SmoothingBasisRegressor(prior="shared").fit(X2, Y2, groups2)
    expected = SharedProjectionRegressor(alpha=shared.prior_alpha_).fit(X2, Y2).coef_
    np.testing.assert_allclose(shared.prior_, expected)


def test_square_shared_prior_is_shrunk_toward_the_identity():
    X, Y, groups = _small(n_targets=6)
    model = SmoothingBasisRegressor(prior="shared", prior_alpha=2.0).fit(X, Y, groups)
    correction = SharedProjectionRegressor(alpha=2.0).fit(X, Y - X).coef_
    np.testing.assert_allclose(model.prior_, np.eye(6) + correction)
    stiff = SmoothingBasisRegressor(prior="shared", prior_alpha=1e12).fit(X, Y, groups)
    np.testing.assert_allclose(stiff.prior_, np.eye(6), atol=1e-8)


def test_large_shrinkage_returns_the_prior():
    X, Y, groups = _small(n_targets=6)
    model = SmoothingBasisRegressor(alpha=1e8).fit(X, Y, groups)
    np.testing.assert_allclose(
        model.predict(X, groups=groups), X @ model.prior_, atol=1e-5
    )
    identity = SmoothingBasisRegressor(prior="identity", alpha=1e8).fit(X, Y, groups)
    np.testing.assert_allclose(identity.predict(X, groups=groups), X, atol=1e-5)


# -- routing -------------------------------------------------------------------------


def test_soft_routing_is_the_softmax_mixture_of_cluster_maps():
    X, Y, groups = _small()
    model = SmoothingBasisRegressor(
        routing_temperature=0.3, routing_shrinkage=1.0, random_state=0
    ).fit(X, Y, groups)
    X_new = np.random.RandomState(5).standard_normal((7, X.shape[1]))
    unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)  # noqa: E731
    logits = unit(X_new) @ unit(model.centroids_).T / 0.3
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    expected = np.einsum("mi,md,idp->mp", weights, X_new, _maps(model))
    np.testing.assert_allclose(model.predict(X_new), expected, rtol=1e-10)


def test_hard_routing_and_unseen_groups():
    X, Y, groups = _small()
    model = SmoothingBasisRegressor(
        routing="hard", routing_shrinkage=1.0, random_state=0
    ).fit(X, Y, groups)
    unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)  # noqa: E731
    nearest = np.argmax(unit(X) @ unit(model.centroids_).T, axis=1)
    expected = np.einsum("md,mdp->mp", X, _maps(model)[nearest])
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-10)
    unseen = np.full(len(X), 999)
    np.testing.assert_allclose(model.predict(X, groups=unseen), expected, rtol=1e-10)
    known = np.einsum("md,mdp->mp", X, _maps(model)[groups])
    np.testing.assert_allclose(model.predict(X, groups=groups), known, rtol=1e-10)


def test_string_cluster_labels():
    X, Y, groups = _small()
    names = np.array([f"faq-{g:02d}" for g in groups])
    model = SmoothingBasisRegressor(random_state=0).fit(X, Y, names)
    numeric = SmoothingBasisRegressor(random_state=0).fit(X, Y, groups)
    assert model.clusters_[0] == "faq-00"
    np.testing.assert_allclose(
        model.predict(X, groups=names), numeric.predict(X, groups=groups)
    )


# -- scikit-learn integration --------------------------------------------------------


def test_grid_search_over_model_and_baselines_with_routed_groups():
    X, Y, groups = make_multicluster_regression(
        n_clusters=8,
        n_basis=2,
        n_features=6,
        n_targets=6,
        rows_per_cluster=6,
        noise=0.2,
        random_state=0,
    )
    pipe = Pipeline([("model", SmoothingBasisRegressor())])
    grid = [
        {
            "model": [SmoothingBasisRegressor(prior=None, max_iter=30, random_state=0)],
            "model__n_basis": [1, 2],
            "model__cosine_weight": [0.0, 0.5],
            "model__lr": [0.5, 1.0],
        },
        {"model": [IndependentProjectionRegressor(alpha=1e-3),
                   SharedProjectionRegressor(), MultiHeadRegressor()]},
    ]
    with (
        sklearn.config_context(enable_metadata_routing=True),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error", NoGroupsWarning)  # groups must reach every fit
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=ClusterStratifiedKFold(3)).fit(
            X, Y, groups=groups
        )
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    assert len(np.unique(np.round(scores, 8))) > len(scores) // 2
    assert search.best_score_ == scores.max()
    best = search.best_estimator_.named_steps["model"]
    assert hasattr(best, "clusters_") and len(best.clusters_) == 8


def test_fit_without_groups_warns_how_to_pass_them():
    X, Y, _ = _small()
    with pytest.warns(NoGroupsWarning, match="enable_metadata_routing=True"):
        model = SmoothingBasisRegressor().fit(X, Y)
    assert len(model.clusters_) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoGroupsWarning)
        # groups are meaningless there: no warning
        SharedProjectionRegressor().fit(X, Y)


def test_pickle_round_trip():
    X, Y, groups = _small()
    model = SmoothingBasisRegressor(random_state=0).fit(X, Y, groups)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    np.testing.assert_array_equal(
        clone.predict(X, groups=groups), model.predict(X, groups=groups)
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("init", ["svd", "random"])
def test_same_random_state_same_model(init):
    X, Y, groups = _small()
    a = SmoothingBasisRegressor(init=init, random_state=3).fit(X, Y, groups)
    b = SmoothingBasisRegressor(init=init, random_state=3).fit(X, Y, groups)
    np.testing.assert_array_equal(a.basis_, b.basis_)
    np.testing.assert_array_equal(a.coefficients_, b.coefficients_)


@pytest.mark.parametrize(
    "estimator",
    [SmoothingBasisRegressor(random_state=0), IndependentProjectionRegressor(),
     SharedProjectionRegressor(), MultiHeadRegressor()],
    ids=lambda e: type(e).__name__,
)
def test_float32_stays_float32(estimator):
    X, Y, groups = _small()
    estimator.fit(X.astype(np.float32), Y.astype(np.float32), groups)
    for name in (
        "basis_",
        "coefficients_",
        "centroids_",
        "maps_",
        "coef_",
        "target_means_",
    ):
        if hasattr(estimator, name):
            assert getattr(estimator, name).dtype == np.float32, name
    assert estimator.predict(X.astype(np.float32)).dtype == np.float32
    assert estimator.predict(X.astype(np.float32), groups=groups).dtype == np.float32


def test_float32_and_float64_agree():
    X, Y, groups = _small(noise=0.05)
    params = dict(n_basis=2, random_state=0, tol=1e-8, max_iter=300)
    m64 = SmoothingBasisRegressor(**params).fit(X, Y, groups)
    m32 = SmoothingBasisRegressor(**params).fit(
        X.astype(np.float32), Y.astype(np.float32), groups
    )
    # Observed: at most 3.3e-3 apart on predictions up to 4.8 (float32 stops short of
    # tol=1e-8); the tolerance is 1.5 times that, not six.
    np.testing.assert_allclose(m32.predict(X.astype(np.float32), groups=groups),
                               m64.predict(X, groups=groups), rtol=0, atol=5e-3)


def test_results_do_not_depend_on_n_jobs_or_chunking():
    X, Y, groups = make_multicluster_regression(
        n_clusters=40, n_basis=3, n_features=8, n_targets=8, random_state=0
    )
    params = dict(n_basis=3, cosine_weight=0.5, random_state=0, max_iter=30)
    starts = cluster_starts(np.bincount(groups))
    assert len(SmoothingBasisRegressor(n_jobs=1)._chunk_starts(starts, 3, 8, 8)) == 2
    assert len(SmoothingBasisRegressor(n_jobs=3)._chunk_starts(starts, 3, 8, 8)) >= 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = SmoothingBasisRegressor(n_jobs=1, **params).fit(X, Y, groups)
        fits = [SmoothingBasisRegressor(n_jobs=n_jobs, **params).fit(X, Y, groups)
                for n_jobs in (2, 3, -1)]
        with sklearn.config_context(working_memory=0.02):  # about 10 chunks
            assert len(SmoothingBasisRegressor()._chunk_starts(starts, 3, 8, 8)) > 4
            fits.append(SmoothingBasisRegressor(n_jobs=1, **params).fit(X, Y, groups))
    for model in fits:  # the same up to the rounding of sums over chunks
        np.testing.assert_allclose(model.basis_, reference.basis_, atol=1e-8)
        np.testing.assert_allclose(
            model.coefficients_, reference.coefficients_, atol=1e-8
        )
        np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-8)


def test_independent_maps_do_not_depend_on_n_jobs():
    X, Y, groups = make_multicluster_regression(n_clusters=40, random_state=0)
    reference = IndependentProjectionRegressor(n_jobs=1).fit(X, Y, groups).maps_
    for n_jobs in (2, -1):
        maps = IndependentProjectionRegressor(n_jobs=n_jobs).fit(X, Y, groups).maps_
        # n_jobs=1 runs with BLAS's own threads, n_jobs=2 with one per job: numpy
        # 1.24's OpenBLAS rounds the last bits differently (2e-12 relative seen).
        np.testing.assert_allclose(maps, reference, rtol=1e-10, atol=0)


def test_one_dimensional_target():
    X, Y, groups = _small(n_targets=1)
    model = SmoothingBasisRegressor(random_state=0).fit(X, Y.ravel(), groups)
    assert model.predict(X).shape == (len(X),)


# -- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_rejected(bad):
    X, Y, groups = _small()
    X_bad = X.copy()
    X_bad[3, 2] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        SmoothingBasisRegressor().fit(X_bad, Y, groups)
    Y_bad = Y.copy()
    Y_bad[1, 0] = bad
    with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
        SmoothingBasisRegressor().fit(X, Y_bad, groups)


def test_mismatched_lengths_are_rejected():
    X, Y, groups = _small()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SmoothingBasisRegressor().fit(X, Y[:-1], groups)
    with pytest.raises(
        ValueError, match=r"X has \d+ rows but groups passed to fit has"
    ):
        SmoothingBasisRegressor().fit(X, Y, groups[:-1])
    model = SmoothingBasisRegressor().fit(X, Y, groups)
    with pytest.raises(ValueError, match=r"groups passed to predict has"):
        model.predict(X, groups=groups[:-2])
    with pytest.raises(ValueError, match="must be 1-D"):
        SmoothingBasisRegressor().fit(X, Y, groups[:, None])
    with pytest.raises(ValueError, match="contains NaN"):
        SmoothingBasisRegressor().fit(X, Y, np.where(groups == 0, np.nan, groups))


def test_identity_prior_needs_square_maps():
    X, Y, groups = _small(n_targets=3)
    with pytest.raises(
        ValueError, match="prior='identity' needs as many features as targets"
    ):
        SmoothingBasisRegressor(prior="identity").fit(X, Y, groups)
    with pytest.raises(ValueError, match="prior must have shape"):
        SmoothingBasisRegressor(prior=np.eye(6)).fit(X, Y, groups)


def test_too_many_basis_maps_is_rejected():
    X, Y, groups = _small(n_clusters=5)
    with pytest.raises(ValueError, match="n_basis=6 is larger than the data supports"):
        SmoothingBasisRegressor(n_basis=6).fit(X, Y, groups)


def test_predict_with_other_number_of_features_is_rejected():
    X, Y, groups = _small()
    model = SmoothingBasisRegressor().fit(X, Y, groups)
    with pytest.raises(
        ValueError,
        match="X has 5 features, but SmoothingBasisRegressor is expecting 6 features",
    ):
        model.predict(X[:, :5])


def test_labels_of_another_kind_are_rejected():
    X, Y, groups = _small()
    model = SmoothingBasisRegressor().fit(X, Y, groups)
    with pytest.raises(ValueError, match="labels of different kinds can never match"):
        model.predict(X, groups=groups.astype(str))


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
def test_first_lbfgs_step_ends_near_the_minimum_along_the_gradient(cosine_weight):
    # Without curvature pairs L-BFGS steps along the gradient; the lr / L step is
    # far too short (L is a loose bound), and the secant steps on the slope carry it
    # to the minimum of the objective on that line: checked against the objective
    # evaluated on a fine grid of step lengths along the same line. (Expanding the
    # step while the objective decreased had stopped three quarters of the way.)
    from sklearn_smoothbasis import _solvers

    X, Y, groups = _small(n_clusters=60, n_features=48, n_targets=48,
                          rows_per_cluster=4, noise=0.3, random_state=0)
    calls = []
    original = _solvers.BasisObjective.__call__

    def recording(self, basis, coef, **kwargs):
        result = original(self, basis, coef, **kwargs)
        calls.append((basis.copy(), coef.copy(), result[0], self))
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_solvers.BasisObjective, "__call__", recording)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = SmoothingBasisRegressor(
                n_basis=2, cosine_weight=cosine_weight, max_iter=1, tol=0,
                random_state=0, **{k: v for k, v in PLAIN.items()
                                   if k != "cosine_weight"},
            ).fit(X, Y, groups)
        start_basis, start_coef, start_value, objective = calls[0]
        _, _, grad = original(objective, start_basis, start_coef)
        lengths = np.geomspace(1e-4, 1e4, 161) / np.linalg.norm(grad)
        line = [original(objective, start_basis - t * grad, start_coef,
                         need_grad=False)[0] for t in lengths]
    best = min(line)
    reached = model.loss_curve_[0]
    assert reached <= best + 0.02 * (start_value - best)
