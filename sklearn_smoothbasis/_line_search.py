"""Backtracking line searches, one per row of a batch of independent problems.

The coefficient steps (:mod:`._solvers`, :mod:`._sparse_coefficients`) solve one small
problem per cluster, all clusters of a chunk at once: every cluster takes its own
step length, halved until its own objective decreases enough (Armijo's condition).
"""

import numpy as np

# Armijo's sufficient-decrease constant: a step of length a along a direction of
# predicted decrease D (D < 0) is accepted when the objective falls by at least
# ARMIJO * a * |D|.
ARMIJO = 1e-4


def backtrack_rows(values, start, current, decrease, active, trial, *, max_halvings,
                   armijo=ARMIJO):
    r"""Per-row backtracking line search, batched: the accepted point of each row.

    Row :math:`i` tries lengths :math:`a = 1, 1/2, 1/4, \dots` (at most
    ``max_halvings`` of them) and keeps the first trial point :math:`x_i(a)` with

    .. math::

        F_i(x_i(a)) \le F_i(x_i) + \sigma\, a\, D_i ,

    where :math:`D_i \le 0` is the decrease its model predicts for the full step
    and :math:`\sigma` = ``armijo``; a row that finds none (or is not ``active``)
    keeps its start. All rows are evaluated together at every halving, until every
    active row has accepted a point.

    Parameters
    ----------
    values : callable
        ``values(points) -> F`` of shape ``(m,)`` for points of shape ``(m, K)``.
    start : ndarray of shape (m, K)
        The current points.
    current : ndarray of shape (m,)
        ``F`` at ``start``.
    decrease : ndarray of shape (m,)
        The predicted decrease :math:`D_i` of the full step.
    active : ndarray of bool of shape (m,)
        The rows that search; the others keep their start.
    trial : callable
        ``trial(length) -> points`` of shape ``(m, K)``, the trial point of each row
        at its length (``length`` of shape ``(m,)``; 0 for rows done).
    max_halvings : int
        Lengths tried per row.
    armijo : float, default=ARMIJO
        :math:`\sigma`.

    Returns
    -------
    ndarray of shape (m, K)

    Examples
    --------
    >>> import numpy as np
    >>> start = np.array([[1.0], [1.0]])
    >>> direction = np.array([[-1.0], [-3.0]])  # the second overshoots the minimum
    >>> values = lambda x: np.sum(x * x, axis=1)  # gradient 2 at the start
    >>> backtrack_rows(values, start, values(start), np.array([-2.0, -6.0]),
    ...                np.array([True, True]),
    ...                lambda length: start + length[:, None] * direction,
    ...                max_halvings=4).ravel().tolist()  # lengths 1 and 1/2
    [0.0, -0.5]
    """
    point = start
    length = np.where(active, 1.0, 0.0)
    accepted = np.zeros(len(current), dtype=bool)
    for _ in range(max_halvings):
        candidate = trial(length)
        ok = active & ~accepted & (values(candidate) <= current
                                   + armijo * length * decrease)
        point = np.where(ok[:, None], candidate, point)
        accepted |= ok
        if accepted[active].all():
            break
        length = np.where(accepted, 0.0, length * 0.5)
    return point
