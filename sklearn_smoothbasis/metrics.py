"""Retrieval metrics and scorers for predicted answer embeddings.

A prediction ``Y_pred[i]`` is scored by ranking a set of candidate answer
embeddings by cosine similarity to it and looking up the rank of the row's own
target, the candidate equal to ``Y_true[i]``.

By default the candidates are the distinct rows of ``Y_true``, so the scorers
below rank against the distinct targets of the test fold when used in
cross-validation. A scorer calls ``estimator.predict(X)`` without ``groups``:
the estimator has to route each query itself, which is the retrieval setting.

The ranking metrics also accept what an estimator's ``retrieve`` returns in place
of ``Y_pred``; ``Y_true`` is then the index of each row's own answer among the
answers that were ranked, so evaluating a model is one line::

    recall_at_k(answer_index, model.retrieve(X_test, answers, k=5), k=5)

Conventions
-----------
* The cosine similarity involving a zero-norm row is defined as 0.
* Ties count against the row: the rank of the own target is the number of
  candidates whose similarity is greater than **or equal to** its own
  similarity. A constant prediction therefore ranks every target last.
  (A ``retrieve`` result is ranked already, ties broken by index: the rank is the
  own answer's position in it.)
"""

import numbers

import numpy as np
from sklearn.metrics import make_scorer
from sklearn.utils import check_array, check_consistent_length

from ._linalg import unit_rows
from ._ranking import RetrievalResult, ranks_of_targets, target_indices

__all__ = [
    "recall_at_k",
    "mean_reciprocal_rank",
    "mean_cosine_similarity",
    "recall_at_1_scorer",
    "mrr_scorer",
    "mean_cosine_scorer",
    "RETRIEVAL_SCORERS",
    "get_retrieval_scorer",
]


def _check_embeddings(Y, name):
    """Validate a finite 2-D array of embeddings (float32 is preserved)."""
    Y = check_array(
        Y, dtype=(np.float64, np.float32), ensure_2d=False, allow_nd=True,
        input_name=name,
    )
    if Y.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of embeddings of shape "
            f"(n_samples, n_features); got a {Y.ndim}-D array."
        )
    return Y


def _check_same_width(A, B, name_a, name_b):
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of columns; "
            f"got {A.shape[1]} and {B.shape[1]}."
        )


def _check_pair(Y_true, Y_pred):
    Y_true = _check_embeddings(Y_true, "Y_true")
    Y_pred = _check_embeddings(Y_pred, "Y_pred")
    check_consistent_length(Y_true, Y_pred)
    _check_same_width(Y_true, Y_pred, "Y_true", "Y_pred")
    return Y_true, Y_pred


def _true_ranks(Y_true, Y_pred, candidates=None):
    """1-based rank of each row's own target among the candidates.

    Similarities are computed in chunks of rows whose size follows
    ``sklearn.get_config()["working_memory"]``, so memory stays bounded.
    """
    Y_true, Y_pred = _check_pair(Y_true, Y_pred)
    if candidates is None:
        candidates, target = np.unique(Y_true, axis=0, return_inverse=True)
        target = target.ravel()
    else:
        candidates = _check_embeddings(candidates, "candidates")
        _check_same_width(Y_true, candidates, "Y_true", "candidates")
        target = target_indices(Y_true, candidates)
    return ranks_of_targets(Y_pred, candidates, target)


def _retrieved_ranks(answer_index, retrieved, candidates):
    """1-based position of each row's own answer in a ``retrieve`` result, ``inf``
    when it is not among the retrieved answers."""
    if candidates is not None:
        raise ValueError(
            "candidates cannot be given with a retrieve result: the answers were "
            "ranked by retrieve already."
        )
    indices = np.asarray(retrieved.indices)
    if indices.ndim != 2 or indices.dtype.kind not in "iu":
        raise ValueError(
            "The indices of a retrieve result must be a 2-D integer array; got "
            f"dtype {indices.dtype} and shape {indices.shape}."
        )
    answer_index = np.asarray(answer_index)
    if answer_index.ndim != 1 or answer_index.dtype.kind not in "iu":
        raise ValueError(
            "With a retrieve result, Y_true must be the index of each row's own "
            "answer among the ranked answers: a 1-D integer array; got dtype "
            f"{answer_index.dtype} and shape {answer_index.shape}."
        )
    if answer_index.shape[0] != indices.shape[0]:
        raise ValueError(
            f"Y_true has {answer_index.shape[0]} answer indices but the retrieve "
            f"result has {indices.shape[0]} rows; they must have the same length."
        )
    hit = indices == answer_index[:, None]
    position = np.argmax(hit, axis=1) + 1.0
    position[~hit.any(axis=1)] = np.inf
    return position


def _ranks(Y_true, Y_pred, candidates):
    if isinstance(Y_pred, RetrievalResult):
        return _retrieved_ranks(Y_true, Y_pred, candidates)
    return _true_ranks(Y_true, Y_pred, candidates)


