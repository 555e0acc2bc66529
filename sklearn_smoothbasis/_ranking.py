"""Ranking answers by cosine similarity: ranks of own targets, the exact top ``k``.

A query :math:`q` (a predicted answer embedding) ranks the answers :math:`a_j` by

.. math::

    s_j = \\frac{q^\\top a_j}{\\lVert q \\rVert \\, \\lVert a_j \\rVert},

defined as 0 when either norm is 0, from the largest :math:`s_j` to the smallest.
Shared by the retrieval metrics (:mod:`sklearn_smoothbasis.metrics`), the choice of
the prior's strength and the contrastive prior (:mod:`._prior`) and the estimators'
``retrieve``; inputs are validated arrays.

Two conventions for ties, one per use: :func:`ranks_of_targets` (the metrics) counts
ties against the row, the rank of a row's own target being the number of candidates at
least as similar as it; :func:`top_k_cosine` (``retrieve``) ranks the smaller index
:math:`j` first among equal similarities, so the result is a deterministic function of
the inputs (no dependence on the partition algorithm).
"""

from typing import NamedTuple

import numpy as np
from sklearn import get_config
from sklearn.utils import gen_batches

from ._linalg import unit_rows


class RetrievalResult(NamedTuple):
    """The ``k`` answers nearest each query, best first.

    Attributes
    ----------
    indices : ndarray of shape (n_queries, k), dtype=intp
        Row indices into the answers; ``-1`` where the answer's similarity is below
        the ``min_similarity`` of ``retrieve`` (the kept answers are a prefix of
        each row, in ranking order).
    similarities : ndarray of shape (n_queries, k)
        Cosine similarities to each query of the ``k`` best answers, kept or not,
        non-increasing along each row.
    """

    indices: np.ndarray
    similarities: np.ndarray

    @property
    def confidence(self):
        """ndarray of shape (n_queries,): each query's confidence, the largest
        cosine similarity between its prediction and the answers."""
        return self.similarities[:, 0]

    @property
    def declined(self):
        """ndarray of bool of shape (n_queries,): whether the query was declined,
        no answer reaching the ``min_similarity`` of ``retrieve``."""
        return self.indices[:, 0] < 0


def top_k_cosine(queries, answers_unit, k):
    """Indices and cosine similarities of the ``k`` answers nearest each query.

    Parameters
    ----------
    queries : ndarray of shape (m, p)
        Query rows (any norm; a zero row has similarity 0 with every answer).
    answers_unit : ndarray of shape (n_answers, p)
        Answer rows scaled to unit norm (zero rows allowed), ``1 <= k <= n_answers``.
    k : int
        Number of answers kept per query.

    Returns
    -------
    indices : ndarray of shape (m, k), dtype=intp
        Best first; equal similarities in increasing index order.
    similarities : ndarray of shape (m, k)
        In the dtype of ``queries @ answers_unit.T``.

    Notes
    -----
    Extra memory per query row: the similarity row, its negation, the partition's
    indices and a boolean mask (``n_answers * (2 * itemsize + 9)`` bytes), and for
    rows with a tie across the ``k``-th place a stable sort of the row (at most as
    much again).
    """
    similarities = unit_rows(queries) @ answers_unit.T
    n_answers = similarities.shape[1]
    negated = -similarities
    if k < n_answers:
        chosen = np.argpartition(negated, k - 1, axis=1)[:, :k]
    else:
        chosen = np.broadcast_to(np.arange(n_answers), similarities.shape).copy()
    values = np.take_along_axis(similarities, chosen, axis=1)
    # The partition picks an arbitrary subset of the answers tied at the k-th place;
    # rows where more answers reach the k-th value than k are re-ranked by a stable
    # sort, which keeps the smallest indices among equals.
    kth = values.min(axis=1)
    tied = np.flatnonzero(np.count_nonzero(similarities >= kth[:, None], axis=1) > k)
    if tied.size:
        chosen[tied] = np.argsort(negated[tied], axis=1, kind="stable")[:, :k]
        values[tied] = np.take_along_axis(similarities[tied], chosen[tied], axis=1)
    order = np.lexsort((chosen, -values), axis=1)
    return (
        np.take_along_axis(chosen, order, axis=1).astype(np.intp, copy=False),
        np.take_along_axis(values, order, axis=1),
    )


