"""Low-rank basis maps (``basis_rank``): each G_k = U_k V_k^T, stored and applied in
factored form."""

import tracemalloc
import warnings

import numpy as np
import pytest
import sklearn
from scipy.linalg import subspace_angles
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis import (
    SmoothingBasisRegressor,
    SmoothingBasisRegressorCV,
    _low_rank,
)
from sklearn_smoothbasis._linalg import cluster_starts
from sklearn_smoothbasis._loss import ClusterLoss
from sklearn_smoothbasis._low_rank import (
    LowRankObjective,
    canonical_factors,
    split_factors,
)
from sklearn_smoothbasis._solvers import BasisObjective
from sklearn_smoothbasis.datasets import make_multicluster_regression

PLAIN = dict(prior=None, alpha=0.0, cosine_weight=0.0)


def _maps_of(theta, d):
    U, V = split_factors(theta, d)
    return np.einsum("kds,kps->kdp", U, V)


def _dense_basis(model):
    return np.einsum("kds,kps->kdp", model.basis_left_, model.basis_right_)


def _objectives(X, Y, starts, cosine_weight, alpha, base=None):
    loss = ClusterLoss(cosine_weight)
    # Two chunks, so the sums over chunks are exercised.
    chunks = np.array([0, (len(starts) - 1) // 2, len(starts) - 1])
    return (BasisObjective(X, Y, base, starts, loss, alpha, chunks),
            LowRankObjective(X, Y, base, starts, loss, alpha, chunks))


def _problem(seed=0, n_clusters=14, d=6, p=5):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 6, n_clusters)
    starts = cluster_starts(counts)
    X = rng.standard_normal((starts[-1], d))
    Y = rng.standard_normal((starts[-1], p))
    return rng, X, Y, starts


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
@pytest.mark.parametrize("alpha", [0.0, 0.7])
@pytest.mark.parametrize("solve", [False, True])
def test_factored_objective_equals_the_dense_one_at_the_same_maps(
        cosine_weight, alpha, solve):
    # At full rank every basis is factored exactly: J, the solved coefficients and
    # the gradient (by the chain rule dJ/dU_k = dJ/dG_k V_k, dJ/dV_k = dJ/dG_k^T U_k)
    # must be the dense ones.
    rng, X, Y, starts = _problem()
    base = X @ (0.3 * rng.standard_normal((6, 5)))
    dense, low = _objectives(X, Y, starts, cosine_weight, alpha, base)
    theta = rng.standard_normal((3, 6 + 5, 5))
    U, V = split_factors(theta, 6)
    coef = rng.standard_normal((len(starts) - 1, 3))
    value, coef_dense, grad = dense(_maps_of(theta, 6), coef, solve=solve)
    value_low, coef_low, grad_low = low(theta, coef, solve=solve)
    assert value_low == pytest.approx(value, rel=1e-8, abs=1e-12)
    np.testing.assert_allclose(coef_low, coef_dense, rtol=1e-8, atol=1e-10)
    chain = np.concatenate([np.einsum("kdp,kps->kds", grad, V),
                            np.einsum("kdp,kds->kps", grad, U)], axis=1)
    np.testing.assert_allclose(grad_low, chain, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
@pytest.mark.parametrize("rank", [1, 3])
def test_gradient_in_the_factors_matches_finite_differences(cosine_weight, rank):
    rng, X, Y, starts = _problem(seed=1)
    _, low = _objectives(X, Y, starts, cosine_weight, alpha=0.4)
    theta = rng.standard_normal((2, 6 + 5, rank))
    coef = rng.standard_normal((len(starts) - 1, 2))
    _, _, grad = low(theta, coef, solve=False)
    h = 1e-6
    for _ in range(5):
        direction = rng.standard_normal(theta.shape)
        numeric = (low(theta + h * direction, coef, solve=False)[0]
                   - low(theta - h * direction, coef, solve=False)[0]) / (2 * h)
        assert np.vdot(grad, direction) == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_canonical_factors_keep_the_maps_and_balance_them():
    rng = np.random.default_rng(2)
    theta = rng.standard_normal((3, 7 + 4, 3)) * np.array([0.1, 1.0, 30.0])[:, None,
                                                                              None]
    coef = rng.standard_normal((5, 3))
    new_theta, new_coef = canonical_factors(theta, 7, coef)
    np.testing.assert_allclose(
        np.einsum("ik,kdp->idp", new_coef, _maps_of(new_theta, 7)),
        np.einsum("ik,kdp->idp", coef, _maps_of(theta, 7)), rtol=1e-10, atol=1e-12)
    maps = _maps_of(new_theta, 7)
    np.testing.assert_allclose(np.linalg.norm(maps, axis=(1, 2)), 1.0, rtol=1e-12)
    U, V = split_factors(new_theta, 7)
    UU, VV = np.einsum("kds,kdt->kst", U, U), np.einsum("kps,kpt->kst", V, V)
    np.testing.assert_allclose(UU, VV, atol=1e-12)
    np.testing.assert_allclose(UU, UU * np.eye(3), atol=1e-12)  # diagonal


def test_full_rank_init_is_the_dense_init():
    # The factored "svd" init truncates each dense initial direction to its best rank
    # r: at r = min(d, p) nothing is truncated, and the objective at the two initial
    # bases agrees to 1e-8.
    X, Y, groups = make_multicluster_regression(
        n_clusters=15, n_basis=3, n_features=7, n_targets=5, noise=0.3, random_state=0)
    dense = SmoothingBasisRegressor(n_basis=3, max_iter=1, tol=0, **PLAIN)
    low = clone(dense).set_params(basis_rank=5)
    starts = cluster_starts(np.bincount(groups))
    basis = dense._initial_basis(X, Y, None, starts, 3)
    theta = low._initial_basis(X, Y, None, starts, 3)
    assert theta.shape == (3, 7 + 5, 5)
    maps = _maps_of(theta, 7)
    signs = np.sign(np.einsum("kdp,kdp->k", maps, basis))
    np.testing.assert_allclose(maps * signs[:, None, None], basis, atol=1e-10)
    dense_objective, low_objective = _objectives(X, Y, starts, 0.5, 0.3)
    coef = np.zeros((15, 3))
    assert low_objective(theta, coef)[0] == pytest.approx(
        dense_objective(basis, coef)[0], rel=1e-8)


def test_truncated_init_directions_are_the_best_rank_r_ones():
    # Against an SVD of the explicitly formed direction (Eckart-Young).
    X, Y, groups = make_multicluster_regression(
        n_clusters=20, n_basis=2, n_features=30, n_targets=25, noise=0.3,
        random_state=1)
    starts = cluster_starts(np.bincount(groups))
    dense = SmoothingBasisRegressor(n_basis=2, **PLAIN)._initial_basis(
        X, Y, None, starts, 2)
    theta = SmoothingBasisRegressor(n_basis=2, basis_rank=4, **PLAIN)._initial_basis(
        X, Y, None, starts, 2)
    for k, G in enumerate(dense):
        L, S, Rt = np.linalg.svd(G)
        best = (L[:, :4] * S[:4]) @ Rt[:4]
        best /= np.linalg.norm(best)
        fitted = _maps_of(theta, 30)[k]
        assert min(np.linalg.norm(fitted - best), np.linalg.norm(fitted + best)) < 1e-6


def test_fit_at_full_rank_reaches_the_dense_objective():
    X, Y, groups = make_multicluster_regression(
        n_clusters=20, n_basis=3, n_features=8, n_targets=6, noise=0.3, random_state=0)
    common = dict(n_basis=3, cosine_weight=0.3, alpha=0.1, prior="shared",
                  max_iter=500, tol=1e-12, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = SmoothingBasisRegressor(**common).fit(X, Y, groups)
        low = SmoothingBasisRegressor(basis_rank=6, **common).fit(X, Y, groups)
    assert low.objective_ == pytest.approx(dense.objective_, rel=1e-5)
    assert low.basis_ is None and dense.basis_left_ is None


def test_planted_low_rank_bases_are_recovered():
    X, Y, groups, truth = make_multicluster_regression(
        n_clusters=60, n_basis=3, n_features=16, n_targets=12, rows_per_cluster=6,
        noise=0.05, basis_rank=2, random_state=0, return_truth=True)
    np.testing.assert_array_equal(np.linalg.matrix_rank(truth.basis), 2)
    rng = np.random.default_rng(1)
    X_test = rng.standard_normal((600, 16))
    groups_test = rng.integers(60, size=600)
    Y_test = np.einsum("rd,rdp->rp", X_test, truth.maps[groups_test])

    def fit(rank):
        return SmoothingBasisRegressor(
            n_basis=3, basis_rank=rank, max_iter=300, tol=1e-9, random_state=0,
            **PLAIN).fit(X, Y, groups)

    def error(model):
        pred = model.predict(X_test, groups=groups_test)
        return np.sum((pred - Y_test) ** 2) / np.sum(Y_test**2)

    model = fit(2)
    learned = _dense_basis(model).reshape(3, -1).T
    angle = np.degrees(subspace_angles(learned, truth.basis.reshape(3, -1).T).max())
    assert angle < 3
    assert error(model) < 0.005
    assert model.basis_left_.shape == (3, 16, 2)
    assert model.basis_right_.shape == (3, 12, 2)
    # Rank 1 cannot hold the planted maps: the recovery is not a property of any rank.
    assert error(fit(1)) > 10 * error(model)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_objective_never_increases(solver, cosine_weight, dtype):
    X, Y, groups = make_multicluster_regression(
        n_clusters=15, n_basis=3, n_features=8, n_targets=6, rows_per_cluster=(1, 6),
        noise=0.5, random_state=3)
    model = SmoothingBasisRegressor(
        n_basis=3, basis_rank=2, solver=solver, cosine_weight=cosine_weight,
        prior="shared", alpha=0.1, max_iter=30, tol=0, reorth_interval=3,
        random_state=0,
    ).fit(X.astype(dtype), Y.astype(dtype), groups)
    curve = np.array(model.loss_curve_)
    assert len(curve) == model.n_iter_ > 1
    assert np.all(np.diff(curve) <= 1e-12 * np.abs(curve[:-1]))
    assert model.basis_left_.dtype == dtype and model.basis_right_.dtype == dtype
    assert model.coefficients_.dtype == dtype
    assert model.predict(X[:3].astype(dtype)).dtype == dtype


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_prediction_is_that_of_the_formed_maps():
    # Factored prediction (hard, soft routing, retrieval) equals that of a dense model
    # holding the maps U_k V_k^T.
    X, Y, groups = make_multicluster_regression(
        n_clusters=12, n_basis=2, n_features=7, n_targets=7, noise=0.3, random_state=0)
    model = SmoothingBasisRegressor(n_basis=2, basis_rank=2, max_iter=5,
                                    random_state=0).fit(X, Y, groups)
    formed = clone(model).set_params(basis_rank=None)
    for key, value in vars(model).items():
        setattr(formed, key, value)
    formed.basis_ = _dense_basis(model)
    formed.basis_left_ = formed.basis_right_ = None
    Q = np.random.default_rng(0).standard_normal((9, 7))
    for routing in ("soft", "hard"):
        model.set_params(routing=routing)
        formed.set_params(routing=routing)
        np.testing.assert_allclose(model.predict(Q), formed.predict(Q), atol=1e-12)
    np.testing.assert_allclose(model.predict(Q, groups=groups[:9]),
                               formed.predict(Q, groups=groups[:9]), atol=1e-12)
    answers = np.random.default_rng(1).standard_normal((5, 7))
    assert model.retrieve(Q, answers, k=2)[0].tolist() == formed.retrieve(
        Q, answers, k=2)[0].tolist()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_and_add_clusters_stay_factored():
    X, Y, groups = make_multicluster_regression(
        n_clusters=12, n_basis=2, n_features=7, n_targets=6, noise=0.3, random_state=0)
    model = SmoothingBasisRegressor(n_basis=2, basis_rank=3, max_iter=5,
                                    random_state=0).fit(X, Y, groups)
    before = model.objective_
    model.partial_fit(X[:6], Y[:6], groups=groups[:6] + 100)
    model.add_clusters([500], Y[:1])
    assert model.basis_ is None
    assert model.basis_left_.shape == (2, 7, 3)
    assert model.coefficients_.shape == (14, 2)
    assert np.isfinite(model.objective_) and before > 0
    assert model.predict(X[:4], groups=[500, 100, 0, 0]).shape == (4, 6)


def test_basis_rank_above_the_largest_rank_is_rejected():
    X, Y, groups = make_multicluster_regression(
        n_clusters=5, n_basis=2, n_features=6, n_targets=4, random_state=0)
    with pytest.raises(ValueError, match=r"basis_rank=5 is larger than the rank a 6 x "
                       r"4 basis map can have, min\(n_features, n_targets\) = 4"):
        SmoothingBasisRegressor(basis_rank=5).fit(X, Y, groups)
    with pytest.raises(ValueError, match="basis_rank"):
        SmoothingBasisRegressor(basis_rank=0).fit(X, Y, groups)
    with pytest.raises(ValueError, match=r"basis_rank=2 cannot yet be combined with "
                       r"smoothness=0.5"):
        SmoothingBasisRegressor(basis_rank=2, smoothness=0.5).fit(X, Y, groups)
    with pytest.raises(ValueError, match=r"basis_rank=5 is larger than min"):
        make_multicluster_regression(n_features=6, n_targets=4, basis_rank=5)


def test_basis_rank_none_reproduces_the_dense_model():
    # Reference numbers of the dense model written before basis_rank existed (commit
    # 212a1db, this data and these settings, float64): basis_rank=None takes that path.
    # L-BFGS's first step has since started from the curvature along the gradient
    # and searched its line (_solvers._line_minimum): its numbers are those of the
    # dense model then.
    X, Y, groups = make_multicluster_regression(
        n_clusters=12, n_basis=2, n_features=5, n_targets=4, random_state=3)
    reference = {
        "lbfgs": (1.2917321254777843, -2.459018740089064, -0.9530794505444263,
                  -2.1352363206503417),
        "gd": (1.309634578177503, -3.0791408698378895, -1.08868263689365,
               -1.8123641961471701),
    }
    for solver, expected in reference.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = SmoothingBasisRegressor(
                n_basis=2, basis_rank=None, solver=solver, max_iter=5, tol=0,
                reorth_interval=2, prior="shared", prior_alpha=1.0, random_state=0,
            ).fit(X, Y, groups)
        got = (model.objective_, model.coefficients_.sum(), model.basis_.sum(),
               model.predict(X[:3]).sum())
        np.testing.assert_allclose(got, expected, rtol=1e-10)
        assert model.basis_left_ is None and model.basis_right_ is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_cv_estimator_passes_basis_rank():
    X, Y, groups = make_multicluster_regression(
        n_clusters=12, n_basis=2, n_features=6, n_targets=6, rows_per_cluster=4,
        noise=0.3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SmoothingBasisRegressorCV(
            basis_rank=2, n_basis=2, alphas=[0.1, 1.0], priors=["shared"],
            cosine_weights=[0.5], max_iter=5, cv=2, random_state=0,
        ).fit(X, Y, groups)
    assert model.best_estimator_.basis_rank == 2
    assert model.best_estimator_.basis_left_.shape == (2, 6, 2)


def test_fit_never_forms_a_dense_basis():
    # d = p = 512, K = 8: one dense basis (K d p float64) is 16 MiB, and the dense
    # solver holds over a dozen arrays of that size (basis, gradient, L-BFGS pairs,
    # the design): 240 MiB measured. The factored fit's whole extra memory stays
    # below one of them (14 MiB measured, most of it the rows' copies and the
    # init's one d x p direction at a time).
    rng = np.random.default_rng(0)
    n_clusters, d = 100, 512
    groups = np.repeat(np.arange(n_clusters), 2)
    X = rng.standard_normal((2 * n_clusters, d))
    Y = rng.standard_normal((2 * n_clusters, d))

    def peak(**params):
        model = SmoothingBasisRegressor(
            n_basis=8, max_iter=3, prior=None, routing_shrinkage=1.0,
            random_state=0, **params)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X, Y, groups)
            return tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()

    factored = peak(basis_rank=4)
    # one dense basis, plus the SVD workspace of the one d x p direction the init
    # truncates at a time (about 4 d p numbers for LAPACK's gesdd; where gesdd fails
    # to converge, its workspace and the gesvd fallback's are both counted: 17 MiB
    # measured with numpy 1.24 on one thread)
    assert factored < (8 + 4) * d * d * 8
    assert peak() > 10 * factored


def test_randomized_truncation_of_large_directions(monkeypatch):
    # Above _EXACT_SVD_MAX_VALUES the directions are truncated by a randomized range
    # finder from products with X and W only: close to the exact truncation.
    X, Y, groups = make_multicluster_regression(
        n_clusters=20, n_basis=2, n_features=30, n_targets=25, noise=0.3,
        basis_rank=3, random_state=1)
    starts = cluster_starts(np.bincount(groups))
    model = SmoothingBasisRegressor(n_basis=2, basis_rank=3, **PLAIN)
    exact = _maps_of(model._initial_basis(X, Y, None, starts, 2), 30)
    monkeypatch.setattr(_low_rank, "_EXACT_SVD_MAX_VALUES", 0)
    randomized = _maps_of(model._initial_basis(X, Y, None, starts, 2), 30)
    for G, H in zip(exact, randomized):
        assert min(np.linalg.norm(G - H), np.linalg.norm(G + H)) < 1e-3


def test_results_do_not_depend_on_n_jobs_or_chunking():
    # The factored objective sums its gradients over the chunks as the dense one does:
    # the same model up to the rounding of those sums.
    X, Y, groups = make_multicluster_regression(
        n_clusters=40, n_basis=3, n_features=8, n_targets=8, random_state=0)
    params = dict(n_basis=3, basis_rank=2, cosine_weight=0.5, random_state=0,
                  max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = SmoothingBasisRegressor(n_jobs=1, **params).fit(X, Y, groups)
        fits = [SmoothingBasisRegressor(n_jobs=2, **params).fit(X, Y, groups)]
        with sklearn.config_context(working_memory=0.02):
            starts = cluster_starts(np.bincount(groups))
            model = SmoothingBasisRegressor(**params)
            assert len(model._chunk_starts(starts, 3, 8, 8, rank=2)) > 4
            fits.append(SmoothingBasisRegressor(n_jobs=1, **params).fit(X, Y, groups))
    for model in fits:
        np.testing.assert_allclose(model.objective_, reference.objective_, rtol=1e-8)
        np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-7)
