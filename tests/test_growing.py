"""Growing a fitted model: partial_fit and add_clusters."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis._growing import answer_neighbour_weights
from sklearn_smoothbasis._loss import ClusterLoss
from sklearn_smoothbasis._prior import ridge_prior
from sklearn_smoothbasis._solvers import BasisObjective
from sklearn_smoothbasis.datasets import make_multicluster_regression


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n_clusters=12, random_state=0, **kw):
    params = dict(n_clusters=n_clusters, n_basis=2, n_features=6, n_targets=6,
                  rows_per_cluster=(3, 5), noise=0.2, random_state=random_state)
    params.update(kw)
    return make_multicluster_regression(**params)


def _model(**kw):
    params = dict(n_basis=2, prior="shared", max_iter=30, random_state=0)
    params.update(kw)
    return SmoothingBasisRegressor(**params)


def _solved_coefficients(model, X, Y, groups):
    """Coefficients that solve every cluster's problem from scratch on all its rows,
    against the model's basis and prior."""
    order = np.argsort(np.searchsorted(model.clusters_, groups), kind="stable")
    counts = np.bincount(np.searchsorted(model.clusters_, groups),
                         minlength=len(model.clusters_))
    starts = np.concatenate(([0], np.cumsum(counts)))
    X, Y = X[order], Y[order]
    base = None if model.prior_ is None else X @ model.prior_
    objective = BasisObjective(X, Y, base, starts, ClusterLoss(model.cosine_weight),
                               model.alpha, np.array([0, len(counts)]))
    coef = np.zeros((len(counts), model.n_basis_), dtype=X.dtype)
    return objective(model.basis_, coef, need_grad=False)[1]


def test_first_call_fits():
    X, Y, groups = _data()
    grown = _model().partial_fit(X, Y, groups)
    fitted = _model().fit(X, Y, groups)
    np.testing.assert_array_equal(grown.basis_, fitted.basis_)
    np.testing.assert_array_equal(grown.coefficients_, fitted.coefficients_)
    assert grown.n_samples_seen_ == len(X)


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
def test_coefficients_are_solved_with_all_rows_so_far(cosine_weight):
    X, Y, groups = _data()
    first = np.isin(groups, np.arange(9))
    # the batch: new clusters 9-11 and more rows of known clusters 0-2
    batch = ~first | (np.isin(groups, [0, 1, 2]) & (np.arange(len(X)) % 2 == 0))
    seen = first & ~batch
    model = _model(cosine_weight=cosine_weight).fit(X[seen], Y[seen], groups[seen])
    model.partial_fit(X[batch], Y[batch], groups[batch])
    np.testing.assert_array_equal(model.clusters_, np.arange(12))
    assert model.n_samples_seen_ == len(X)
    expected = _solved_coefficients(model, X, Y, groups)
    # Squared error: both are least-squares solutions, apart by the jitter of
    # _batched_solve (1e-10 of the trace) acting on the cold solve's coefficients
    # but on the warm one's step only (1.2e-10 observed).
    rtol = 1e-9 if cosine_weight == 0 else 1e-4
    np.testing.assert_allclose(model.coefficients_, expected, rtol=rtol, atol=rtol)


def test_centroids_and_routing_are_those_of_all_rows_so_far():
    X, Y, groups = _data()
    half = np.arange(len(X)) % 2 == 0
    model = _model().fit(X[half], Y[half], groups[half])
    model.partial_fit(X[~half], Y[~half], groups[~half])
    fitted = _model().fit(X, Y, groups)
    np.testing.assert_allclose(model.centroids_, fitted.centroids_, rtol=1e-12)
    np.testing.assert_allclose(model.routing_transform_, fitted.routing_transform_,
                               rtol=1e-10)
    np.testing.assert_allclose(model.routing_centroids_, fitted.routing_centroids_,
                               rtol=1e-10)
    np.testing.assert_allclose(model.target_means_, fitted.target_means_, rtol=1e-12)


