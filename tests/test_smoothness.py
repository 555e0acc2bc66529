"""The answer-similarity smoothness penalty (``smoothness``): graph, penalty, the
coupled coefficient step, and the estimator with it."""

import warnings

import numpy as np
import pytest
import sklearn
from scipy.sparse import csr_matrix
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_smoothbasis import (
    SmoothingBasisRegressor,
    SmoothingBasisRegressorCV,
    _solvers,
)
from sklearn_smoothbasis._linalg import cluster_means, cluster_starts
from sklearn_smoothbasis._loss import ClusterLoss
from sklearn_smoothbasis._smoothness import (
    answer_graph,
    block_jacobi_cg,
    penalty_value,
    smoothness_laplacian,
)
from sklearn_smoothbasis._solvers import BasisObjective, orthonormalize
from sklearn_smoothbasis.datasets import make_multicluster_regression
from sklearn_smoothbasis.io import load, save

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def _grouped_clusters(n_groups=8, per_group=4, rows=2, d=8, K=3, noise=0.3,
                      held_out=20, seed=0):
    """Clusters in groups that share one map ``P + sum_k c_gk G_k`` and whose
    questions (so answers) lie near the group's centre: neighbouring answers, shared
    coefficients. Returns training rows (``rows`` per cluster), held-out rows of the
    same clusters, and the true maps."""
    rng = np.random.default_rng(seed)
    basis = orthonormalize(rng.normal(size=(K, d, d)))
    group_coef = 2.0 * rng.normal(size=(n_groups, K))
    # orthogonal group centres: the groups' answers are far apart
    centres = 5.0 * np.linalg.qr(rng.normal(size=(d, d)))[0][:n_groups]
    n_clusters = n_groups * per_group
    group = np.repeat(np.arange(n_groups), per_group)
    maps = np.eye(d) + np.einsum("ik,kdp->idp", group_coef[group], basis)
    cluster_centres = centres[group] + 0.1 * rng.normal(size=(n_clusters, d))

    def rows_of(n):
        labels = np.repeat(np.arange(n_clusters), n)
        X = cluster_centres[labels] + 0.5 * rng.normal(size=(len(labels), d))
        Y = np.einsum("rd,rdp->rp", X, maps[labels])
        return X, Y + noise * rng.normal(size=Y.shape), labels, Y

    X, Y, labels, _ = rows_of(rows)
    X_test, _, labels_test, Y_test = rows_of(held_out)
    return X, Y, labels, X_test, Y_test, labels_test


def _objective(X, Y, groups, *, smoothness, cosine_weight=0.5, alpha=0.3,
               n_neighbors=3, chunks=3, prior=None):
    order = np.argsort(groups, kind="stable")
    X, Y = X[order], Y[order]
    counts = np.bincount(groups)
    starts = cluster_starts(counts)
    graph = answer_graph(cluster_means(Y, starts), n_neighbors)
    laplacian = smoothness_laplacian(graph, counts, smoothness)
    base = None if prior is None else X @ prior
    chunk_starts = np.linspace(0, len(counts), chunks + 1).astype(int)
    objective = BasisObjective(X, Y, base, starts, ClusterLoss(cosine_weight), alpha,
                               chunk_starts, laplacian=laplacian)
    return objective, (X, Y, starts, graph, laplacian)


