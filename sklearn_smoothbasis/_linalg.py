"""Linear algebra shared by the estimators, the prior, the metrics and the loaders.

Rows sorted by cluster are the package's layout: cluster ``i`` owns rows
``starts[i]:starts[i+1]`` of ``X`` and ``Y``, with ``starts`` from
:func:`cluster_starts`. Everything here takes arrays and returns arrays in the dtype of
its input; no function knows an estimator.
"""

import math

import numpy as np
import scipy.linalg


def cluster_starts(counts):
    """Row offsets of consecutive clusters with ``counts`` rows each.

    Parameters
    ----------
    counts : array-like of int of shape (n_clusters,)
        Number of rows of each cluster, in order.

    Returns
    -------
    starts : ndarray of shape (n_clusters + 1,)
        ``starts[0] = 0`` and ``starts[-1] = sum(counts)``; cluster ``i`` owns rows
        ``starts[i]:starts[i+1]``.

    Examples
    --------
    >>> cluster_starts([2, 3, 1]).tolist()
    [0, 2, 5, 6]
    """
    return np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))


def sort_by_cluster(labels, n_clusters=None):
    """Row order that sorts rows by cluster index (stable), and the cluster offsets.

    Parameters
    ----------
    labels : ndarray of int of shape (n_samples,)
        Cluster index of each row, in ``0..n_clusters-1``.
    n_clusters : int, default=None
        Number of clusters; ``labels.max() + 1`` when None.

    Returns
    -------
    order : ndarray of shape (n_samples,)
        ``X[order]`` lists the rows cluster by cluster, each cluster's rows in their
        original order.
    starts : ndarray of shape (n_clusters + 1,)
        Offsets of the clusters in ``X[order]`` (:func:`cluster_starts`).

    Examples
    --------
    >>> order, starts = sort_by_cluster([1, 0, 1, 0, 0])
    >>> order.tolist(), starts.tolist()
    ([1, 3, 4, 0, 2], [0, 3, 5])
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=0 if n_clusters is None else n_clusters)
    return order, cluster_starts(counts)


def power_of_two_scale(A):
    """The largest power of two not above ``max |A|`` (1 for an all-zero array).

    A computation that does not depend on the scale of its input (a whitening map, a
    cosine), or depends on it in a known way (a least-squares map scales as
    ``scale(Y) / scale(X)``), divides its input by this first: the division is
    exact (powers of two only move the exponent), and entries below 2 in magnitude
    can be squared and summed in any dtype.

    Parameters
    ----------
    A : ndarray
        Finite values.

    Returns
    -------
    scale : float
        ``2**e`` with ``2**e <= max |A| < 2**(e + 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> power_of_two_scale(np.array([[3.0, -5.0]]))
    4.0
    >>> power_of_two_scale(np.array([1e200])) == 2.0**664
    True
    """
    largest = float(np.max(np.abs(A), initial=0.0))
    return math.ldexp(1.0, math.frexp(largest)[1] - 1) if largest > 0 else 1.0


def thin_svd(A, *, overwrite=False):
    """``U, S, Vt`` of the thin SVD of the matrix ``A`` (which the fallback below
    may overwrite with ``overwrite``: no copy of it then).

    LAPACK's divide-and-conquer driver (``gesdd``, what :func:`numpy.linalg.svd`
    calls) can fail to converge on a finite, well-scaled matrix (seen with the
    OpenBLAS of numpy 1.24 on one thread, at 512 x 512); the QR-iteration driver
    ``gesvd`` is slower but converges, so it takes over then.

    Examples
    --------
    >>> import numpy as np
    >>> U, S, Vt = thin_svd(np.array([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]]))
    >>> S.tolist()
    [4.0, 3.0]
    """
    try:
        return np.linalg.svd(A, full_matrices=False)
    except np.linalg.LinAlgError:
        return scipy.linalg.svd(A, full_matrices=False, lapack_driver="gesvd",
                                overwrite_a=overwrite, check_finite=False)


def sampled_clusters(starts, max_rows):
    """The rows of clusters evenly spaced over all, at most ``max_rows`` rows in all
    (every cluster when they have no more); at least one cluster.

    Parameters
    ----------
    starts : ndarray of shape (n_clusters + 1,)
        Row offsets of the clusters (rows sorted by cluster).
    max_rows : int

    Returns
    -------
    rows : ndarray of int or slice
        The rows of the clusters kept, in order (``slice(None)`` when all are).
    kept_starts : ndarray
        Their row offsets within ``rows``.

    Examples
    --------
    >>> import numpy as np
    >>> rows, kept_starts = sampled_clusters(np.arange(0, 21, 2), max_rows=6)
    >>> rows.tolist(), kept_starts.tolist()
    ([0, 1, 8, 9, 18, 19], [0, 2, 4, 6])
    """
    n_rows, n_clusters = int(starts[-1]), len(starts) - 1
    if n_rows <= max_rows:
        return slice(None), starts
    counts = np.diff(starts)
    n_kept = max(1, n_clusters * max_rows // n_rows)
    clusters = np.unique(np.linspace(0, n_clusters - 1, n_kept).round().astype(int))
    while clusters.size > 1 and counts[clusters].sum() > max_rows:  # uneven sizes
        clusters = clusters[::2]
    kept_counts = counts[clusters]
    kept_starts = np.concatenate(([0], np.cumsum(kept_counts)))
    rows = np.arange(kept_starts[-1]) + np.repeat(
        starts[clusters] - kept_starts[:-1], kept_counts
    )
    return rows, kept_starts


def cluster_sums(A, starts, axis=0):
    """Sum of the rows of each cluster of ``A`` (rows sorted by cluster along ``axis``).

    Examples
    --------
    >>> import numpy as np
    >>> cluster_sums(np.array([1.0, 3.0, 5.0]), np.array([0, 2, 3])).tolist()
    [4.0, 5.0]
    """
    return np.add.reduceat(A, starts[:-1], axis=axis)


def cluster_means(A, starts):
    """Mean of the rows of each cluster of ``A`` (rows sorted by cluster), in its dtype.

    ``A`` may have any number of axes after the first. Finite rows whose sums
    overflow (entries near the largest float) are summed again scaled by
    :func:`power_of_two_scale`, so the means are finite.

    Examples
    --------
    >>> import numpy as np
    >>> cluster_means(np.array([[1.0], [3.0], [5.0]]), np.array([0, 2, 3])).tolist()
    [[2.0], [5.0]]
    >>> cluster_means(np.array([[1e308], [1e308]]), np.array([0, 2])).tolist()
    [[1e+308]]
    """
    counts = np.diff(starts).astype(A.dtype).reshape((-1,) + (1,) * (A.ndim - 1))
    with np.errstate(over="ignore"):  # checked below
        sums = cluster_sums(A, starts)
    if np.isfinite(sums).all() or not np.isfinite(A).all():
        return sums / counts
    scale = A.dtype.type(power_of_two_scale(A))
    return cluster_sums(A / scale, starts) / counts * scale


def _scaled_rows(M):
    """Each row of ``M`` times a power of two that brings its largest absolute value
    into [0.5, 1): exact (powers of two only move the exponent), and the squares of
    the scaled rows neither overflow nor underflow."""
    largest = np.max(np.abs(M), axis=1, initial=0)
    exponent = np.frexp(largest)[1]
    return np.ldexp(M, -exponent[:, None]), exponent


def row_norms(M):
    """Euclidean norm of each row, exact for rows of any scale.

    Each row is scaled by a power of two near its largest absolute value before
    squaring, so rows of ``1e-200`` or ``1e200`` give the norms rows of 1 give, times
    their scale, where squaring them directly would underflow to 0 or overflow to
    ``inf``.

    Parameters
    ----------
    M : ndarray of shape (n_rows, n_columns)
        Real rows.

    Returns
    -------
    norms : ndarray of shape (n_rows,)
        In the dtype of ``M``.

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[3e200, 4e200], [3e-200, 4e-200]])
    >>> row_norms(M) / np.array([1e200, 1e-200])
    array([5., 5.])
    """
    scaled, exponent = _scaled_rows(M)
    return np.ldexp(np.linalg.norm(scaled, axis=1), exponent)


def unit_rows(M):
    """Rows of ``M`` scaled to unit Euclidean norm; zero rows stay zero.

    Scale-safe as :func:`row_norms`: a row and the same row times ``1e-200`` or
    ``1e200`` give the same unit row. The cosine of two rows is the dot product of
    their unit rows, so a zero row has cosine 0 with every row.

    Parameters
    ----------
    M : ndarray of shape (n_rows, n_columns)
        Real rows.

    Returns
    -------
    unit : ndarray of shape (n_rows, n_columns)
        In the dtype of ``M``.

    Examples
    --------
    >>> import numpy as np
    >>> unit_rows(np.array([[3e-200, 4e-200], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    scaled, _ = _scaled_rows(M)
    norms = np.linalg.norm(scaled, axis=1, keepdims=True)
    return np.divide(scaled, norms, out=np.zeros_like(scaled), where=norms > 0)


def _clusters_by_size(starts):
    """Clusters of equal size, for batched solves: ``(clusters, rows)`` per size.

    ``rows`` indexes those clusters' rows, shape ``(c, size)``; for a single cluster
    it is a slice, so that :func:`_stacked` gives a view rather than a copy.
    """
    counts = np.diff(starts)
    for size in np.unique(counts):
        clusters = np.flatnonzero(counts == size)
        if clusters.size == 1:
            yield clusters, slice(starts[clusters[0]], starts[clusters[0]] + size)
        else:
            yield clusters, starts[clusters][:, None] + np.arange(size)


def _stacked(A, rows):
    """``A[rows]`` with one leading axis per cluster: shape ``(c, size, ...)``."""
    return A[rows][None] if isinstance(rows, slice) else A[rows]


def _solve_psd(A, b, singular):
    """Solve the stacked symmetric positive semi-definite systems ``A x = b``.

    Where ``singular`` (no ridge), or where a system is singular at working
    precision, the minimum-norm solution ``pinv(A) b``."""
    if not singular:
        try:
            solution = np.linalg.solve(A, b)
            if np.isfinite(solution).all():
                return solution
        except np.linalg.LinAlgError:
            pass
    cutoff = max(A.shape[-2:]) * np.finfo(A.dtype).eps  # as np.linalg.lstsq's
    return np.matmul(np.linalg.pinv(A, rcond=cutoff, hermitian=True), b)


def _cluster_ridge(X, Y, starts, alpha):
    r"""Per-cluster ridge solutions, clusters of equal size solved in one batch.

    Yields ``(clusters, rows, dual, solution, x_scale, y_scale)`` for each cluster
    size (``rows`` as in :func:`_clusters_by_size`). Each batch is solved for
    :math:`X_s = X / x` and :math:`Y_s = Y / y` with the ridge :math:`\alpha / x^2`
    (``x`` the power of two of the largest of :math:`|X|` and :math:`\sqrt\alpha`,
    ``y`` that of :math:`|Y|`): exact rescalings that keep every product finite
    and normal however large or small the input, and give the map
    :math:`W = (y / x) W_s`. A cluster with no more rows than features is solved in
    dual form, ``solution`` the ``(c, size, p)`` factors :math:`B_i = (X_{s,i}
    X_{s,i}^\top + \alpha_i / x^2 I)^{-1} Y_{s,i}` with :math:`W_{s,i} =
    X_{s,i}^\top B_i`; otherwise in primal form, ``solution`` the ``(c, d, p)``
    maps :math:`W_{s,i}`. A zero ridge (given, or below the smallest float after
    scaling) gives the minimum-norm least-squares solution, as does a system
    singular at working precision.
    """
    n_features = X.shape[1]
    for clusters, rows in _clusters_by_size(starts):
        Xc, Yc = _stacked(X, rows), _stacked(Y, rows)
        strength = alpha[clusters]
        x_scale = power_of_two_scale(Xc)
        if strength.max() > 0:  # (power_of_two_scale is 1 for zeros: not a bound)
            x_scale = max(x_scale, power_of_two_scale(np.sqrt(strength)))
        y_scale = power_of_two_scale(Yc)
        Xc, Yc = Xc / X.dtype.type(x_scale), Yc / X.dtype.type(y_scale)
        with np.errstate(under="ignore"):
            penalty = (strength / x_scale / x_scale).astype(X.dtype)
        singular = not penalty.all()
        size = Xc.shape[1]
        if size <= n_features:
            kernel = np.matmul(Xc, Xc.transpose(0, 2, 1))
            kernel += penalty[:, None, None] * np.eye(size, dtype=X.dtype)
            solution = _solve_psd(kernel, Yc, singular)
        else:
            gram = np.matmul(Xc.transpose(0, 2, 1), Xc)
            gram += penalty[:, None, None] * np.eye(n_features, dtype=X.dtype)
            cross = np.matmul(Xc.transpose(0, 2, 1), Yc)
            solution = _solve_psd(gram, cross, singular)
        yield clusters, rows, size <= n_features, solution, x_scale, y_scale


def _per_cluster(alpha, n_clusters):
    """``alpha`` (a float or one per cluster) as one float64 per cluster."""
    return np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n_clusters,))


def cluster_ridge_maps(X, Y, starts, alpha):
    r"""Ridge map of each cluster: :math:`\operatorname{argmin}_W \lVert X_i W - Y_i
    \rVert_F^2 + \alpha_i \lVert W \rVert_F^2`.

    Solved in dual form (an ``n_i x n_i`` system) for clusters with no more rows than
    features, in primal form (``d x d``) otherwise.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows sorted by cluster.
    Y : ndarray of shape (n_samples, n_targets)
        Targets.
    starts : ndarray of shape (n_clusters + 1,)
        Cluster offsets (:func:`cluster_starts`).
    alpha : float or ndarray of shape (n_clusters,)
        Ridge strength, one for all clusters or one per cluster.

    Returns
    -------
    maps : ndarray of shape (n_clusters, n_features, n_targets)
        In the dtype of ``X``.
    """
    alpha = _per_cluster(alpha, len(starts) - 1)
    maps = np.empty((len(starts) - 1, X.shape[1], Y.shape[1]), dtype=X.dtype)
    for clusters, rows, dual, solution, x_scale, y_scale in _cluster_ridge(X, Y, starts,
                                                                          alpha):
        if dual:
            X_scaled = _stacked(X, rows) / X.dtype.type(x_scale)
            solution = np.matmul(X_scaled.transpose(0, 2, 1), solution)
        # A map beyond the dtype's range (Y huge, X tiny) becomes inf here; the
        # estimators name it (see ClusterRegressorMixin.fit).
        with np.errstate(over="ignore"):
            maps[clusters] = solution * X.dtype.type(y_scale / x_scale)
    return maps


def cluster_ridge_factors(X, Y, starts, alpha):
    r"""Factors ``B`` (one row per row of ``X``) with :math:`X_i^\top B_i` the ridge
    map of cluster ``i``, without forming the maps.

    Dual form: :math:`B_i = (X_i X_i^\top + \alpha_i I)^{-1} Y_i`. Primal form (more
    rows than features): :math:`B_i = (Y_i - X_i W_i) / \alpha_i` from the normal
    equations, which needs :math:`\alpha_i > 0`.

    Parameters
    ----------
    X, Y, starts, alpha
        As in :func:`cluster_ridge_maps`.

    Returns
    -------
    B : ndarray of shape (n_samples, n_targets)
        In the dtype of ``X``.
    """
    alpha = _per_cluster(alpha, len(starts) - 1)
    B = np.empty_like(Y, dtype=X.dtype)
    for clusters, rows, dual, solution, x_scale, y_scale in _cluster_ridge(X, Y, starts,
                                                                          alpha):
        if dual:  # X_i^T B_i = (y / x) X_s^T B_s = X_i^T (y / x^2) B_s
            with np.errstate(over="ignore"):  # named by the estimator, as above
                solution = solution * X.dtype.type(y_scale / x_scale / x_scale)
        else:  # B_i = (Y_i - X_i W_i) / alpha_i
            W = solution * X.dtype.type(y_scale / x_scale)
            residual = _stacked(Y, rows) - np.matmul(_stacked(X, rows), W)
            solution = residual / alpha[clusters][:, None, None].astype(X.dtype)
        B[rows] = solution
    return B


def ridge_map(X, Y, alpha):
    r"""One ridge map of all rows: :math:`\operatorname{argmin}_W \lVert X W - Y
    \rVert_F^2 + \alpha \lVert W \rVert_F^2`, in dual form when rows are fewer than
    features (:func:`cluster_ridge_maps` with one cluster). ``alpha=0`` is the
    minimum-norm least-squares map ``pinv(X) @ Y``, rank deficient or not."""
    return cluster_ridge_maps(X, Y, np.array([0, X.shape[0]]), alpha)[0]


def linear_map(X, Y, method, alpha=1.0, center=None):
    r"""One ``n_features x n_targets`` map fitted on all rows of ``X`` and ``Y``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    Y : ndarray of shape (n_samples, n_targets)
        Targets.
    method : {"ridge", "pinv", "procrustes", "identity"}
        ``"ridge"``: :func:`ridge_map`; ``"pinv"``: the minimum-norm least-squares
        map (:func:`ridge_map` with ``alpha=0``); ``"procrustes"``: the
        (semi-)orthogonal map closest to mapping ``X``
        onto ``Y``; ``"identity"``: the identity (padded or cut when not square).
    alpha : float, default=1.0
        Ridge strength of ``method="ridge"``.
    center : ndarray of shape (n_features, n_targets), default=None
        Shrink toward this map instead of toward zero:
        :math:`M + \operatorname{argmin}_W \lVert X W - (Y - X M)\rVert_F^2 + \alpha
        \lVert W\rVert_F^2`.

    Returns
    -------
    W : ndarray of shape (n_features, n_targets)
        The map, in the dtype of ``X``.
    """
    if center is not None:
        return center + linear_map(X, Y - X @ center, method, alpha)
    if method == "identity":
        return np.eye(X.shape[1], Y.shape[1], dtype=X.dtype)
    if method == "pinv":
        return ridge_map(X, Y, 0.0)
    if method == "procrustes":
        # The map depends only on the directions of X^T Y: scale before the product.
        X_scaled = X / X.dtype.type(power_of_two_scale(X))
        Y_scaled = Y / Y.dtype.type(power_of_two_scale(Y))
        U, _, Vt = np.linalg.svd(X_scaled.T @ Y_scaled, full_matrices=False)
        return U @ Vt
    return ridge_map(X, Y, alpha)