def recall_at_k(Y_true, Y_pred, *, candidates=None, k=1):
    """Fraction of rows whose own target is among the top ``k`` candidates.

    Candidates are ranked by cosine similarity to ``Y_pred[i]``; the own
    target of row ``i`` is the candidate equal to ``Y_true[i]``. Ties count
    against the row (see the module docstring).

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_features) or (n_samples,)
        True answer embeddings; with a ``retrieve`` result, the integer index of
        each row's own answer among the ranked answers.
    Y_pred : array-like of shape (n_samples, n_features) or RetrievalResult
        Predicted answer embeddings, or what an estimator's ``retrieve`` returned
        (it must hold at least ``k`` answers per row).
    candidates : array-like of shape (n_candidates, n_features), default=None
        Distinct candidate embeddings; every row of ``Y_true`` must equal one
        of them. Defaults to the distinct rows of ``Y_true``. Not used with a
        ``retrieve`` result.
    k : int, default=1
        Number of top-ranked candidates that count as a hit.

    Returns
    -------
    float
        Recall at ``k``, in [0, 1].

    Examples
    --------
    >>> from sklearn_smoothbasis.metrics import recall_at_k
    >>> Y_true = [[1, 0], [0, 1], [-1, 0]]
    >>> Y_pred = [[1, 0.1], [1, 0.2], [-1, 0.5]]
    >>> float(recall_at_k(Y_true, Y_pred))
    0.6666666666666666
    >>> float(recall_at_k(Y_true, Y_pred, k=2))
    1.0
    """
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an integer >= 1; got {k!r}.")
    if isinstance(Y_pred, RetrievalResult) and np.shape(Y_pred.indices)[-1] < k:
        raise ValueError(
            f"recall_at_k with k={k} needs a retrieve result with at least {k} "
            f"answers per row; it has {np.shape(Y_pred.indices)[-1]}."
        )
    return float(np.mean(_ranks(Y_true, Y_pred, candidates) <= k))


def mean_reciprocal_rank(Y_true, Y_pred, *, candidates=None):
    """Mean over rows of ``1 / rank`` of the own target among the candidates.

    Ranking, candidates and ties follow :func:`recall_at_k`.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_features) or (n_samples,)
        True answer embeddings; with a ``retrieve`` result, the integer index of
        each row's own answer among the ranked answers.
    Y_pred : array-like of shape (n_samples, n_features) or RetrievalResult
        Predicted answer embeddings, or what an estimator's ``retrieve`` returned.
        A row whose own answer is not among the retrieved ones counts ``0``
        (the mean reciprocal rank at the ``k`` of ``retrieve``; equal to the full
        one when ``k`` is the number of answers).
    candidates : array-like of shape (n_candidates, n_features), default=None
        Distinct candidate embeddings; defaults to the distinct rows of
        ``Y_true``. Not used with a ``retrieve`` result.

    Returns
    -------
    float
        Mean reciprocal rank, in [0, 1].

    Examples
    --------
    >>> from sklearn_smoothbasis.metrics import mean_reciprocal_rank
    >>> Y_true = [[1, 0], [0, 1]]
    >>> Y_pred = [[1, 0.1], [1, 0.2]]
    >>> float(mean_reciprocal_rank(Y_true, Y_pred))
    0.75
    """
    return float(np.mean(1.0 / _ranks(Y_true, Y_pred, candidates)))


def mean_cosine_similarity(Y_true, Y_pred):
    """Mean row-wise cosine similarity between ``Y_true`` and ``Y_pred``.

    The cosine involving a zero-norm row is 0.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_features)
        True answer embeddings.
    Y_pred : array-like of shape (n_samples, n_features)
        Predicted answer embeddings.

    Returns
    -------
    float
        Mean cosine similarity, in [-1, 1].

    Examples
    --------
    >>> from sklearn_smoothbasis.metrics import mean_cosine_similarity
    >>> float(mean_cosine_similarity([[1, 0], [0, 1]], [[2, 0], [1, 0]]))
    0.5
    """
    Y_true, Y_pred = _check_pair(Y_true, Y_pred)
    cosines = np.einsum("ij,ij->i", unit_rows(Y_true), unit_rows(Y_pred))
    return float(np.mean(cosines))


recall_at_1_scorer = make_scorer(recall_at_k, greater_is_better=True)
mrr_scorer = make_scorer(mean_reciprocal_rank, greater_is_better=True)
mean_cosine_scorer = make_scorer(mean_cosine_similarity, greater_is_better=True)

#: Scorers by name; usable as ``GridSearchCV(scoring=RETRIEVAL_SCORERS,
#: refit="mrr")`` for multi-metric search.
RETRIEVAL_SCORERS = {
    "recall_at_1": recall_at_1_scorer,
    "mrr": mrr_scorer,
    "mean_cosine": mean_cosine_scorer,
}


def get_retrieval_scorer(name):
    """Return the retrieval scorer registered under ``name``.

    Parameters
    ----------
    name : {"recall_at_1", "mrr", "mean_cosine"}
        Scorer name.

    Returns
    -------
    callable
        A scorer ``scorer(estimator, X, Y)`` for ``GridSearchCV(scoring=...)``;
        it calls ``estimator.predict(X)`` and ranks against the distinct rows
        of ``Y``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyRegressor
    >>> from sklearn_smoothbasis.metrics import get_retrieval_scorer
    >>> X, Y = np.zeros((2, 1)), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> scorer = get_retrieval_scorer("mrr")
    >>> float(scorer(DummyRegressor().fit(X, Y), X, Y))  # tie -> both rank 2
    0.5
    """
    try:
        return RETRIEVAL_SCORERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown retrieval scorer {name!r}; valid names are "
            f"{sorted(RETRIEVAL_SCORERS)}."
        ) from None