def _explicit_objective(X, Y, starts, graph, basis, coef, *, smoothness,
                        cosine_weight, alpha, prior=None):
    """J written out from the maps, not from the package's statistics or Gram:
    the mean over clusters of the cluster objectives plus the pairwise penalty."""
    maps = np.einsum("ik,kdp->idp", coef, basis)
    prior = 0 if prior is None else prior
    counts = np.diff(starts)
    total = 0.0
    for i in range(len(counts)):
        Xi, Yi = X[starts[i]:starts[i + 1]], Y[starts[i]:starts[i + 1]]
        pred = Xi @ (prior + maps[i])
        cos = np.sum(pred * Yi, axis=1) / (
            np.linalg.norm(pred, axis=1) * np.linalg.norm(Yi, axis=1))
        rows = ((1 - cosine_weight) * np.sum((pred - Yi) ** 2, axis=1)
                + cosine_weight * (1 - cos))
        total += (rows.sum() + alpha * np.sum(maps[i] ** 2)) / counts[i]
    dense = graph.toarray()
    for i in range(len(counts)):
        for j in range(i + 1, len(counts)):
            if dense[i, j]:
                total += (smoothness * dense[i, j] * (1 / counts[i] + 1 / counts[j])
                          / 2 * np.sum((maps[i] - maps[j]) ** 2))
    return total / len(counts)


# -- the graph, the penalty and the conjugate gradients ----------------------------


def test_answer_graph_is_the_symmetrised_cosine_knn_graph():
    rng = np.random.default_rng(0)
    answers = rng.normal(size=(30, 5))
    graph = answer_graph(answers, 3).toarray()
    unit = answers / np.linalg.norm(answers, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -np.inf)
    knn = np.zeros_like(cos, dtype=bool)
    for i in range(30):
        knn[i, np.argsort(-cos[i])[:3]] = True
    edges = (knn | knn.T) & (cos > 0)
    np.testing.assert_array_equal(graph > 0, edges)
    np.testing.assert_allclose(graph[edges], cos[edges])
    np.testing.assert_array_equal(graph, graph.T)
    assert np.all(np.diag(graph) == 0)
    assert ((graph > 0).sum(axis=1) >= np.minimum(3, (cos > 0).sum(axis=1))).all()


def test_answer_graph_isolated_and_duplicated_answers():
    answers = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 0.0]])
    graph = answer_graph(answers, 1).toarray()
    assert graph[0, 1] == graph[1, 0] == pytest.approx(1.0)  # duplicated answer
    assert not graph[2].any() and not graph[3].any()  # orthogonal; zero answer
    # More neighbours than clusters: every positive cosine; one cluster: no edge.
    assert (answer_graph(answers, 10).toarray() > 0).sum() == 2
    assert answer_graph(answers[:1], 5).nnz == 0


def test_penalty_is_the_pairwise_sum_of_map_differences():
    rng = np.random.default_rng(1)
    graph = answer_graph(rng.normal(size=(7, 4)), 2)
    counts = rng.integers(1, 5, size=7)
    basis = rng.normal(size=(3, 4, 5))
    coef = rng.normal(size=(7, 3))
    flat = basis.reshape(3, -1)
    value = penalty_value(smoothness_laplacian(graph, counts, 0.7), coef,
                          flat @ flat.T)
    maps = np.einsum("ik,kdp->idp", coef, basis)
    dense = graph.toarray()
    expected = sum(0.7 * dense[i, j] * (1 / counts[i] + 1 / counts[j]) / 2
                   * np.sum((maps[i] - maps[j]) ** 2)
                   for i in range(7) for j in range(i + 1, 7))
    assert value == pytest.approx(expected, rel=1e-12)


def test_block_jacobi_cg_solves_the_coupled_system():
    rng = np.random.default_rng(2)
    N, K = 12, 3
    A = rng.normal(size=(N, K, K))
    blocks = A @ A.transpose(0, 2, 1) + 0.1 * np.eye(K)
    laplacian = smoothness_laplacian(answer_graph(rng.normal(size=(N, 4)), 3),
                                     np.ones(N), 5.0)
    B = rng.normal(size=(K, K))
    gram = B @ B.T
    rhs = rng.normal(size=(N, K))
    x, n_iter = block_jacobi_cg(blocks, laplacian, gram, rhs)
    dense = np.zeros((N * K, N * K))
    for i in range(N):
        dense[i * K:(i + 1) * K, i * K:(i + 1) * K] = blocks[i]
    dense += 2 * np.kron(laplacian.toarray(), gram)
    np.testing.assert_allclose(x.ravel(), np.linalg.solve(dense, rhs.ravel()),
                               rtol=1e-7, atol=1e-9)
    assert 0 < n_iter < N * K


