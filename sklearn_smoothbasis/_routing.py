r"""Routing of queries with an unknown cluster: the space they are compared in, weights.

A query :math:`x` is compared with each cluster centroid :math:`c_i` by the cosine
similarity of :math:`L x` and :math:`L c_i`, where :math:`L = \Sigma^{-1/2}` whitens by
the within-cluster covariance of the training rows, shrunk toward a multiple of the
identity as in :class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis`:

.. math::

    S_w = \frac{1}{n - N}\sum_{r} (x_r - c_{g(r)})(x_r - c_{g(r)})^\top, \qquad
    \Sigma = (1 - \rho)\, S_w + \rho\, \mu I, \qquad \mu = \operatorname{tr}(S_w) / d .

The paraphrases of one question differ along directions that say nothing about which
cluster a query belongs to (phrasing, register, length); :math:`S_w` measures those
directions and whitening down-weights them. :math:`\rho = 1` is plain cosine routing.
"""

import numpy as np
from sklearn.covariance import ledoit_wolf_shrinkage

from ._linalg import power_of_two_scale, unit_rows

# Floor of the eigenvalues of the shrunk covariance (whose mean eigenvalue is 1).
_SMALLEST_EIGENVALUE = 1e-6


def within_cluster_whitening(X, centroids, starts, shrinkage):
    """Whitening map of the shrunk within-cluster covariance, and the shrinkage used.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows sorted by cluster; cluster ``i`` owns rows ``starts[i]:starts[i+1]``.
    centroids : ndarray of shape (n_clusters, n_features)
        Mean row of each cluster.
    starts : ndarray of shape (n_clusters + 1,)
        Row offsets of the clusters.
    shrinkage : float in (0, 1] or "auto"
        :math:`\\rho`; ``"auto"`` takes the Ledoit-Wolf estimate.

    Returns
    -------
    transform : ndarray of shape (n_features, n_features) or None
        Symmetric :math:`L = (\\Sigma / \\mu)^{-1/2}` (a scale does not change
        cosines; this one makes :math:`L = I` at :math:`\\rho = 1`). ``None`` when
        routing is plain cosine: a shrinkage of 1 (given, or estimated for an
        isotropic spread), or no cluster has two rows (nothing measures the
        within-cluster spread).
    shrinkage : float
        The :math:`\\rho` used (1.0 when ``transform`` is None).
    """
    counts = np.diff(starts)
    n_rows, n_features = X.shape
    if shrinkage == 1 or n_rows == len(counts):
        return None, 1.0
    residuals = X - np.repeat(centroids, counts, axis=0)
    # L does not depend on the scale of the residuals: bring them to entries below 2
    # before squaring, so huge or tiny rows neither overflow nor underflow.
    residuals /= power_of_two_scale(residuals)
    scatter = residuals.T @ residuals / (n_rows - len(counts))
    mean_variance = np.trace(scatter) / n_features
    if not mean_variance > 0:
        return None, 1.0
    if shrinkage == "auto":
        shrinkage = float(ledoit_wolf_shrinkage(residuals, assume_centered=True))
        if shrinkage >= 1:  # the spread is isotropic: nothing to discount
            return None, 1.0
    covariance = (1 - shrinkage) * scatter / mean_variance
    covariance.flat[:: n_features + 1] += shrinkage
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    # Eigenvalues are >= shrinkage in exact arithmetic (the mean eigenvalue is 1); clip
    # rounding errors, and keep L bounded when Ledoit-Wolf estimates no shrinkage.
    eigenvalues = np.maximum(eigenvalues, max(shrinkage, _SMALLEST_EIGENVALUE))
    transform = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T
    return transform.astype(X.dtype, copy=False), float(shrinkage)


def routing_space(X, transform):
    """Rows of ``X`` mapped into the routing space and scaled to unit norm.

    Rows are scaled to unit norm before the map too (the direction of ``L x`` does
    not depend on the norm of ``x``), so rows near the largest float do not
    overflow in ``L x``."""
    unit = unit_rows(X)
    return unit if transform is None else unit_rows(unit @ transform)


def softmax_routing_weights(X, routing_centroids, transform, temperature):
    """``softmax(cos(L x, L c_i) / temperature)`` over the clusters, shape (m, N).

    ``routing_centroids`` are the centroids already passed through
    :func:`routing_space`.
    """
    logits = routing_space(X, transform) @ routing_centroids.T
    logits /= temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights
