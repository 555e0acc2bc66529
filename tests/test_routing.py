"""Routing of queries with an unknown cluster: whitening by the within-cluster "
"covariance."""

import numpy as np
import pytest
import sklearn
from scipy.linalg import fractional_matrix_power
from sklearn.covariance import ledoit_wolf_shrinkage

from sklearn_smoothbasis import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis._routing import within_cluster_whitening


def _paraphrase_clusters(n_clusters=20, rows=5, random_state=0):
    """Clusters told apart in the first 5 features, paraphrases spread in the last 5.

    The spread of the paraphrases (shared by every cluster) is larger than the
    distance between clusters, so plain cosine routing confuses them. Returns the
    training rows and, from the same centres, 4 fresh paraphrases per cluster.
    """
    rng = np.random.RandomState(random_state)
    centres = np.zeros((n_clusters, 10))
    centres[:, :5] = rng.standard_normal((n_clusters, 5))
    centres[:, 5:] = 3.0  # a common offset: every row points the same general way

    def paraphrases(groups):
        spread = np.hstack([0.3 * rng.standard_normal((len(groups), 5)),
                            3.0 * rng.standard_normal((len(groups), 5))])
        return centres[groups] + spread

    groups = np.repeat(np.arange(n_clusters), rows)
    groups_new = np.repeat(np.arange(n_clusters), 4)
    Y = np.eye(n_clusters)[groups]  # one-hot answers: routing is all there is
    return paraphrases(groups), Y, groups, paraphrases(groups_new), groups_new


def _sorted_by_cluster(X, groups):
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups)
    starts = np.concatenate(([0], np.cumsum(counts)))
    centroids = np.add.reduceat(X[order], starts[:-1], axis=0) / counts[:, None]
    return X[order], centroids, starts


def test_full_shrinkage_and_single_rows_give_plain_cosine():
    X, _, groups, _, _ = _paraphrase_clusters()
    X_sorted, centroids, starts = _sorted_by_cluster(X, groups)
    assert within_cluster_whitening(X_sorted, centroids, starts, 1.0) == (None, 1.0)
    # One row per cluster: nothing measures the spread of paraphrases.
    single = np.arange(len(starts))
    assert within_cluster_whitening(centroids, centroids, single, "auto") == (None, 1.0)
    # Isotropic spread: Ledoit-Wolf shrinks all the way, there is nothing to discount.
    X_iso = np.random.RandomState(0).standard_normal((400, 6))
    X_sorted, centroids, starts = _sorted_by_cluster(X_iso, np.repeat(np.arange(80), 5))
    assert within_cluster_whitening(X_sorted, centroids, starts, "auto") == (None, 1.0)