# -- the joint objective and its gradients -----------------------------------------


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
def test_objective_is_the_explicit_sum(cosine_weight):
    X, Y, groups = make_multicluster_regression(
        n_clusters=9, n_basis=2, n_features=5, n_targets=4, rows_per_cluster=(1, 4),
        noise=0.3, random_state=0)
    objective, (Xs, Ys, starts, graph, _) = _objective(
        X, Y, groups, smoothness=0.8, cosine_weight=cosine_weight)
    rng = np.random.default_rng(0)
    basis, coef = rng.normal(size=(2, 5, 4)), rng.normal(size=(9, 2))
    value = objective(basis, coef, solve=False, need_grad=False)[0]
    assert value == pytest.approx(_explicit_objective(
        Xs, Ys, starts, graph, basis, coef, smoothness=0.8,
        cosine_weight=cosine_weight, alpha=0.3), rel=1e-10)


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
def test_basis_gradient_matches_finite_differences(cosine_weight):
    X, Y, groups = make_multicluster_regression(
        n_clusters=10, n_basis=2, n_features=5, n_targets=4, noise=0.3,
        random_state=1)
    objective, _ = _objective(X, Y, groups, smoothness=1.5,
                              cosine_weight=cosine_weight)
    rng = np.random.default_rng(1)
    basis, coef = rng.normal(size=(2, 5, 4)), rng.normal(size=(10, 2))
    _, _, grad = objective(basis, coef, solve=False)
    h = 1e-6
    for _ in range(5):
        direction = rng.normal(size=basis.shape)
        plus = objective(basis + h * direction, coef, solve=False)[0]
        minus = objective(basis - h * direction, coef, solve=False)[0]
        assert np.vdot(grad, direction) == pytest.approx(
            (plus - minus) / (2 * h), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
@pytest.mark.parametrize("prior", [None, "identity"])
def test_coupled_step_zeroes_the_joint_coefficient_gradient(cosine_weight, prior):
    # The coefficient step solves the coupled problem: at its result the finite-
    # difference gradient of J in every coefficient (the penalty coupling them
    # included) vanishes, and J is below its value at the start.
    X, Y, groups = make_multicluster_regression(
        n_clusters=10, n_basis=2, n_features=5, n_targets=5, noise=0.3,
        rows_per_cluster=(1, 4), random_state=2)
    objective, _ = _objective(X, Y, groups, smoothness=2.0,
                              cosine_weight=cosine_weight,
                              prior=None if prior is None else np.eye(5))
    rng = np.random.default_rng(2)
    basis = orthonormalize(rng.normal(size=(2, 5, 5)))
    start = rng.normal(size=(10, 2))
    value, coef, _ = objective(basis, start, solve=True, need_grad=False)
    assert value < objective(basis, start, solve=False, need_grad=False)[0]
    if cosine_weight > 0:  # Gauss-Newton (at most 10 steps a call): warm again
        value, coef, _ = objective(basis, coef, solve=True, need_grad=False)
    h = 1e-5
    gradient = np.zeros_like(coef)
    for index in np.ndindex(coef.shape):
        step = np.zeros_like(coef)
        step[index] = h
        gradient[index] = (objective(basis, coef + step, solve=False)[0]
                           - objective(basis, coef - step, solve=False)[0]) / (2 * h)
    # squared error: one exact solve; cosine: the Gauss-Newton stopping rule
    # (predicted decrease below 1e-9 of J), as the independent solve's test
    assert np.abs(gradient).max() < (1e-7 if cosine_weight == 0 else 1e-3)
    # the basis gradient at the solved coefficients is that of the eliminated
    # objective (envelope theorem): finite differences with re-solved coefficients
    _, coef, grad = objective(basis, coef)
    direction = rng.normal(size=basis.shape)
    h = 1e-5
    plus = objective(basis + h * direction, coef)[0]
    minus = objective(basis - h * direction, coef)[0]
    assert np.vdot(grad, direction) == pytest.approx((plus - minus) / (2 * h),
                                                     rel=1e-4)


def test_coupled_step_without_edges_is_the_independent_step():
    # Mutually orthogonal answers: no edge, so the coupled solve must give what the
    # independent per-cluster solve gives.
    rng = np.random.default_rng(3)
    n_clusters, d = 6, 6
    groups = np.repeat(np.arange(n_clusters), 3)
    X = rng.normal(size=(len(groups), d))
    Y = np.eye(d)[groups] * rng.uniform(0.5, 2, size=(len(groups), 1))
    for cosine_weight in (0.0, 0.5):
        coupled, _ = _objective(X, Y, groups, smoothness=5.0,
                                cosine_weight=cosine_weight)
        assert coupled.laplacian.nnz == 0
        alone, _ = _objective(X, Y, groups, smoothness=5.0,
                              cosine_weight=cosine_weight)
        alone.laplacian = None
        basis = orthonormalize(rng.normal(size=(3, d, d)))
        for start in (np.zeros((n_clusters, 3)), rng.normal(size=(n_clusters, 3))):
            v1, c1, g1 = coupled(basis, start)
            v2, c2, g2 = alone(basis, start)
            # squared error: both exact; cosine: Gauss-Newton stops per cluster
            # alone, jointly when coupled, each at a predicted decrease of 1e-9
            exact = cosine_weight == 0
            assert v1 == pytest.approx(v2, rel=1e-10 if exact else 1e-8)
            np.testing.assert_allclose(c1, c2, atol=1e-8 if exact else 1e-3)
            np.testing.assert_allclose(g1, g2, rtol=1e-6 if exact else 1e-2,
                                       atol=1e-9)


def test_coupled_step_never_increases_the_objective():
    for seed in range(5):
        X, Y, groups = make_multicluster_regression(
            n_clusters=12, n_basis=3, n_features=5, n_targets=5, noise=0.5,
            rows_per_cluster=(1, 4), random_state=seed)
        for cosine_weight in (0.3, 1.0):
            objective, _ = _objective(X, Y, groups, smoothness=3.0,
                                      cosine_weight=cosine_weight)
            rng = np.random.default_rng(seed)
            basis = rng.normal(size=(3, 5, 5))
            start = rng.normal(size=(12, 3))
            before = objective(basis, start, solve=False, need_grad=False)[0]
            after, coef, _ = objective(basis, start, need_grad=False)
            assert after <= before
            again = objective(basis, coef, need_grad=False)[0]
            assert again <= after


# -- the estimator -----------------------------------------------------------------


def test_smoothness_zero_takes_the_independent_path(monkeypatch):
    # smoothness=0 is today's model: no graph, the per-chunk independent solve.
    seen = []
    original = BasisObjective.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.laplacian)

    monkeypatch.setattr(_solvers.BasisObjective, "__init__", spy)
    X, Y, groups = make_multicluster_regression(n_clusters=8, random_state=0)
    SmoothingBasisRegressor(max_iter=3, smoothness=0.0).fit(X, Y, groups=groups)
    SmoothingBasisRegressor(max_iter=3, smoothness=0.1).fit(X, Y, groups=groups)
    assert seen[0] is None and seen[-1] is not None