def test_the_shared_prior_follows_all_rows_at_its_fitted_strength():
    X, Y, groups = _data()
    first = groups < 9
    model = _model(prior_alpha="auto").fit(X[first], Y[first], groups[first])
    alpha = model.prior_alpha_
    model.partial_fit(X[~first], Y[~first], groups[~first])
    starts = np.concatenate(([0], np.cumsum(np.bincount(groups))))
    order = np.argsort(groups, kind="stable")
    expected, _ = ridge_prior(X[order], Y[order], starts, alpha)
    np.testing.assert_allclose(model.prior_, expected, rtol=1e-10, atol=1e-12)
    assert model.prior_alpha_ == alpha
    assert model.basis_.shape[0] == model.n_basis_ == 2
    assert model.n_iter_ <= 1


@pytest.mark.parametrize("prior", ["identity", None, "array"])
def test_priors_not_learned_from_rows_are_kept(prior):
    X, Y, groups = _data()
    first = groups < 9
    given = (
        np.random.RandomState(0).standard_normal((6, 6)) if prior == "array" else prior
    )
    model = _model(prior=given).fit(X[first], Y[first], groups[first])
    before = None if model.prior_ is None else model.prior_.copy()
    model.partial_fit(X[~first], Y[~first], groups[~first])
    if before is None:
        assert model.prior_ is None
    else:
        np.testing.assert_array_equal(model.prior_, before)


def test_the_contrastive_prior_continues_from_where_it_was():
    # FAQ-like: one answer per cluster, questions scattered around it
    rng = np.random.RandomState(0)
    answers = rng.standard_normal((12, 6))
    groups = np.repeat(np.arange(12), 4)
    Y = answers[groups]
    X = Y + 0.5 * rng.standard_normal(Y.shape)
    first = groups < 9
    model = _model(prior="contrastive").fit(X[first], Y[first], groups[first])
    before = model.prior_.copy()
    model.partial_fit(X[~first], Y[~first], groups[~first])
    assert 0 < model.prior_n_iter_ <= 10
    assert not np.allclose(model.prior_, before)


def test_the_basis_step_never_increases_the_objective_of_all_rows():
    X, Y, groups = _data(noise=0.5)
    first = groups < 9
    model = _model(max_iter=2).fit(X[first], Y[first], groups[first])
    basis_before = model.basis_
    model.partial_fit(X[~first], Y[~first], groups[~first])
    # the objective of all rows at the old basis (coefficients solved) versus the new
    solved_at_old = clone(model)
    for name in ("prior_", "clusters_", "n_basis_"):
        setattr(solved_at_old, name, getattr(model, name))
    solved_at_old.basis_ = basis_before
    coef = _solved_coefficients(solved_at_old, X, Y, groups)
    order = np.argsort(groups, kind="stable")
    starts = np.concatenate(([0], np.cumsum(np.bincount(groups))))
    objective = BasisObjective(X[order], Y[order], X[order] @ model.prior_, starts,
                               ClusterLoss(model.cosine_weight), model.alpha,
                               np.array([0, 12]))
    before = objective(basis_before, coef, solve=False, need_grad=False)[0]
    assert model.objective_ <= before * (1 + 1e-12)


def test_the_basis_step_is_one_gradient_step_whatever_the_solver():
    X, Y, groups = _data(noise=0.5)
    first = groups < 9
    grown = {}
    for solver in ("lbfgs", "gd"):
        model = _model(max_iter=2).fit(X[first], Y[first], groups[first])
        model.set_params(solver=solver).partial_fit(
            X[~first], Y[~first], groups[~first])
        grown[solver] = model
    # the fitted models are the same (fit ran with lbfgs); so must the steps be
    np.testing.assert_array_equal(grown["lbfgs"].basis_, grown["gd"].basis_)
    assert grown["lbfgs"].n_iter_ == 1


