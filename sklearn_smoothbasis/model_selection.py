"""Cross-validation for clustered question/answer data: the splitter, and the
calibration of the threshold below which a query is declined."""

import numbers
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import Bunch, check_array, check_random_state, indexable
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from ._declining import threshold_keeping, threshold_separating

__all__ = ["ClusterStratifiedKFold", "calibrate_min_similarity"]


class ClusterStratifiedKFold(BaseCrossValidator):
    """K-fold splitter stratified on cluster ids, keeping every test cluster trained.

    Unlike :class:`~sklearn.model_selection.StratifiedKFold`, the strata are
    the cluster ids passed as ``groups`` (``y`` is ignored, so 2-D embedding
    targets are fine), and small clusters are handled exactly instead of with
    a warning.

    Rule: the rows are ordered cluster by cluster and dealt to the folds in
    turn, like cards. Hence fold sizes differ by at most one, each cluster's
    number of test rows per fold differs by at most one, and a cluster with
    ``n_c < n_splits`` rows has at most one test row in any fold (it is tested
    in ``n_c`` folds, with its other ``n_c - 1`` rows in training). Clusters
    with a single row are never put into a test fold; they are always in
    training. So every cluster of a test fold has training rows in that split.

    ``groups`` are requested for ``split`` by default, so with
    ``sklearn.set_config(enable_metadata_routing=True)`` a meta-estimator such
    as :class:`~sklearn.model_selection.GridSearchCV` passes them on from
    ``fit(X, Y, groups=groups)``; without routing it always does.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    shuffle : bool, default=False
        Whether to shuffle the order of the clusters and of the rows within
        each cluster before dealing.
    random_state : int, RandomState instance or None, default=None
        Seed for the shuffling; only allowed when ``shuffle=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_smoothbasis.model_selection import ClusterStratifiedKFold
    >>> groups = [0, 0, 0, 1, 1, 2]
    >>> cv = ClusterStratifiedKFold(n_splits=3)
    >>> for train, test in cv.split(np.zeros((6, 1)), groups=groups):
    ...     print(train, test)
    [1 2 4 5] [0 3]
    [0 2 3 5] [1 4]
    [0 1 3 4 5] [2]
    """

    __metadata_request__split = {"groups": True}

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        if not isinstance(n_splits, numbers.Integral) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2; got {n_splits!r}.")
        if not shuffle and random_state is not None:
            raise ValueError(
                "Setting a random_state has no effect since shuffle is False; "
                "leave random_state=None or set shuffle=True."
            )
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def _fold_of_rows(self, groups):
        """Fold index of each row's test fold, -1 for singleton-cluster rows."""
        _, cluster, counts = np.unique(groups, return_inverse=True, return_counts=True)
        cluster = cluster.ravel()
        testable = counts[cluster] > 1
        order = np.arange(len(cluster))
        if self.shuffle:
            rng = check_random_state(self.random_state)
            cluster = rng.permutation(len(counts))[cluster]
            order = rng.permutation(order)
        order = order[np.argsort(cluster[order], kind="stable")]
        order = order[testable[order]]
        if len(order) < self.n_splits:
            raise ValueError(
                f"Cannot make {self.n_splits} folds from {len(order)} rows in "
                "clusters of at least 2 rows."
            )
        fold = np.full(len(cluster), -1)
        fold[order] = np.arange(len(order)) % self.n_splits
        return fold

    def split(self, X, y=None, groups=None):
        """Generate train/test indices, stratified on the clusters in ``groups``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : object, default=None
            Ignored; may be a 2-D target.
        groups : array-like of shape (n_samples,)
            Cluster id of each row. Required.

        Yields
        ------
        train : ndarray
            Training indices of the split.
        test : ndarray
            Test indices of the split.

        Examples
        --------
        >>> from sklearn_smoothbasis.model_selection import ClusterStratifiedKFold
        >>> cv = ClusterStratifiedKFold(2)
        >>> [test.tolist() for _, test in cv.split([[0]] * 4, groups=[7, 7, 8, 8])]
        [[0, 2], [1, 3]]
        """
        if groups is None:
            raise ValueError(
                "ClusterStratifiedKFold needs the cluster ids: pass groups to "
                "split(), or to fit(X, Y, groups=groups) of the meta-estimator."
            )
        X, y, groups = indexable(X, y, groups)  # checks consistent lengths
        if np.ndim(groups) != 1:
            raise ValueError("groups must be 1-D: one cluster id per row of X.")
        fold = self._fold_of_rows(np.asarray(groups))
        for k in range(self.n_splits):
            yield np.flatnonzero(fold != k), np.flatnonzero(fold == k)

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splits.

        Parameters
        ----------
        X, y, groups : object, default=None
            Ignored; present for API compatibility.

        Returns
        -------
        int
            ``n_splits``.

        Examples
        --------
        >>> from sklearn_smoothbasis.model_selection import ClusterStratifiedKFold
        >>> ClusterStratifiedKFold(3).get_n_splits()
        3
        """
        return self.n_splits


@validate_params(
    {
        "estimator": [HasMethods(["fit", "retrieve"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "groups": ["array-like"],
        "answers": ["array-like"],
        "X_oos": ["array-like", None],
        "decline_rate": [Interval(Real, 0, 1, closed="neither"), None],
        "cv": [Interval(Integral, 2, None, closed="left"), HasMethods(["split"])],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def calibrate_min_similarity(estimator, X, y, *, groups, answers, X_oos=None,
                             decline_rate=None, cv=5, random_state=None):
    """Choose the ``min_similarity`` of ``retrieve`` by cluster-stratified CV.

    The confidence of a query is the largest cosine similarity between its
    prediction and the answers (see ``retrieve``). In each fold, a clone of
    ``estimator`` is fitted on the other folds' questions and scores the held-out
    ones, routed (their cluster is not given), as new questions will be; every
    training question is scored once, by a model that did not see it. Then:

    - **without out-of-scope examples** (``X_oos=None``), the threshold is the
      similarity below which a fraction ``decline_rate`` of those held-out
      in-scope questions fall: the model declines about that fraction of new
      in-scope questions, and as many out-of-scope ones as the score separates;
    - **with out-of-scope examples**, each fold's model also scores every row of
      ``X_oos``, and the threshold maximises the fraction of in-scope questions
      kept plus the fraction of out-of-scope ones declined (Youden's :math:`J`).

    The fold models see fewer questions per cluster than a model fitted on all of
    ``X``, so their held-out scores are a little lower: applied to that model, the
    threshold declines somewhat fewer in-scope questions than ``decline_rate``
    (see the user guide for the measured gap). Cost: ``n_splits`` fits of
    ``estimator`` and their retrieval.

    Parameters
    ----------
    estimator : estimator
        An estimator of this package (fitted or not; it is cloned), with the
        parameters it will be used with.
    X : array-like of shape (n_samples, n_features)
        Training questions.
    y : array-like of shape (n_samples, n_targets)
        Their answers' embeddings.
    groups : array-like of shape (n_samples,)
        Cluster of each question.
    answers : array-like of shape (n_answers, n_targets)
        The answers ``retrieve`` ranks.
    X_oos : array-like of shape (n_oos, n_features), default=None
        Out-of-scope queries (no answer is right), if there are any.
    decline_rate : float, default=None
        Without ``X_oos``: the fraction of in-scope questions to decline, in
        (0, 1); ``None`` means 0.05. Not used with ``X_oos`` (an error if given).
    cv : int or cross-validation splitter, default=5
        Number of folds of :class:`ClusterStratifiedKFold` (shuffled with
        ``random_state``), or a splitter whose ``split(X, y, groups)`` is used.
    random_state : int, RandomState instance or None, default=None
        Seed of the folds' shuffle (an int ``cv`` only).

    Returns
    -------
    result : Bunch
        ``min_similarity`` (the threshold, a float in [-1, 1]), ``in_scope_scores``
        (the held-out confidences of the training questions, in the order of
        ``X``; NaN for the questions of single-question clusters, which are never
        held out), ``oos_scores`` (shape ``(n_splits, n_oos)``, or None),
        ``in_scope_declined`` and ``oos_declined`` (the fractions of those scores
        below the threshold; ``oos_declined`` is None without ``X_oos``).

    Examples
    --------
    >>> from sklearn_smoothbasis import MultiHeadRegressor
    >>> from sklearn_smoothbasis.datasets import load_faq_demo
    >>> from sklearn_smoothbasis.model_selection import calibrate_min_similarity
    >>> data = load_faq_demo()
    >>> calibration = calibrate_min_similarity(
    ...     MultiHeadRegressor(), data.X,
    ...     data.answers[data.groups], groups=data.groups, answers=data.answers,
    ...     decline_rate=0.1, cv=3, random_state=0)
    >>> round(calibration.in_scope_declined, 2)
    0.1
    >>> model = MultiHeadRegressor().fit(
    ...     data.X, data.answers[data.groups], groups=data.groups)
    >>> result = model.retrieve(data.X[:5], data.answers,
    ...                         min_similarity=calibration.min_similarity)
    >>> result.declined.shape
    (5,)
    """
    if X_oos is not None and decline_rate is not None:
        raise ValueError(
            "decline_rate is for calibration without out-of-scope examples; with "
            "X_oos the threshold is the one that best separates them from the "
            "in-scope questions. Pass one of the two."
        )
    X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    y = check_array(y, dtype=[np.float64, np.float32], input_name="y",
                    ensure_2d=False)
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != len(X) or len(y) != len(X):
        raise ValueError(
            f"X, y and groups must have one row per question; got {len(X)} rows of "
            f"X, {len(y)} of y and groups of shape {groups.shape}."
        )
    if X_oos is not None:
        X_oos = check_array(X_oos, dtype=[np.float64, np.float32], input_name="X_oos")
        if X_oos.shape[1] != X.shape[1]:
            raise ValueError(
                f"X_oos has {X_oos.shape[1]} columns but X has {X.shape[1]}; "
                "out-of-scope queries must be embedded as the questions are."
            )
    if isinstance(cv, Integral):
        cv = ClusterStratifiedKFold(cv, shuffle=True, random_state=random_state)
    in_scope = np.full(len(X), np.nan)
    oos = []
    for train, test in cv.split(X, y, groups):
        model = clone(estimator).fit(X[train], y[train], groups=groups[train])
        in_scope[test] = model.retrieve(X[test], answers).confidence
        if X_oos is not None:
            oos.append(model.retrieve(X_oos, answers).confidence)
    scored = in_scope[~np.isnan(in_scope)]
    if scored.size == 0:
        raise ValueError(
            "The folds of cv held out no training question, so there is nothing "
            "to calibrate on."
        )
    if X_oos is None:
        rate = 0.05 if decline_rate is None else decline_rate
        threshold = threshold_keeping(scored, rate)
        oos_scores, oos_declined = None, None
    else:
        oos_scores = np.vstack(oos)
        threshold = threshold_separating(scored, oos_scores.ravel())
        oos_declined = float(np.mean(oos_scores < threshold))
    return Bunch(
        min_similarity=threshold,
        in_scope_scores=in_scope,
        oos_scores=oos_scores,
        in_scope_declined=float(np.mean(scored < threshold)),
        oos_declined=oos_declined,
    )