@pytest.mark.parametrize("cosine_weight", [0.0, 0.5])
def test_smoothness_helps_neighbouring_clusters_with_two_rows(cosine_weight):
    # Groups of four clusters share their coefficients and have near answers; each
    # cluster has 2 noisy rows. Borrowing from the answer-space neighbours must
    # lower the held-out error of each cluster's own map.
    errors = {}
    for seed in range(3):
        X, Y, g, X_test, Y_test, g_test = _grouped_clusters(seed=seed)
        for smoothness in (0.0, 1.0):
            model = SmoothingBasisRegressor(
                n_basis=3, prior="identity", alpha=0.1, cosine_weight=cosine_weight,
                smoothness=smoothness, smoothness_neighbors=3, max_iter=50,
                random_state=0,
            ).fit(X, Y, groups=g)
            error = np.mean((model.predict(X_test, groups=g_test) - Y_test) ** 2)
            errors.setdefault(smoothness, []).append(error)
    without, with_ = np.array(errors[0.0]), np.array(errors[1.0])
    assert np.all(with_ < 0.8 * without), (without, with_)


def test_objective_never_increases_with_smoothness():
    for seed in range(3):
        X, Y, groups = make_multicluster_regression(
            n_clusters=15, n_basis=3, n_features=6, n_targets=5,
            rows_per_cluster=(1, 6), noise=0.5, random_state=seed)
        for cosine_weight in (0.0, 0.5):
            model = SmoothingBasisRegressor(
                n_basis=3, cosine_weight=cosine_weight, smoothness=1.0, alpha=0.1,
                max_iter=30, tol=0, random_state=seed).fit(X, Y, groups)
            curve = np.array(model.loss_curve_)
            assert len(curve) == model.n_iter_ > 1
            assert np.all(np.diff(curve) <= 0)


