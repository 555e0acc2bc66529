r"""Growing a fitted model: merging new clusters and rows, and cold starts from answers.

:meth:`partial_fit` keeps the rows seen so far sorted by cluster (cluster ``i`` owns
rows ``starts[i]:starts[i+1]``); a batch is merged into them by :func:`merge_clusters`
and :func:`merge_rows`. A cluster added by :meth:`add_clusters` has an answer but no
rows yet (an empty segment): its map is borrowed from the fitted clusters whose answers
are nearest to its own (:func:`answer_neighbour_weights`), and its routing centroid is
a question-space point for its answer (:func:`answer_preimage`).
"""

import numpy as np

from ._linalg import cluster_means, cluster_starts, sort_by_cluster, unit_rows


def merge_clusters(clusters, labels):
    """Sorted union of known cluster labels and the labels of a batch.

    Parameters
    ----------
    clusters : ndarray of shape (n_clusters,)
        Sorted labels of the known clusters.
    labels : ndarray of shape (n_samples,)
        Cluster label of each row of the batch.

    Returns
    -------
    merged : ndarray of shape (n_merged,)
        Sorted distinct labels of both.
    old_index : ndarray of shape (n_clusters,)
        Position in ``merged`` of each known cluster.
    row_cluster : ndarray of shape (n_samples,)
        Position in ``merged`` of each row's cluster.
    """
    merged = np.union1d(clusters, labels)
    return merged, np.searchsorted(merged, clusters), np.searchsorted(merged, labels)


def merge_rows(X_seen, Y_seen, starts, old_index, n_merged, X, Y, row_cluster):
    """The rows seen so far and a batch, sorted by cluster (stable: older rows first).

    Parameters
    ----------
    X_seen, Y_seen : ndarray of shape (n_seen, n_features) and (n_seen, n_targets)
        Rows seen so far, sorted by cluster.
    starts : ndarray of shape (n_clusters + 1,)
        Row offsets of the known clusters in ``X_seen``.
    old_index : ndarray of shape (n_clusters,)
        Position of each known cluster among the ``n_merged`` clusters.
    n_merged : int
        Number of clusters after the merge.
    X, Y : ndarray of shape (n_samples, n_features) and (n_samples, n_targets)
        The batch.
    row_cluster : ndarray of shape (n_samples,)
        Position of each batch row's cluster among the ``n_merged`` clusters.

    Returns
    -------
    X_all, Y_all : ndarray
        All rows, sorted by cluster.
    starts_all : ndarray of shape (n_merged + 1,)
        Row offsets of every cluster (empty segments for clusters without rows).
    """
    seen_counts = np.diff(starts)
    cluster_of_row = np.concatenate((np.repeat(old_index, seen_counts), row_cluster))
    order, starts_all = sort_by_cluster(cluster_of_row, n_merged)
    return (
        np.concatenate((X_seen, X))[order],
        np.concatenate((Y_seen, Y))[order],
        starts_all,
    )


def spread_rows(A, old_index, n_merged):
    """``A`` (one row per known cluster) placed at ``old_index`` among ``n_merged`` "
    "zero rows."""
    out = np.zeros((n_merged,) + A.shape[1:], dtype=A.dtype)
    out[old_index] = A
    return out


def non_empty_starts(starts):
    """Row offsets of the clusters that have rows, and which clusters those are."""
    counts = np.diff(starts)
    has_rows = counts > 0
    return cluster_starts(counts[has_rows]), has_rows


def fill_cluster_means(A, starts, empty):
    """Mean row of each cluster; ``empty[i]`` for a cluster without rows.

    Parameters
    ----------
    A : ndarray of shape (n_rows, n_columns)
        Rows sorted by cluster.
    starts : ndarray of shape (n_clusters + 1,)
        Row offsets of the clusters.
    empty : ndarray of shape (n_clusters, n_columns)
        What clusters without rows get (only those rows are read).

    Returns
    -------
    ndarray of shape (n_clusters, n_columns)
    """
    means = np.array(empty, dtype=A.dtype, copy=True)
    row_starts, has_rows = non_empty_starts(starts)
    if has_rows.any():
        means[has_rows] = cluster_means(A, row_starts)
    return means


def answer_neighbour_weights(answers, fitted_answers, n_neighbors):
    r"""Weights of the fitted clusters whose answers are nearest to each new answer.

    Row ``j`` puts weight :math:`\max(\cos(a_j, t_i), 0)` on the ``n_neighbors``
    fitted answers :math:`t_i` of largest cosine to :math:`a_j` (ties by index),
    normalised to sum to 1; uniform over them if none is positive.

    Parameters
    ----------
    answers : ndarray of shape (n_new, n_targets)
        The new clusters' answers.
    fitted_answers : ndarray of shape (n_fitted, n_targets)
        Mean target of each fitted cluster.
    n_neighbors : int
        Number of neighbours (at most ``n_fitted``).

    Returns
    -------
    ndarray of shape (n_new, n_fitted)
        Each row sums to 1 and has at most ``n_neighbors`` non-zeros.

    Examples
    --------
    >>> import numpy as np
    >>> fitted = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> answer_neighbour_weights(np.array([[3.0, 1.0]]), fitted, 2).round(2)
    array([[0.75, 0.25, 0.  ]])
    """
    similarity = unit_rows(answers) @ unit_rows(fitted_answers).T
    n_neighbors = min(n_neighbors, similarity.shape[1])
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :n_neighbors]
    rows = np.arange(len(answers))[:, None]
    weights = np.zeros_like(similarity)
    weights[rows, nearest] = np.maximum(similarity[rows, nearest], 0.0)
    total = weights.sum(axis=1, keepdims=True)
    none_positive = total[:, 0] <= 0
    weights[rows[none_positive], nearest[none_positive]] = 1.0
    total[none_positive] = n_neighbors
    return weights / total


def answer_preimage(answers, prior):
    r"""Question-space points for answers: the answers, or their preimage through a map.

    With ``prior=None`` (questions and answers in one space) the answers are returned.
    Otherwise each answer :math:`a` gives the minimum-norm least-squares solution of
    :math:`x P = a`, the question that the map :math:`P` sends nearest to :math:`a`.

    Parameters
    ----------
    answers : ndarray of shape (n_new, n_targets)
    prior : ndarray of shape (n_features, n_targets) or None

    Returns
    -------
    ndarray of shape (n_new, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> answer_preimage(np.array([[4.0, 1.0, 5.0]]), P)
    array([[2., 1.]])
    """
    if prior is None:
        return answers.copy()
    preimage = np.linalg.lstsq(prior.T.astype(np.float64), answers.T.astype(np.float64),
                               rcond=None)[0]
    return preimage.T.astype(answers.dtype)
