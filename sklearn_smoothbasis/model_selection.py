"""Cross-validation for clustered question/answer data: the splitter, the
one-standard-error rule of choosing a candidate, and the calibration of the
threshold below which a query is declined."""

import numbers
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import Bunch, check_array, check_random_state, indexable
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from ._declining import threshold_keeping, threshold_separating
from ._prior import simplest_within_one_standard_error

__all__ = [
    "ClusterStratifiedKFold",
    "calibrate_min_similarity",
    "one_standard_error_refit",
]


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


def _same_candidate(params, reference):
    """Whether a candidate's ``params`` hold every value of ``reference``."""
    return all(
        name in params and (params[name] is value or (
            type(params[name]) is type(value) and params[name] == value)
            or (isinstance(value, Real) and not isinstance(value, str)
                and isinstance(params[name], Real) and params[name] == value))
        for name, value in reference.items()
    )


def one_standard_error_refit(reference):
    r"""The one-standard-error rule toward a reference candidate, as a ``refit``.

    Returns a callable for the ``refit`` of
    :class:`~sklearn.model_selection.GridSearchCV` (it takes ``cv_results_`` and
    returns the index of the candidate to refit). With :math:`s_c(f)` the score of
    candidate :math:`c` on fold :math:`f` (:math:`F` folds) and :math:`b` the
    candidate of best mean score, it keeps the reference candidate :math:`r`
    unless

    .. math::

        \bar s_b - \bar s_r > \frac{\operatorname{sd}_f\big(s_b(f) -
        s_r(f)\big)}{\sqrt F},

    that is unless the best beats it by more than the standard error of their
    paired difference over the folds; then it takes the best (the rule of
    :func:`~sklearn_smoothbasis._prior.simplest_within_one_standard_error`, with
    the reference as the simplest candidate). Cross-validation on a few dozen
    held-out questions per fold scores Recall@1 with an error of a point or two,
    more than what separates neighbouring candidates: a rule that moves away from
    a good reference (for example the estimator's defaults) only on clear evidence
    chooses a better model on average (see the user guide).

    Parameters
    ----------
    reference : dict
        The reference candidate's parameters, as they appear in
        ``cv_results_["params"]`` (every name of it must be searched).

    Returns
    -------
    refit : callable
        ``refit(cv_results) -> int``, the index of the chosen candidate. It raises
        a ValueError when no candidate has the reference's parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_smoothbasis.model_selection import one_standard_error_refit
    >>> cv_results = {
    ...     "params": [{"alpha": 0.1}, {"alpha": 1.0}],
    ...     "split0_test_score": np.array([0.90, 0.85]),
    ...     "split1_test_score": np.array([0.80, 0.85]),
    ...     "mean_test_score": np.array([0.85, 0.85])}
    >>> one_standard_error_refit({"alpha": 1.0})(cv_results)  # a tie: the reference
    1
    >>> cv_results["split1_test_score"] = np.array([0.95, 0.85])
    >>> cv_results["mean_test_score"] = np.array([0.925, 0.85])
    >>> one_standard_error_refit({"alpha": 1.0})(cv_results)  # better on every fold
    0
    """
    reference = dict(reference)

    def refit(cv_results):
        params = cv_results["params"]
        matches = [i for i, p in enumerate(params) if _same_candidate(p, reference)]
        if not matches:
            raise ValueError(
                f"No candidate has the reference parameters {reference}: the "
                "one-standard-error rule needs the reference among the candidates."
            )
        n_folds = sum(key.startswith("split") and key.endswith("_test_score")
                      for key in cv_results)
        fold_scores = np.array(
            [cv_results[f"split{f}_test_score"] for f in range(n_folds)], dtype=float
        )
        mean = np.asarray(cv_results["mean_test_score"], dtype=float)
        # The reference first, then every candidate by decreasing mean score (ties
        # in the grid's order): the rule keeps the reference unless the best beats
        # it by more than one standard error, and then takes the best.
        order = [matches[0]] + [int(i) for i in np.argsort(-mean, kind="stable")
                                if i != matches[0]]
        choice, _ = simplest_within_one_standard_error(
            {str(i): fold_scores[:, i] for i in order}
        )
        return int(choice)

    return refit


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