def test_smoothness_results_do_not_depend_on_n_jobs_or_chunking():
    X, Y, groups = make_multicluster_regression(
        n_clusters=40, n_basis=3, n_features=8, n_targets=8, random_state=0)
    params = dict(n_basis=3, cosine_weight=0.5, smoothness=0.5, random_state=0,
                  max_iter=20)
    reference = SmoothingBasisRegressor(n_jobs=1, **params).fit(X, Y, groups)
    fits = [SmoothingBasisRegressor(n_jobs=n_jobs, **params).fit(X, Y, groups)
            for n_jobs in (2, 3)]
    with sklearn.config_context(working_memory=0.02):  # about 10 chunks
        fits.append(SmoothingBasisRegressor(n_jobs=1, **params).fit(X, Y, groups))
    for model in fits:
        np.testing.assert_allclose(model.coefficients_, reference.coefficients_,
                                   atol=1e-7)
        np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-7)


@pytest.mark.parametrize("params", [
    dict(smoothness=-0.1), dict(smoothness="big"), dict(smoothness_neighbors=0),
    dict(smoothness_neighbors=2.5),
])
def test_smoothness_parameters_are_validated(params):
    X, Y, groups = make_multicluster_regression(n_clusters=4, random_state=0)
    with pytest.raises(InvalidParameterError, match="smoothness"):
        SmoothingBasisRegressor(**params).fit(X, Y, groups=groups)


def test_duplicated_answers_get_equal_maps_and_isolated_clusters_fit():
    # Two clusters with one answer, strongly smoothed: nearly one map. A cluster
    # whose answer is orthogonal to every other is isolated and fitted alone.
    rng = np.random.default_rng(0)
    d = 4
    answers = np.array([[1.0, 0, 0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0],
                        [0, 0.9, 0.1, 0], [0, 0, 0, 1.0]])
    groups = np.repeat(np.arange(5), 3)
    X = rng.normal(size=(15, d))
    Y = answers[groups]
    model = SmoothingBasisRegressor(
        n_basis=3, prior=None, cosine_weight=0.0, alpha=0.01, smoothness=100.0,
        smoothness_neighbors=1, random_state=0).fit(X, Y, groups=groups)
    coef = model.coefficients_
    assert np.linalg.norm(coef[0] - coef[1]) < 0.05 * np.linalg.norm(coef[0])
    alone = SmoothingBasisRegressor(
        n_basis=3, prior=None, cosine_weight=0.0, alpha=0.01, smoothness=0.0,
        random_state=0).fit(X, Y, groups=groups)
    # the isolated cluster is pulled by nothing: its own map solves its rows as well
    isolated = groups == 4
    fit_error = np.mean((model.predict(X[isolated], groups=groups[isolated])
                         - Y[isolated]) ** 2)
    assert fit_error <= np.mean((alone.predict(X[isolated], groups=groups[isolated])
                                 - Y[isolated]) ** 2) + 1e-3