def test_new_clusters_predict_from_their_rows():
    X, Y, groups = _data(n_clusters=20, rows_per_cluster=(6, 8), noise=0.05)
    first = groups < 16
    model = _model(prior=None, alpha=0.0, cosine_weight=0.0).fit(
        X[first], Y[first], groups[first])
    model.partial_fit(X[~first], Y[~first], groups[~first])
    new = ~first
    error = np.sum((model.predict(X[new], groups=groups[new]) - Y[new]) ** 2)
    assert error < 0.05 * np.sum(Y[new] ** 2)


def test_string_labels_grow():
    X, Y, groups = _data()
    labels = np.array([f"faq-{g:02d}" for g in groups])
    first = groups < 9
    model = _model().fit(X[first], Y[first], labels[first])
    model.partial_fit(X[~first], Y[~first], labels[~first])
    assert list(model.clusters_) == sorted(set(labels))
    model.add_clusters(["faq-zz"], Y[:1])
    assert model.clusters_[-1] == "faq-zz"


def test_batches_with_another_shape_are_rejected():
    X, Y, groups = _data()
    model = _model().fit(X, Y, groups)
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:, :5], Y, groups)
    with pytest.raises(ValueError, match="y has 5 targets, but SmoothingBasisRegressor "
                                         "was fitted with 6"):
        model.partial_fit(X, Y[:, :5], groups)
    with pytest.raises(ValueError, match="labels of different kinds"):
        model.partial_fit(X, Y, groups.astype(str))
    with pytest.raises(ValueError, match="NaN"):
        model.partial_fit(X, Y, np.where(groups == 0, np.nan, groups))
    with pytest.raises(ValueError, match="has 3 labels"):
        model.partial_fit(X, Y, groups[:3])


