"""Ranking answers by cosine similarity: the exact top ``k``, ties broken by index.

A query :math:`q` (a predicted answer embedding) ranks the answers :math:`a_j` by

.. math::

    s_j = \\frac{q^\\top a_j}{\\lVert q \\rVert \\, \\lVert a_j \\rVert},

defined as 0 when either norm is 0, from the largest :math:`s_j` to the smallest;
among equal similarities the smaller index :math:`j` ranks first, so the result is a
deterministic function of the inputs (no dependence on the partition algorithm).
"""

from typing import NamedTuple

import numpy as np

from ._routing import _unit_rows as unit_rows


class RetrievalResult(NamedTuple):
    """The ``k`` answers nearest each query, best first.

    Attributes
    ----------
    indices : ndarray of shape (n_queries, k), dtype=intp
        Row indices into the answers.
    similarities : ndarray of shape (n_queries, k)
        Their cosine similarities to each query, non-increasing along each row.
    """

    indices: np.ndarray
    similarities: np.ndarray


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