def test_partial_fit_and_add_clusters_rebuild_the_graph():
    X, Y, groups = make_multicluster_regression(
        n_clusters=12, n_basis=2, n_features=6, n_targets=6, random_state=0)
    params = dict(n_basis=2, smoothness=0.5, smoothness_neighbors=2, max_iter=10,
                  random_state=0)
    first = groups < 8
    model = SmoothingBasisRegressor(**params).fit(X[first], Y[first], groups[first])
    model.add_clusters([100], Y[:1] + 0.01)
    model.partial_fit(X[~first], Y[~first], groups=groups[~first])
    assert model.coefficients_.shape == (13, 2)
    # The objective is that of every cluster with rows, on their answer graph.
    X_seen, Y_seen, starts = model._seen_X, model._seen_Y, model._seen_starts
    counts = np.diff(starts)
    assert counts[-1] == 0 and (counts[:-1] > 0).all()
    row_starts = cluster_starts(counts[:-1])
    graph = answer_graph(cluster_means(Y_seen, row_starts), 2)
    assert graph.shape == (12, 12)
    objective = BasisObjective(
        X_seen, Y_seen, X_seen @ model.prior_, row_starts,
        ClusterLoss(model.cosine_weight), model.alpha, np.array([0, 12]),
        laplacian=smoothness_laplacian(graph, counts[:-1], 0.5))
    value = objective(model.basis_, model.coefficients_[:12], solve=False)[0]
    assert value == pytest.approx(model.objective_, rel=1e-8)
    # the answer-only cluster still borrows its neighbours' coefficients
    assert np.any(model.coefficients_[-1])


def test_grid_search_cv_estimator_and_model_file(tmp_path):
    X, Y, groups = make_multicluster_regression(n_clusters=10, random_state=0)
    search = GridSearchCV(
        SmoothingBasisRegressor(max_iter=5, random_state=0),
        {"smoothness": [0.0, 0.3], "smoothness_neighbors": [2, 4]}, cv=2,
    ).fit(X, Y)
    assert set(search.best_params_) == {"smoothness", "smoothness_neighbors"}
    cv = SmoothingBasisRegressorCV(
        alphas=[1.0], priors=["identity"], routing_temperatures=[0.03],
        routing_shrinkages=[1.0], smoothness=0.3, smoothness_neighbors=2,
        max_iter=5, cv=2, random_state=0,
    ).fit(X, Y, groups=groups)
    assert cv.best_estimator_.smoothness == 0.3
    assert cv.best_estimator_.smoothness_neighbors == 2
    reference = SmoothingBasisRegressor(
        alpha=1.0, prior="identity", routing_temperature=0.03,
        routing_shrinkage=1.0, smoothness=0.3, smoothness_neighbors=2, max_iter=5,
        random_state=0).fit(X, Y, groups=groups)
    np.testing.assert_allclose(cv.predict(X), reference.predict(X), atol=1e-10)
    path = tmp_path / "model.zip"
    save(reference, path)
    loaded = load(path)
    assert loaded.smoothness == 0.3 and loaded.smoothness_neighbors == 2
    np.testing.assert_array_equal(loaded.predict(X), reference.predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        loaded.partial_fit(X[:5], Y[:5], groups=groups[:5])  # grows with the graph


def test_laplacian_scaling_follows_alphas_convention():
    # An edge's weight is S_ij (1/n_i + 1/n_j) / 2 times smoothness.
    graph = csr_matrix(np.array([[0, 0.5], [0.5, 0]]))
    lap = smoothness_laplacian(graph, np.array([2, 4]), 3.0).toarray()
    weight = 3.0 * 0.5 * (1 / 2 + 1 / 4) / 2
    np.testing.assert_allclose(lap, [[weight, -weight], [-weight, weight]])
