"""Declining out-of-scope queries: the per-query confidence, the cut, its calibration.

The confidence of a query is the largest cosine similarity :math:`s_{(1)}` between
its prediction and the answers (the similarity of the answer ranked first). A
threshold :math:`t \\in [-1, 1]` (``min_similarity``) keeps the answers with
:math:`s_j \\ge t` and declines the query when :math:`s_{(1)} < t`. On clinc150 this
score separates in-scope from out-of-scope queries better than the margin
:math:`s_{(1)} - s_{(2)}`, their sum, or the entropy of the routing weights for the
smoothing basis (``benchmarks/out_of_scope.py``), and it is what the ranking already
computes, in the units users read.

Two calibrations, from scores of queries the model was not fitted on:

- :func:`threshold_keeping`: from in-scope scores alone, the threshold that declines
  a stated fraction of them;
- :func:`threshold_separating`: from in-scope and out-of-scope scores, the threshold
  that maximises the fraction of in-scope queries kept plus the fraction of
  out-of-scope queries declined (Youden's :math:`J`).

Inputs are validated arrays; :func:`check_min_similarity` is the one check of a
threshold shared by every entry point.
"""

from numbers import Real

import numpy as np


def check_min_similarity(value, name="min_similarity"):
    """A threshold as a float in [-1, 1], or ``None``; a clear error otherwise.

    Parameters
    ----------
    value : float or None
        The threshold.
    name : str, default="min_similarity"
        The name the messages use.

    Returns
    -------
    threshold : float or None

    Raises
    ------
    TypeError
        If ``value`` is not a real number (``bool`` included).
    ValueError
        If it is NaN or outside [-1, 1], where no cosine similarity lies.

    Examples
    --------
    >>> check_min_similarity(0.5)
    0.5
    >>> check_min_similarity(1.5)
    Traceback (most recent call last):
    ...
    ValueError: min_similarity must be a cosine similarity in [-1, 1]; got 1.5.
    """
    if value is None:
        return None
    if not isinstance(value, Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be a number in [-1, 1] or None; got "
            f"{type(value).__name__} {value!r}."
        )
    value = float(value)
    if not -1.0 <= value <= 1.0:  # NaN fails both comparisons
        raise ValueError(
            f"{name} must be a cosine similarity in [-1, 1]; got {value!r}."
        )
    return value


def apply_min_similarity(indices, similarities, threshold):
    """Mark with ``-1`` the retrieved answers whose similarity is below ``threshold``.

    Parameters
    ----------
    indices : ndarray of shape (m, k), dtype=intp
        Ranked answer indices, best first.
    similarities : ndarray of shape (m, k)
        Their similarities, non-increasing along each row.
    threshold : float
        The least similarity of a kept answer.

    Returns
    -------
    indices : ndarray of shape (m, k), dtype=intp
        A copy, ``-1`` where ``similarities < threshold``. Since the similarities do
        not increase along a row, the kept answers are a prefix of the row, in the
        same order; a row whose first entry is ``-1`` is declined.

    Examples
    --------
    >>> import numpy as np
    >>> apply_min_similarity(np.array([[2, 0]]), np.array([[0.8, 0.3]]), 0.5).tolist()
    [[2, -1]]
    """
    kept = np.where(similarities >= threshold, indices, -1)
    return kept.astype(np.intp, copy=False)


def threshold_keeping(scores, decline_rate):
    """The threshold that declines at most a fraction ``decline_rate`` of ``scores``.

    With the scores sorted, :math:`s_{[0]} \\le \\dots \\le s_{[n-1]}`, the threshold
    is :math:`s_{[j]}` with :math:`j = \\lfloor r n \\rfloor`: at most :math:`j` scores
    lie below it. For a new score drawn from the same distribution the chance of
    falling below :math:`s_{[j]}` is :math:`j / (n + 1)`, about :math:`r`.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Confidences of in-scope queries the model was not fitted on, ``n >= 1``.
    decline_rate : float
        The fraction to decline, in (0, 1).

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> import numpy as np
    >>> threshold_keeping(np.array([0.9, 0.2, 0.5, 0.7]), 0.25)
    0.5
    """
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    j = min(int(np.floor(decline_rate * len(ordered))), len(ordered) - 1)
    return float(np.clip(ordered[j], -1.0, 1.0))


def threshold_separating(in_scope, out_of_scope):
    """The threshold that best separates in-scope from out-of-scope scores.

    Among the observed scores :math:`t`, the one that maximises

    .. math::

        J(t) = \\frac{|\\{i : s^{\\text{in}}_i \\ge t\\}|}{n_{\\text{in}}}
             + \\frac{|\\{j : s^{\\text{out}}_j < t\\}|}{n_{\\text{out}}} - 1,

    the fraction of in-scope queries kept plus the fraction of out-of-scope ones
    declined (Youden's :math:`J`, the point of the ROC curve farthest above the
    diagonal); the smallest such :math:`t` on ties, which declines least.

    Parameters
    ----------
    in_scope : ndarray of shape (n_in,)
        Confidences of in-scope queries the model was not fitted on.
    out_of_scope : ndarray of shape (n_out,)
        Confidences of out-of-scope queries.

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> import numpy as np
    >>> threshold_separating(np.array([0.8, 0.9, 0.6]), np.array([0.3, 0.65, 0.4]))
    0.6
    """
    s_in = np.sort(np.asarray(in_scope, dtype=np.float64))
    s_out = np.sort(np.asarray(out_of_scope, dtype=np.float64))
    candidates = np.unique(np.concatenate([s_in, s_out]))
    # J(t) times n_in * n_out, in integers: equal values compare equal.
    kept = len(s_in) - np.searchsorted(s_in, candidates, side="left")
    declined = np.searchsorted(s_out, candidates, side="left")
    best = int(np.argmax(kept * len(s_out) + declined * len(s_in)))  # smallest t
    return float(np.clip(candidates[best], -1.0, 1.0))