@pytest.mark.parametrize(
    "estimator",
    [SmoothingBasisRegressor(max_iter=3), SharedProjectionRegressor(),
     IndependentProjectionRegressor(), MultiHeadRegressor()],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_batch_whose_targets_overflow_the_dtype_is_named(estimator):
    """float32 rows: a y of 1e39 is infinite once cast, so partial_fit names it."""
    X, Y, groups = _data()
    model = clone(estimator).fit(X.astype(np.float32), Y, groups)
    with pytest.raises(ValueError, match="too large for float32"):
        model.partial_fit(X[:3].astype(np.float32), Y[:3] * 1e39, groups[:3])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.partial_fit(bad, Y, groups)
    # nothing was changed by the rejected batches
    assert model.n_samples_seen_ == len(X)


def test_clone_pickle_and_n_features_in():
    X, Y, groups = _data()
    first = groups < 9
    model = _model().fit(X[first], Y[first], groups[first])
    model.partial_fit(X[~first], Y[~first], groups[~first])
    assert model.n_features_in_ == X.shape[1]
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    restored.partial_fit(X[:4], Y[:4], groups[:4])
    assert restored.n_samples_seen_ == len(X) + 4
    fresh = clone(model)
    assert not hasattr(fresh, "basis_")
    fresh.partial_fit(X, Y, groups)
    assert fresh.n_samples_seen_ == len(X)


# -- add_clusters ----------------------------------------------------------------------


def test_add_clusters_borrows_the_neighbours_coefficients():
    X, Y, groups = _data()
    model = _model().fit(X, Y, groups)
    answers = model.target_means_[[3, 7]] + 0.01
    model.add_clusters([20, 21], answers, n_neighbors=3)
    weights = answer_neighbour_weights(answers, model.target_means_[:12], 3)
    np.testing.assert_allclose(
        model.coefficients_[12:], weights @ model.coefficients_[:12]
    )
    assert np.count_nonzero(weights, axis=1).tolist() == [3, 3]
    assert weights[0].argmax() == 3 and weights[1].argmax() == 7
    # questions and answers share a space here: the centroid is the answer
    np.testing.assert_array_equal(model.centroids_[12:], answers)
    np.testing.assert_array_equal(model.clusters_, np.r_[np.arange(12), 20, 21])
    # given its label, a new cluster predicts with its borrowed map
    maps = model.prior_ + np.einsum("k,kdp->dp", model.coefficients_[12], model.basis_)
    np.testing.assert_allclose(model.predict(X[:3], groups=[20] * 3), X[:3] @ maps,
                               rtol=1e-10)


def test_add_clusters_routes_queries_near_the_answer():
    X, Y, groups = _data()
    model = _model().fit(X, Y, groups)
    answer = np.full((1, 6), 10.0)
    model.add_clusters([99], answer)
    weights = model._routing_weights(answer)
    assert weights[0].argmax() == 12


def test_add_clusters_maps_the_answer_back_through_the_prior():
    X, Y, groups = _data(n_targets=4)
    model = _model().fit(X, Y, groups)
    answer = Y[:1]
    model.add_clusters([50], answer)
    centroid = model.centroids_[-1]
    # the least-squares preimage: x P is as near the answer as any x can map
    np.testing.assert_allclose(centroid @ model.prior_ @ model.prior_.T,
                               answer[0] @ model.prior_.T, rtol=1e-8, atol=1e-10)
    plain = _model(prior=None).fit(X, Y, groups)
    with pytest.raises(ValueError, match="has no map to do it with"):
        plain.add_clusters([50], answer)


def test_partial_fit_replaces_the_cold_start():
    X, Y, groups = _data()
    first = groups < 9
    cold = _model().fit(X[first], Y[first], groups[first])
    new_answers = np.stack([Y[groups == g].mean(axis=0) for g in (9, 10, 11)])
    cold.add_clusters([9, 10, 11], new_answers)
    cold.partial_fit(X[~first], Y[~first], groups[~first])
    warm = _model().fit(X[first], Y[first], groups[first])
    warm.partial_fit(X[~first], Y[~first], groups[~first])
    for name in ("basis_", "coefficients_", "centroids_", "routing_centroids_",
                 "target_means_"):
        np.testing.assert_allclose(getattr(cold, name), getattr(warm, name),
                                   rtol=1e-10, atol=1e-12, err_msg=name)


def test_cold_clusters_follow_the_basis_until_they_have_rows():
    X, Y, groups = _data()
    first = groups < 9
    model = _model().fit(X[first], Y[first], groups[first])
    model.add_clusters([30], Y[:1], n_neighbors=2)
    model.partial_fit(X[groups == 9], Y[groups == 9], groups[groups == 9])
    has_rows = np.arange(11) < 10
    weights = answer_neighbour_weights(Y[:1], model.target_means_[has_rows], 2)
    np.testing.assert_allclose(
        model.coefficients_[10], (weights @ model.coefficients_[has_rows])[0]
    )


@pytest.mark.parametrize(
    "labels, answers, message",
    [
        ([40, 40], np.ones((2, 6)), r"must be distinct; repeated: \[40\]"),
        ([3], np.ones((1, 6)), r"already in clusters_: \[3\]"),
        ([40], np.ones((1, 5)), r"answers must have shape \(n_labels, n_targets\) = "
                                r"\(1, 6\); got \(1, 5\)"),
        ([40], np.full((1, 6), np.nan), "NaN"),
        ([40], np.zeros((1, 6)), "zero vectors"),
        (["a"], np.ones((1, 6)), "labels of different kinds"),
        ([], np.ones((0, 6)), "non-empty 1-D"),
        ([[40]], np.ones((1, 6)), "non-empty 1-D"),
        ([np.nan], np.ones((1, 6)), "NaN"),
    ],
)
def test_add_clusters_rejects_bad_input(labels, answers, message):
    X, Y, groups = _data()
    model = _model().fit(X, Y, groups)
    with pytest.raises(ValueError, match=message):
        model.add_clusters(labels, answers)
    assert len(model.clusters_) == 12


def test_add_clusters_needs_a_fitted_model_and_a_valid_n_neighbors():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _model().add_clusters([1], np.ones((1, 6)))
    X, Y, groups = _data()
    model = _model().fit(X, Y, groups)
    with pytest.raises(ValueError, match="n_neighbors must be an integer >= 1"):
        model.add_clusters([40], np.ones((1, 6)), n_neighbors=0)


# -- the baselines ---------------------------------------------------------------------

BASELINES = {
    SharedProjectionRegressor(): "coef_",
    IndependentProjectionRegressor(routing_shrinkage="auto"): "maps_",
    MultiHeadRegressor(routing_shrinkage="auto"): "target_means_",
}


@pytest.mark.parametrize("estimator", BASELINES, ids=lambda e: type(e).__name__)
def test_baselines_partial_fit_equals_fit_on_all_rows(estimator):
    X, Y, groups = _data()
    first = groups < 9
    batch = ~first | (groups == 0)
    model = clone(estimator).fit(X[~batch], Y[~batch], groups[~batch])
    model.partial_fit(X[batch], Y[batch], groups[batch])
    fitted = clone(estimator).fit(X, Y, groups)
    for name in (BASELINES[estimator], "clusters_", "centroids_"):
        np.testing.assert_allclose(getattr(model, name), getattr(fitted, name),
                                   rtol=1e-8, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(
        model.predict(X), fitted.predict(X), rtol=1e-8, atol=1e-12
    )


def test_baselines_add_clusters():
    X, Y, groups = _data()
    answers = Y[:2] + 0.1
    multihead = MultiHeadRegressor().fit(X, Y, groups).add_clusters([20, 21], answers)
    np.testing.assert_array_equal(multihead.target_means_[12:], answers)
    np.testing.assert_array_equal(multihead.centroids_[12:], answers)
    independent = IndependentProjectionRegressor().fit(X, Y, groups)
    maps = independent.maps_.copy()
    independent.add_clusters([20, 21], answers, n_neighbors=2)
    weights = answer_neighbour_weights(answers, MultiHeadRegressor().fit(
        X, Y, groups).target_means_, 2)
    np.testing.assert_allclose(independent.maps_[12:],
                               np.einsum("jf,fdp->jdp", weights, maps))
    shared = SharedProjectionRegressor().fit(X, Y, groups)
    coef = shared.coef_.copy()
    shared.add_clusters([20, 21], answers)
    np.testing.assert_array_equal(shared.coef_, coef)
    assert len(shared.clusters_) == 14
    # with answers in another space, the multi-head router has no map to go back by
    X, Y, groups = _data(n_targets=4)
    with pytest.raises(ValueError, match="MultiHeadRegressor has no map"):
        MultiHeadRegressor().fit(X, Y, groups).add_clusters([20], Y[:1])
    independent = (
        IndependentProjectionRegressor().fit(X, Y, groups).add_clusters([20], Y[:1])
    )
    centroid = independent.centroids_[-1]
    own_map = independent.maps_[-1]
    np.testing.assert_allclose(centroid @ own_map @ own_map.T, Y[0] @ own_map.T,
                               rtol=1e-8, atol=1e-10)


def test_a_model_loaded_from_a_model_file_without_rows_cannot_grow(tmp_path):
    from sklearn_smoothbasis import io

    X, Y, groups = _data()
    io.save(_model().fit(X, Y, groups), tmp_path / "model.zip", keep_rows=False)
    loaded = io.load(tmp_path / "model.zip")
    with pytest.raises(ValueError, match="partial_fit needs the rows this "
                                         "SmoothingBasisRegressor was fitted on"):
        loaded.partial_fit(X, Y, groups)
    with pytest.raises(ValueError, match="add_clusters needs the rows"):
        loaded.add_clusters([40], Y[:1])
