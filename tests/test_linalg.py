"""The shared linear algebra: cluster layout, unit rows, per-cluster ridge."""

import numpy as np
import pytest

from sklearn_smoothbasis._linalg import (
    cluster_means,
    cluster_ridge_factors,
    cluster_ridge_maps,
    cluster_starts,
    linear_map,
    sampled_clusters,
    sort_by_cluster,
    thin_svd,
    unit_rows,
)
from sklearn_smoothbasis.datasets import make_multicluster_regression


def _clusters(seed=0):
    """Clusters of 5-10 rows and 6 features: both the dual and the primal branch."""
    X, Y, groups = make_multicluster_regression(
        n_clusters=30, n_basis=3, n_features=6, n_targets=7, noise=0.01,
        random_state=seed,
    )
    order, starts = sort_by_cluster(groups)
    return X[order], Y[order], starts


def _ridge(X, Y, alpha):
    return np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ Y)


def test_sort_by_cluster_keeps_each_clusters_rows_in_order():
    labels = np.array([2, 0, 2, 1, 0, 2])
    order, starts = sort_by_cluster(labels, n_clusters=4)
    assert order.tolist() == [1, 4, 3, 0, 2, 5]
    assert starts.tolist() == [0, 2, 3, 6, 6]  # cluster 3 is empty


def test_cluster_means_are_the_mean_rows():
    X, _, starts = _clusters()
    means = cluster_means(X, starts)
    for i in (0, 13, 29):
        np.testing.assert_allclose(means[i], X[starts[i]:starts[i + 1]].mean(axis=0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unit_rows_keep_zero_rows_and_dtype(dtype):
    M = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]], dtype=dtype)
    unit = unit_rows(M)
    assert unit.dtype == dtype
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]], rtol=1e-6)


def test_cluster_ridge_maps_are_each_clusters_ridge_map():
    X, Y, starts = _clusters()
    alpha = np.linspace(1e-3, 1.0, 30)
    maps = cluster_ridge_maps(X, Y, starts, alpha)
    counts = np.diff(starts)
    assert (counts <= 6).any() and (counts > 6).any()  # dual and primal clusters
    for i in range(30):
        rows = slice(starts[i], starts[i + 1])
        expected = _ridge(X[rows], Y[rows], alpha[i])
        np.testing.assert_allclose(maps[i], expected, atol=1e-10)


def test_cluster_ridge_factors_give_each_clusters_ridge_map():
    X, Y, starts = _clusters()
    B = cluster_ridge_factors(X, Y, starts, 1e-3)
    for i in range(30):
        rows = slice(starts[i], starts[i + 1])
        expected = _ridge(X[rows], Y[rows], 1e-3)
        np.testing.assert_allclose(X[rows].T @ B[rows], expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("n_rows", [4, 40])  # dual and primal
def test_linear_map_ridge_toward_a_center(n_rows):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(n_rows, 6)), rng.normal(size=(n_rows, 6))
    center = rng.normal(size=(6, 6))
    W = linear_map(X, Y, "ridge", 0.5, center=center)
    np.testing.assert_allclose(W, center + _ridge(X, Y - X @ center, 0.5), atol=1e-10)


def test_linear_map_procrustes_is_orthogonal_and_pinv_interpolates():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 5)), rng.normal(size=(20, 5))
    W = linear_map(X, Y, "procrustes")
    np.testing.assert_allclose(W.T @ W, np.eye(5), atol=1e-12)
    X_few = X[:3]
    W = linear_map(X_few, Y[:3], "pinv")
    np.testing.assert_allclose(X_few @ W, Y[:3], atol=1e-10)
    assert linear_map(X, Y[:, :3], "identity").shape == (5, 3)


def test_thin_svd_falls_back_to_gesvd_when_gesdd_does_not_converge(monkeypatch):
    A = np.random.RandomState(0).standard_normal((7, 5))
    expected = np.linalg.svd(A, full_matrices=False)[1]

    def not_converging(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(np.linalg, "svd", not_converging)
    U, S, Vt = thin_svd(A.copy())
    np.testing.assert_allclose(S, expected, rtol=1e-12)
    np.testing.assert_allclose((U * S) @ Vt, A, atol=1e-12)


def test_sampled_clusters_are_evenly_spaced_and_whole():
    starts = cluster_starts(np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3]))
    rows, kept_starts = sampled_clusters(starts, max_rows=12)
    assert kept_starts[-1] == len(rows) <= 12
    # Every kept cluster is whole: its rows are consecutive and complete.
    first_rows = rows[kept_starts[:-1]]
    kept = np.searchsorted(starts, first_rows, side="right") - 1
    for cluster, a, b in zip(kept, kept_starts[:-1], kept_starts[1:]):
        assert rows[a:b].tolist() == list(range(starts[cluster], starts[cluster + 1]))
    assert len(kept) >= 2 and kept[0] == 0
    rows, kept_starts = sampled_clusters(starts, max_rows=1000)
    assert rows == slice(None) and kept_starts is starts
