"""Baselines: one shared map, independent per-cluster maps, and the multi-head "
"router."""

from numbers import Integral, Real

import numpy as np
from joblib import delayed
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import _BaseClusterRegressor
from ._growing import fill_cluster_means, spread_rows
from ._linalg import cluster_means, cluster_ridge_maps, linear_map
from ._parallel import cluster_chunks, parallel_chunks


def _maps_of_clusters(X, Y, starts, method, alpha):
    """Independent maps of consecutive clusters (rows ``starts[0]:starts[-1]``)."""
    starts = starts - starts[0]
    if method == "ridge":
        return cluster_ridge_maps(X, Y, starts, alpha)
    return np.stack([
        linear_map(X[start:stop], Y[start:stop], method)
        for start, stop in zip(starts[:-1], starts[1:])
    ])


def _check_square(method, n_features, n_targets):
    if method == "identity" and n_features != n_targets:
        raise ValueError(
            f"method='identity' needs as many features as targets; got n_features="
            f"{n_features} and n_targets={n_targets}."
        )


# Soft routing of independent maps: clusters whose predictions are formed at once.
_SOFT_CLUSTERS_PER_STEP = 32


class SharedProjectionRegressor(_BaseClusterRegressor):
    """One linear map ``W`` shared by all clusters (the underfitting baseline).

    ``groups`` is accepted by ``fit``, ``predict`` and ``score`` (so that the estimator
    can be swapped with the cluster-aware ones in one search) and ignored.

    Parameters
    ----------
    method : {"ridge", "pinv", "procrustes", "identity"}, default="ridge"
        ``"ridge"`` minimises :math:`\\lVert XW - Y\\rVert_F^2 + \\alpha \\lVert W
        \\rVert_F^2`; ``"pinv"`` is the minimum-norm least-squares map;
        ``"procrustes"`` the (semi-)orthogonal map closest to it; ``"identity"`` is
        zero-shot retrieval (needs ``n_features == n_targets``).
    alpha : float, default=1.0
        Ridge penalty, used by ``method="ridge"`` only. ``alpha=0`` gives the
        minimum-norm least-squares map, as ``method="pinv"`` does (also when ``X`` is
        rank deficient).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features, n_targets)
        The shared map (predictions are ``X @ coef_``).
    clusters_ : ndarray of shape (n_clusters,)
        Cluster labels seen in fit (unused for prediction).
    centroids_ : ndarray of shape (n_clusters, n_features)
        Mean input of each cluster (unused for prediction).
    n_targets_ : int
        Number of targets.
    n_features_in_ : int
        Number of features seen during fit.
    n_samples_seen_ : int
        Number of rows seen by :meth:`fit` and :meth:`partial_fit`, all kept.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    SmoothingBasisRegressor : Per-cluster maps over a shared basis.
    IndependentProjectionRegressor : One map per cluster, fitted alone.

    Notes
    -----
    :meth:`partial_fit` refits ``coef_`` on all rows so far, so it equals
    :meth:`fit` on them (and costs as much); the rows are kept, ``n_samples_seen_
    * (n_features_in_ + n_targets_)`` numbers. :meth:`add_clusters` only adds the
    labels and their routing centroids (unused by prediction): the answer itself
    when ``n_features == n_targets``, otherwise its least-squares preimage through
    ``coef_``.

    Examples
    --------
    >>> from sklearn_smoothbasis import SharedProjectionRegressor
    >>> from sklearn_smoothbasis.datasets import make_multicluster_regression
    >>> X, Y, groups = make_multicluster_regression(n_clusters=5, random_state=0)
    >>> model = SharedProjectionRegressor(alpha=1e-3).fit(X, Y, groups=groups)
    >>> model.coef_.shape
    (16, 16)
    """

    _uses_clusters = False
    _parameter_constraints = {
        "method": [StrOptions({"ridge", "pinv", "procrustes", "identity"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, method="ridge", *, alpha=1.0):
        self.method = method
        self.alpha = alpha

    def _fit_clusters(self, X, Y, starts):
        _check_square(self.method, X.shape[1], Y.shape[1])
        self.coef_ = linear_map(X, Y, self.method, self.alpha)

    def _partial_fit_clusters(self, X, Y, starts, old_index, touched):
        """The map of all rows so far, as :meth:`fit` on them gives it."""
        self.coef_ = linear_map(X, Y, self.method, self.alpha)

    def _add_answer_clusters(self, old_index, new_index, answers, weights, fitted,
                             n_neighbors):
        """Only the centroid: the answer, or its preimage through ``coef_``."""
        self._set_answer_centroids(
            old_index, new_index, answers, [self.coef_] * len(new_index)
        )

    def _predict_hard(self, X, clusters):
        return X @ self.coef_

    _predict_soft = _predict_hard


class IndependentProjectionRegressor(_BaseClusterRegressor):
    """One linear map per cluster, each fitted on its rows (the overfitting baseline).

    Parameters
    ----------
    method : {"ridge", "pinv", "procrustes"}, default="ridge"
        How each map is fitted, as in :class:`SharedProjectionRegressor`.
    alpha : float, default=1.0
        Ridge penalty of each cluster's map (``method="ridge"``). ``alpha=0`` gives
        each cluster the minimum-norm least-squares map, as ``method="pinv"`` does
        (also when a cluster's rows are rank deficient, e.g. a repeated row).
    routing : {"soft", "hard"}, default="soft"
        How rows with an unknown cluster are predicted: a softmax mixture of the
        cluster maps over the cosine similarity to the cluster centroids, or the map
        of the nearest centroid.
    routing_temperature : float, default=0.1
        Softmax temperature of soft routing. Not tuned, unlike
        :class:`SmoothingBasisRegressor`'s 0.03 (chosen by
        ``benchmarks/retrieval_defaults.py``); tune it by cross-validation, as
        ``smoothbasis compare`` does for every method.
    routing_shrinkage : float in (0, 1] or "auto", default=1.0
        Shrinkage toward the identity of the within-cluster covariance that whitens
        routing, as in
        :class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis` (see
        :class:`SmoothingBasisRegressor`). ``1.0`` (the default) is plain cosine
        routing, the baseline as commonly used; ``"auto"`` (the default of
        :class:`SmoothingBasisRegressor`) is the Ledoit-Wolf estimate.
    n_jobs : int, default=None
        Number of joblib jobs (threads) fitting the maps: the clusters are split
        into at least ``n_jobs`` chunks (each also within ``working_memory``), and
        BLAS is limited to one thread per job while they run. ``None`` means 1
        unless in a :func:`joblib.parallel_config` context, ``-1`` all processors.
        The maps are the same for any ``n_jobs`` (each depends on its cluster's
        rows alone), up to the last bits where BLAS rounds differently with one
        thread than with several (numpy 1.24's OpenBLAS does).

    Attributes
    ----------
    maps_ : ndarray of shape (n_clusters, n_features, n_targets)
        The map of each cluster, in the order of ``clusters_``.
    clusters_ : ndarray of shape (n_clusters,)
        Sorted cluster labels seen in fit.
    centroids_ : ndarray of shape (n_clusters, n_features)
        Mean input of each cluster, used for routing.
    routing_transform_ : ndarray of shape (n_features, n_features) or None
        The whitening map of routing; None for plain cosine routing.
    routing_shrinkage_ : float
        The shrinkage used (1.0 for plain cosine routing).
    routing_centroids_ : ndarray of shape (n_clusters, n_features)
        The centroids in the routing space, unit norm.
    n_targets_ : int
        Number of targets.
    n_features_in_ : int
        Number of features seen during fit.
    n_samples_seen_ : int
        Number of rows seen by :meth:`fit` and :meth:`partial_fit`, all kept.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    SmoothingBasisRegressor : The same maps constrained to a shared basis.

    Notes
    -----
    :meth:`partial_fit` refits the maps of the clusters the batch has rows of on
    all their rows so far and keeps the others, so it equals :meth:`fit` on all
    rows; centroids and routing are recomputed from them. The rows are kept,
    ``n_samples_seen_ * (n_features_in_ + n_targets_)`` numbers.
    :meth:`add_clusters` gives a cluster known by its answer the neighbour-weighted
    mean of its answer-space neighbours' maps, and as routing centroid the answer
    itself when ``n_features == n_targets``, otherwise its least-squares preimage
    through that map.

    Examples
    --------
    >>> from sklearn_smoothbasis import IndependentProjectionRegressor
    >>> from sklearn_smoothbasis.datasets import make_multicluster_regression
    >>> X, Y, groups = make_multicluster_regression(n_clusters=5, random_state=0)
    >>> model = IndependentProjectionRegressor(alpha=1e-3).fit(X, Y, groups=groups)
    >>> model.maps_.shape
    (5, 16, 16)
    """

    _parameter_constraints = {
        "method": [StrOptions({"ridge", "pinv", "procrustes"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        **_BaseClusterRegressor._routing_constraints,
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        method="ridge",
        *,
        alpha=1.0,
        routing="soft",
        routing_temperature=0.1,
        routing_shrinkage=1.0,
        n_jobs=None,
    ):
        self.method = method
        self.alpha = alpha
        self.routing = routing
        self.routing_temperature = routing_temperature
        self.routing_shrinkage = routing_shrinkage
        self.n_jobs = n_jobs

    def _fit_clusters(self, X, Y, starts):
        d, p = X.shape[1], Y.shape[1]
        maps = np.empty((len(starts) - 1, d, p), dtype=X.dtype)

        def fit_chunk(c0, c1):
            rows = slice(starts[c0], starts[c1])
            maps[c0:c1] = _maps_of_clusters(X[rows], Y[rows], starts[c0:c1 + 1],
                                            self.method, self.alpha)

        # Per row: its copies in the batched solves (d + p), and at most one map.
        chunk_starts = cluster_chunks(starts, X.itemsize * (d + p + d * p), self.n_jobs)
        chunks = list(zip(chunk_starts[:-1], chunk_starts[1:]))
        with parallel_chunks(self.n_jobs, len(chunks)) as run:
            run(delayed(fit_chunk)(c0, c1) for c0, c1 in chunks)
        self.maps_ = maps

    def _partial_fit_clusters(self, X, Y, starts, old_index, touched):
        """Maps of the clusters the batch has rows of, refitted on all their rows."""
        maps = spread_rows(self.maps_, old_index, len(starts) - 1)
        for i in np.flatnonzero(touched):
            rows = slice(starts[i], starts[i + 1])
            maps[i] = linear_map(X[rows], Y[rows], self.method, self.alpha)
        self.maps_ = maps

    def _add_answer_clusters(self, old_index, new_index, answers, weights, fitted,
                             n_neighbors):
        """Map: the neighbour-weighted mean of the neighbours' maps. Centroid: the
        answer, or its preimage through that map."""
        new_maps = np.einsum("jf,fdp->jdp", weights.astype(self.maps_.dtype),
                             self.maps_[fitted])
        self._set_answer_centroids(old_index, new_index, answers, new_maps)
        self.maps_ = spread_rows(self.maps_, old_index, len(old_index) + len(new_index))
        self.maps_[new_index] = new_maps

    def _predict_hard(self, X, clusters):
        Y_pred = np.empty((X.shape[0], self.n_targets_), dtype=X.dtype)
        for i in np.unique(clusters):
            rows = clusters == i
            Y_pred[rows] = X[rows] @ self.maps_[i]
        return Y_pred

    def _predict_soft(self, X, weights):
        Y_pred = np.zeros((X.shape[0], self.n_targets_), dtype=X.dtype)
        n_clusters, d, p = self.maps_.shape
        weights = weights.astype(X.dtype, copy=False)
        for c0 in range(0, n_clusters, _SOFT_CLUSTERS_PER_STEP):
            step = slice(c0, c0 + _SOFT_CLUSTERS_PER_STEP)
            maps = self.maps_[step].transpose(1, 0, 2).reshape(d, -1)
            # One expression, so each step's predictions are freed before the next.
            Y_pred += np.matmul(
                weights[:, None, step], (X @ maps).reshape(X.shape[0], -1, p)
            )[:, 0, :]
        return Y_pred

    def _predict_row_values(self):
        # Hard: the row's copy and its prediction (d + p). Soft: the predictions of
        # one step of clusters and their weighted sum ((S + 1) p), and the output.
        d, p = self.maps_.shape[1:]
        return max(d + p, (min(len(self.maps_), _SOFT_CLUSTERS_PER_STEP) + 2) * p)


class MultiHeadRegressor(_BaseClusterRegressor):
    """The multi-head router: a softmax-weighted mean of the clusters' mean targets.

    There is no map: a row predicts ``sum_i w_i mean(Y_i)`` with
    ``w = softmax(cos(x, centroid_i) / routing_temperature)``, or its own cluster's mean
    target when its cluster is given.

    Parameters
    ----------
    routing : {"soft", "hard"}, default="soft"
        Softmax mixture of the clusters, or the nearest centroid only.
    routing_temperature : float, default=0.1
        Softmax temperature. Not tuned, unlike :class:`SmoothingBasisRegressor`'s
        0.03 (chosen by ``benchmarks/retrieval_defaults.py``); tune it by
        cross-validation, as ``smoothbasis compare`` does for every method.
    routing_shrinkage : float in (0, 1] or "auto", default=1.0
        Shrinkage toward the identity of the within-cluster covariance that whitens
        routing, as in
        :class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis` (see
        :class:`SmoothingBasisRegressor`). ``1.0`` (the default) is plain cosine
        routing, the baseline as commonly used; ``"auto"`` (the default of
        :class:`SmoothingBasisRegressor`) is the Ledoit-Wolf estimate.

    Attributes
    ----------
    target_means_ : ndarray of shape (n_clusters, n_targets)
        Mean target of each cluster.
    clusters_ : ndarray of shape (n_clusters,)
        Sorted cluster labels seen in fit.
    centroids_ : ndarray of shape (n_clusters, n_features)
        Mean input of each cluster, used for routing.
    routing_transform_ : ndarray of shape (n_features, n_features) or None
        The whitening map of routing; None for plain cosine routing.
    routing_shrinkage_ : float
        The shrinkage used (1.0 for plain cosine routing).
    routing_centroids_ : ndarray of shape (n_clusters, n_features)
        The centroids in the routing space, unit norm.
    n_targets_ : int
        Number of targets.
    n_features_in_ : int
        Number of features seen during fit.
    n_samples_seen_ : int
        Number of rows seen by :meth:`fit` and :meth:`partial_fit`, all kept.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    SmoothingBasisRegressor : Routes to per-cluster maps instead of fixed targets.

    Notes
    -----
    :meth:`partial_fit` recomputes ``target_means_``, the centroids and the routing
    from all rows so far, so it equals :meth:`fit` on them. The rows are kept,
    ``n_samples_seen_ * (n_features_in_ + n_targets_)`` numbers.
    :meth:`add_clusters` gives a cluster known by its answer that answer as its
    mean target and as its routing centroid, which needs ``n_features ==
    n_targets`` (there is no map to carry an answer back to the question space).

    Examples
    --------
    >>> from sklearn_smoothbasis import MultiHeadRegressor
    >>> from sklearn_smoothbasis.datasets import make_multicluster_regression
    >>> X, Y, groups = make_multicluster_regression(n_clusters=5, random_state=0)
    >>> MultiHeadRegressor().fit(X, Y, groups=groups).target_means_.shape
    (5, 16)
    """

    _parameter_constraints = {**_BaseClusterRegressor._routing_constraints}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Without groups every row is one cluster and the prediction is the mean target.
        tags.regressor_tags.poor_score = True
        return tags

    def __init__(
        self, *, routing="soft", routing_temperature=0.1, routing_shrinkage=1.0
    ):
        self.routing = routing
        self.routing_temperature = routing_temperature
        self.routing_shrinkage = routing_shrinkage

    def _fit_clusters(self, X, Y, starts):
        self.target_means_ = cluster_means(Y, starts)

    def _partial_fit_clusters(self, X, Y, starts, old_index, touched):
        """Mean targets of all rows so far (a cluster without rows keeps its answer)."""
        self.target_means_ = fill_cluster_means(
            Y, starts, spread_rows(self.target_means_, old_index, len(starts) - 1)
        )

    def _add_answer_clusters(self, old_index, new_index, answers, weights, fitted,
                             n_neighbors):
        """Target: the answer itself. Centroid: the answer (there is no map to
        invert, so ``n_features`` must equal ``n_targets``)."""
        self._set_answer_centroids(old_index, new_index, answers, None)
        self.target_means_ = spread_rows(
            self.target_means_, old_index, len(old_index) + len(new_index))
        self.target_means_[new_index] = answers

    def _predict_hard(self, X, clusters):
        return self.target_means_[clusters]

    def _predict_soft(self, X, weights):
        return weights.astype(X.dtype, copy=False) @ self.target_means_
