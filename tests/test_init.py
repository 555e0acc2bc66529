"""Initial bases: the exact and the randomized top directions of the per-cluster "
"maps."""

import numpy as np
from scipy.linalg import subspace_angles

from sklearn_smoothbasis import _init
from sklearn_smoothbasis._linalg import cluster_ridge_factors, cluster_starts
from sklearn_smoothbasis.datasets import make_multicluster_regression


def _factors(seed=0):
    X, Y, groups = make_multicluster_regression(
        n_clusters=30,
        n_basis=3,
        n_features=6,
        n_targets=7,
        noise=0.01,
        random_state=seed,
    )
    starts = cluster_starts(np.bincount(groups))
    return X, cluster_ridge_factors(X, Y, starts, np.full(30, 1e-3)), starts, Y


def test_exact_directions_are_the_top_singular_vectors():
    X, B, starts, _ = _factors()
    basis = _init.top_map_directions(X, B, starts, 3, random_state=0)
    maps = np.stack(
        [(X[a:b].T @ B[a:b]).ravel() for a, b in zip(starts[:-1], starts[1:])]
    )
    top = np.linalg.svd(maps, full_matrices=False)[2][:3]
    assert np.degrees(subspace_angles(basis.reshape(3, -1).T, top.T).max()) < 1e-4


def test_randomized_directions_match_the_exact_ones(monkeypatch):
    X, B, starts, _ = _factors()
    exact = _init.top_map_directions(X, B, starts, 3, random_state=0)
    monkeypatch.setattr(_init, "_EXACT_GRAM_MAX_ROWS", 10)  # force the randomized path
    randomized = _init.top_map_directions(X, B, starts, 3, random_state=0)
    angle = subspace_angles(randomized.reshape(3, -1).T, exact.reshape(3, -1).T).max()
    assert np.degrees(angle) < 1e-3
    flat = randomized.reshape(3, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(3), atol=1e-10)


def test_vanishing_maps_are_completed_at_random():
    X, B, starts, _ = _factors()
    basis = _init.top_map_directions(X, np.zeros_like(B), starts, 4, random_state=0)
    flat = basis.reshape(4, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(4), atol=1e-10)


def test_the_initial_basis_of_many_rows_comes_from_a_sample_of_clusters(monkeypatch):
    # Above _INIT_MAX_ROWS rows the directions are those of the maps of evenly spaced
    # clusters (a quarter of them here): they still find the planted basis, as the
    # directions of all clusters do (3 degrees), where a random basis is far off.
    from sklearn_smoothbasis import SmoothingBasisRegressor, _smoothing_basis

    X, Y, groups, truth = make_multicluster_regression(
        n_clusters=200, n_basis=3, n_features=6, n_targets=5, rows_per_cluster=8,
        noise=0.01, random_state=0, return_truth=True)
    model = SmoothingBasisRegressor(n_basis=3, prior=None, random_state=0)
    starts = cluster_starts(np.bincount(groups))
    seen = []
    original = _smoothing_basis.cluster_ridge_factors

    def recording(X_init, *args):
        seen.append(len(X_init))
        return original(X_init, *args)

    monkeypatch.setattr(_smoothing_basis, "cluster_ridge_factors", recording)
    monkeypatch.setattr(_smoothing_basis, "_INIT_MAX_ROWS", 400)
    sampled = model._initial_basis(X, Y, None, starts, 3)
    assert seen == [400]

    def angle_to_truth(basis):
        return np.degrees(subspace_angles(basis.reshape(3, -1).T,
                                          truth["basis"].reshape(3, -1).T)).max()

    assert angle_to_truth(sampled) < 10
    assert angle_to_truth(_init.random_basis(3, 6, 5, np.float64, 0)) > 30