def target_indices(Y_true, candidates):
    """Index of the candidate row equal to each row of ``Y_true``.

    Parameters
    ----------
    Y_true : ndarray of shape (n_samples, n_targets)
        Targets.
    candidates : ndarray of shape (n_candidates, n_targets)
        Distinct candidate targets.

    Returns
    -------
    target : ndarray of int of shape (n_samples,)
        ``candidates[target[i]]`` equals ``Y_true[i]``.

    Raises
    ------
    ValueError
        When ``candidates`` has duplicate rows or a row of ``Y_true`` equals none.

    Examples
    --------
    >>> import numpy as np
    >>> target_indices(np.array([[0, 1], [1, 0]]), np.array([[1, 0], [0, 1]])).tolist()
    [1, 0]
    """
    m = candidates.shape[0]
    _, inverse = np.unique(
        np.vstack([candidates, Y_true]), axis=0, return_inverse=True
    )
    inverse = inverse.ravel()
    if np.unique(inverse[:m]).size < m:
        first = np.unique(inverse[:m], return_index=True)[1]
        repeat = int(np.setdiff1d(np.arange(m), first)[0])
        earlier = int(np.flatnonzero(inverse[:m] == inverse[repeat])[0])
        raise ValueError(
            f"candidates must not contain duplicate rows: rows {earlier} and {repeat} "
            "are equal. Clusters that share an answer are one answer to retrieval; "
            "merge them (the loaders of sklearn_smoothbasis.datasets do)."
        )
    lookup = np.full(inverse.max() + 1, -1)
    lookup[inverse[:m]] = np.arange(m)
    target = lookup[inverse[m:]]
    n_missing = np.count_nonzero(target < 0)
    if n_missing:
        raise ValueError(
            f"{n_missing} of {len(target)} rows of Y_true have no matching "
            "(exactly equal) row in candidates."
        )
    return target


def ranks_of_targets(Y_pred, candidates, target):
    """1-based rank of each row's own candidate by cosine similarity to its prediction.

    Similarities are computed in chunks of rows whose size follows
    ``sklearn.get_config()["working_memory"]``, so memory stays bounded.

    Parameters
    ----------
    Y_pred : ndarray of shape (n_samples, n_targets)
        Predictions.
    candidates : ndarray of shape (n_candidates, n_targets)
        Candidate targets.
    target : ndarray of int of shape (n_samples,)
        Index of each row's own candidate (:func:`target_indices`).

    Returns
    -------
    ranks : ndarray of int of shape (n_samples,)
        Number of candidates whose cosine to ``Y_pred[i]`` is at least that of
        ``candidates[target[i]]``: 1 is a hit.

    Examples
    --------
    >>> import numpy as np
    >>> candidates, prediction = np.eye(3), np.array([[1.0, 0.5, 0.0]])
    >>> ranks_of_targets(prediction, candidates, np.array([1])).tolist()
    [2]
    """
    C, P = unit_rows(candidates), unit_rows(Y_pred)
    # bytes per row of a chunk: the similarity row plus its boolean mask
    row_bytes = C.shape[0] * (np.result_type(C, P).itemsize + 1)
    chunk = max(1, int(get_config()["working_memory"] * 2**20 // row_bytes))
    ranks = np.empty(len(target), dtype=np.intp)
    for rows in gen_batches(len(target), chunk):
        S = P[rows] @ C.T
        own = S[np.arange(S.shape[0]), target[rows]]
        ranks[rows] = np.count_nonzero(S >= own[:, None], axis=1)
    return ranks