@pytest.mark.parametrize("shrinkage", [0.1, 0.5, "auto"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transform_whitens_the_shrunk_within_cluster_covariance(shrinkage, dtype):
    X, _, groups, _, _ = _paraphrase_clusters()
    X_sorted, centroids, starts = _sorted_by_cluster(X.astype(dtype), groups)
    transform, used = within_cluster_whitening(X_sorted, centroids, starts, shrinkage)
    residuals = (X_sorted - np.repeat(centroids, np.diff(starts), axis=0)).astype(
        np.float64
    )
    if shrinkage == "auto":
        assert used == pytest.approx(
            ledoit_wolf_shrinkage(residuals, assume_centered=True)
        )
    else:
        assert used == shrinkage
    scatter = residuals.T @ residuals / (len(X) - len(centroids))
    covariance = (1 - used) * scatter / (np.trace(scatter) / 10) + used * np.eye(10)
    assert transform.dtype == dtype
    np.testing.assert_allclose(transform, transform.T, atol=1e-6)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(transform @ covariance @ transform, np.eye(10), atol=tol)


def test_soft_routing_uses_the_whitened_cosine():
    X, Y, groups, _, _ = _paraphrase_clusters()
    model = MultiHeadRegressor(routing_temperature=0.2, routing_shrinkage=0.3).fit(
        X, Y, groups
    )
    # Recompute L from its definition, independently of the package's eigh route.
    residuals = X - model.centroids_[groups]
    scatter = residuals.T @ residuals / (len(X) - 20)
    covariance = 0.7 * scatter / (np.trace(scatter) / 10) + 0.3 * np.eye(10)
    whiten = fractional_matrix_power(covariance, -0.5).real
    X_new = np.random.RandomState(3).standard_normal((6, 10)) + 3.0
    unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)  # noqa: E731
    logits = unit(X_new @ whiten) @ unit(model.centroids_ @ whiten).T / 0.2
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    mean_targets = np.stack([Y[groups == i].mean(axis=0) for i in range(20)])
    np.testing.assert_allclose(model.predict(X_new), weights @ mean_targets, rtol=1e-8)


def test_whitened_routing_finds_clusters_that_paraphrase_spread_hides():
    X, Y, groups, X_new, groups_new = _paraphrase_clusters()
    accuracy = {}
    for shrinkage in [1.0, "auto"]:
        model = MultiHeadRegressor(routing="hard", routing_shrinkage=shrinkage)
        routed = np.argmax(model.fit(X, Y, groups).predict(X_new), axis=1)
        accuracy[shrinkage] = np.mean(routed == groups_new)
    assert accuracy["auto"] > accuracy[1.0] + 0.2
    assert model.routing_shrinkage_ < 0.5


def test_every_routed_estimator_whitens_the_same_way():
    X, Y, groups, _, _ = _paraphrase_clusters()
    fitted = [
        estimator.fit(X, Y, groups) for estimator in (
            MultiHeadRegressor(routing_shrinkage="auto"),
            IndependentProjectionRegressor(routing_shrinkage="auto"),
            SmoothingBasisRegressor(max_iter=5, tol=0, random_state=0),
        )
    ]
    for model in fitted[1:]:
        assert model.routing_shrinkage_ == fitted[0].routing_shrinkage_
        np.testing.assert_allclose(
            model.routing_transform_, fitted[0].routing_transform_
        )
        np.testing.assert_allclose(
            model.routing_centroids_, fitted[0].routing_centroids_
        )


def test_shared_map_does_not_route():
    X, Y, groups, _, _ = _paraphrase_clusters()
    model = SharedProjectionRegressor().fit(X, Y, groups)
    assert not hasattr(model, "routing_transform_")


def _mixed_known_and_unseen():
    """Training clusters 0..19 and 40 query rows, known (their cluster given) and
    unseen (a label fit never saw: routed) interleaved irregularly."""
    X, Y, groups, X_new, groups_new = _paraphrase_clusters()
    rng = np.random.RandomState(0)
    X_query = np.vstack([X_new[:20], X_new[40:60]])[rng.permutation(40)]
    labels = rng.randint(20, size=40)
    unseen = rng.rand(40) < 0.5
    labels[unseen] = 99
    return X, Y, groups, X_query, labels, unseen


ROUTED = [
    MultiHeadRegressor(routing_temperature=0.2),
    IndependentProjectionRegressor(alpha=0.1, routing_temperature=0.2),
    SmoothingBasisRegressor(max_iter=5, tol=0, random_state=0, routing_temperature=0.2),
]


@pytest.mark.parametrize("estimator", ROUTED, ids=lambda e: type(e).__name__)
def test_one_call_with_known_and_unseen_groups_routes_the_right_rows(estimator):
    X, Y, groups, X_query, labels, unseen = _mixed_known_and_unseen()
    model = estimator.fit(X, Y, groups)
    mixed = model.predict(X_query, groups=labels)
    # Each part predicted on its own: known rows with their cluster, unseen rows
    # routed (no groups at all).
    np.testing.assert_allclose(mixed[~unseen],
                               model.predict(X_query[~unseen], groups=labels[~unseen]),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mixed[unseen], model.predict(X_query[unseen]),
                               rtol=1e-10, atol=1e-12)
    # And the parts differ: routing a known row, or mapping a routed row with some
    # cluster's map, would change it.
    assert not np.allclose(
        model.predict(X_query[unseen], groups=np.zeros(unseen.sum())), mixed[unseen]
    )


@pytest.mark.parametrize("estimator", ROUTED + [SharedProjectionRegressor()],
                         ids=lambda e: type(e).__name__)
def test_predict_in_many_small_batches_equals_one_batch(estimator):
    X, Y, groups, X_query, labels, _ = _mixed_known_and_unseen()
    model = estimator.fit(X, Y, groups)
    whole, whole_routed = model.predict(X_query, groups=labels), model.predict(X_query)
    # A working_memory that holds 7 rows: 6 batches, each mixing known and routed rows.
    row_bytes = model._predict_row_bytes(X_query)
    with sklearn.config_context(working_memory=7.5 * row_bytes / 2**20):
        batched = model.predict(X_query, groups=labels)
        batched_routed = model.predict(X_query)
    np.testing.assert_allclose(batched, whole, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(batched_routed, whole_routed, rtol=1e-10, atol=1e-12)
    assert not np.allclose(batched[:7], batched[7:14])  # rows differ between batches
