"""The comparison protocol: split, tune every method alike, score held-out queries.

1. Each cluster's questions are split into ``n_train`` training questions and held-out
   questions (:func:`retrieval_split`); a dataset with no more than ``n_train``
   questions per cluster but separate queries trains on all questions and tests on
   the queries (:func:`split_dataset`).
2. Every method is tuned by :class:`~sklearn.model_selection.GridSearchCV` on the
   training rows only, with the same folds (:class:`ClusterStratifiedKFold`, every test
   cluster keeps training rows) and the same scorer (Recall@1 of routed predictions
   among the fold's answers). Groups reach ``fit`` through metadata routing
   (:func:`tune`). The smoothing basis is tuned by
   :class:`~sklearn_smoothbasis.SmoothingBasisRegressorCV` on the same folds, which
   scores and chooses as that grid search would, with less work.
3. The refitted best model predicts the held-out questions *routed* (their cluster is
   not given) and is scored by Recall@1, MRR and mean cosine against all answers
   (:func:`compare_retrieval`).
4. Optionally, declining (:func:`score_declining`): the threshold below which a query
   is declined is chosen on the training questions alone by cluster-stratified CV
   (and, where out-of-scope validation queries are given, from them too), and the
   held-out questions and out-of-scope test queries are scored with it.

Which methods and grids are compared is :func:`search_spaces`' business; how the
results are shown, :func:`format_table` and :func:`plot_table`'s.
"""

import time
from numbers import Integral

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, ParameterGrid
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._declining import threshold_keeping, threshold_separating
from .._smoothing_basis import SmoothingBasisRegressor
from .._smoothing_basis_cv import SmoothingBasisRegressorCV
from ..metrics import (
    mean_cosine_similarity,
    mean_reciprocal_rank,
    recall_at_1_scorer,
    recall_at_k,
)
from ..model_selection import ClusterStratifiedKFold, calibrate_min_similarity

_SPLIT_CONSTRAINTS = {
    "n_train": [Interval(Integral, 1, None, closed="left")],
    "max_test": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
}


@validate_params(
    {"groups": ["array-like"], **_SPLIT_CONSTRAINTS}, prefer_skip_nested_validation=True
)
def retrieval_split(groups, *, n_train=3, max_test=None, random_state=None):
    """Split row indices: ``n_train`` training rows per cluster, the rest held out.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Cluster of each row.
    n_train : int, default=3
        Training rows per cluster (all rows of smaller clusters go to training).
    max_test : int, default=None
        Keep at most this many held-out rows, drawn at random.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffles.

    Returns
    -------
    train, test : ndarray of int
        Row indices.

    Examples
    --------
    >>> train, test = retrieval_split([0, 0, 0, 1, 1], n_train=2, random_state=0)
    >>> len(train), len(test)
    (4, 1)
    """
    rng = check_random_state(random_state)
    groups = np.asarray(groups)
    train, test = [], []
    for label in np.unique(groups):
        rows = np.flatnonzero(groups == label)
        rng.shuffle(rows)
        train.append(rows[:n_train])
        test.append(rows[n_train:])
    train, test = np.sort(np.concatenate(train)), np.concatenate(test)
    if max_test is not None and len(test) > max_test:
        test = rng.choice(test, max_test, replace=False)
    return train, np.sort(test)


@validate_params(
    {"data": [Bunch], **_SPLIT_CONSTRAINTS}, prefer_skip_nested_validation=True
)
def split_dataset(data, *, n_train=3, max_test=None, random_state=None):
    """Training and held-out questions of a dataset, as step 1 of the protocol.

    Parameters
    ----------
    data : Bunch
        A dataset of :mod:`sklearn_smoothbasis.datasets`: ``X`` and ``groups``, and
        optionally ``X_query`` and ``groups_query`` (separate queries).
    n_train : int, default=3
        Training questions per cluster.
    max_test : int, default=None
        Keep at most this many held-out questions, drawn at random.
    random_state : int, RandomState instance or None, default=None
        Seed of :func:`retrieval_split`.

    Returns
    -------
    X_train, groups_train, X_test, groups_test : ndarray
        The questions and clusters of each side. A held-out question whose
        embedding is also a training question's (the same text in two clusters)
        is left out: it would test memory, not retrieval, so there may be fewer
        than ``max_test``. A dataset with no more than ``n_train`` questions per
        cluster and separate queries trains on all its questions and tests on the
        queries.

    Raises
    ------
    ValueError
        If no cluster has more than ``n_train`` questions and there are no queries:
        nothing would be left to evaluate on.

    Examples
    --------
    >>> from sklearn_smoothbasis.datasets import load_faq_demo
    >>> X_train, g_train, X_test, g_test = split_dataset(
    ...     load_faq_demo(), random_state=0)
    >>> X_train.shape, X_test.shape
    ((147, 384), (194, 384))
    """
    counts = np.bincount(data.groups)
    if counts.max() <= n_train and getattr(data, "X_query", None) is not None:
        return data.X, data.groups, data.X_query, data.groups_query
    train, test = retrieval_split(data.groups, n_train=n_train, max_test=max_test,
                                  random_state=random_state)
    training_rows = {row.tobytes() for row in data.X[train]}
    in_training = np.array([data.X[i].tobytes() in training_rows for i in test],
                           dtype=bool)
    if len(test) and in_training.all():
        raise ValueError(
            "Every held-out question is also a training question (the same embedding, "
            "in another cluster), so nothing is left to evaluate on."
        )
    test = test[~in_training]
    if len(test) == 0:
        remedy = (
            "every cluster has one question, so give held-out queries (X_query and "
            "groups_query in an .npz)" if counts.max() == 1
            else f"lower n_train (the largest cluster has {counts.max()})"
        )
        raise ValueError(
            f"No cluster has more than n_train={n_train} questions, so nothing is left "
            f"to evaluate on; {remedy}."
        )
    return data.X[train], data.groups[train], data.X[test], data.groups[test]


def tune(estimator, param_grid, X, Y, groups, *, cv=3, random_state=0):
    """Grid search by routed Recall@1 on cluster-stratified folds, groups routed to fit.

    Parameters
    ----------
    estimator : estimator
        A cluster-aware regressor of this package.
    param_grid : dict
        Grid of :class:`~sklearn.model_selection.GridSearchCV`.
    X, Y : ndarray of shape (n, d) and (n, p)
        Training questions and their answers.
    groups : ndarray of shape (n,)
        Cluster of each row; reaches the splitter and ``fit`` by metadata routing.
    cv : int, default=3
        Folds of :class:`ClusterStratifiedKFold`.
    random_state : int, default=0
        Seed of the folds.

    Returns
    -------
    model : estimator
        The best candidate, refitted on all rows.
    params : dict
        Its parameters.
    refit_seconds : float
        Time of the refit.
    """
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            estimator, param_grid, scoring=recall_at_1_scorer,
            cv=ClusterStratifiedKFold(cv, shuffle=True, random_state=random_state),
        ).fit(X, Y, groups=groups)
    return search.best_estimator_, search.best_params_, search.refit_time_


def compare_retrieval(X_train, groups_train, X_test, groups_test, answers, *, spaces,
                      cv=3, random_state=0, progress=None, decline_rate=None,
                      X_oos=None, X_oos_val=None):
    """Tune each method on the training rows and score its routed held-out predictions.

    Parameters
    ----------
    X_train : ndarray of shape (n_train, d)
        Training question embeddings.
    groups_train : ndarray of shape (n_train,)
        Their clusters, integers indexing ``answers``.
    X_test : ndarray of shape (n_test, d)
        Held-out question embeddings.
    groups_test : ndarray of shape (n_test,)
        Their clusters.
    answers : ndarray of shape (n_clusters, p)
        One answer embedding per cluster: the targets and the retrieval candidates.
    spaces : dict
        ``method -> (estimator, param_grid)``, as returned by :func:`search_spaces`.
        A :class:`~sklearn_smoothbasis.SmoothingBasisRegressorCV` (with an empty
        grid) searches its own candidates on the same folds as the grid searches.
    cv : int, default=3
        Folds of the cluster-stratified cross-validation. When no cluster has two
        training rows, nothing can be held out and every method keeps its defaults
        (a :class:`~sklearn_smoothbasis.SmoothingBasisRegressorCV` becomes a
        :class:`~sklearn_smoothbasis.SmoothingBasisRegressor` with its fixed
        parameters).
    random_state : int, default=0
        Seed of the folds.
    progress : callable, default=None
        Called with a line of text before and after each method.
    decline_rate : float, default=None
        Score declining (:func:`score_declining`) with the threshold that declines
        this fraction of held-out training questions in cross-validation. ``None``
        scores no declining, unless ``X_oos`` is given (then 0.05).
    X_oos : ndarray of shape (n_oos, d), default=None
        Out-of-scope test queries: no answer is right for them.
    X_oos_val : ndarray of shape (n_oos_val, d), default=None
        Out-of-scope validation queries, for a second threshold chosen with them.

    Returns
    -------
    rows : list of dict
        One per method, in the order of ``spaces``: ``method`` (its key in
        ``spaces``), ``params`` (the chosen value of each parameter that had more
        than one candidate), ``recall_at_1``, ``mrr``,
        ``mean_cosine``, ``fit_seconds`` (refit on all training rows) and
        ``tune_seconds`` (the whole search); with declining, also ``declining``,
        the dict of :func:`score_declining`.
    """
    answers = np.asarray(answers)
    Y_train, Y_test = answers[groups_train], answers[groups_test]
    can_tune = np.bincount(np.unique(groups_train, return_inverse=True)[1]).max() >= 2
    rows = []
    for step, (method, (estimator, grid)) in enumerate(spaces.items(), start=1):
        self_tuning = isinstance(estimator, SmoothingBasisRegressorCV)
        if self_tuning and not can_tune:  # nothing to hold out: its fixed parameters
            estimator = SmoothingBasisRegressor(
                cosine_weight=estimator.cosine_weights[0], **{
                    k: v for k, v in estimator.get_params().items()
                    if k in SmoothingBasisRegressor().get_params()
                })
            self_tuning = False
        n_candidates = (
            _n_candidates(estimator, X_train.shape[1], answers.shape[1]) if self_tuning
            else int(np.prod([len(v) for v in grid.values()])) if grid else 1
        )
        if progress:
            folds = (f"x {cv} folds" if can_tune and (grid or self_tuning)
                     else "(no tuning)")
            progress(f"[{step}/{len(spaces)}] {method}: {n_candidates} candidates "
                     f"{folds} ...")
        start = time.perf_counter()
        if self_tuning:
            model = clone(estimator).set_params(
                cv=ClusterStratifiedKFold(cv, shuffle=True, random_state=random_state)
            ).fit(X_train, Y_train, groups=groups_train)
            params = _searched_params(model)
            fit_seconds = time.perf_counter() - start - model.search_seconds_
        elif can_tune and grid:
            model, params, fit_seconds = tune(
                estimator, grid, X_train, Y_train, groups_train, cv=cv,
                random_state=random_state,
            )
        else:
            model = clone(estimator).fit(X_train, Y_train, groups=groups_train)
            params, fit_seconds = {}, time.perf_counter() - start
        tune_seconds = time.perf_counter() - start
        Y_pred = model.predict(X_test)  # routed: the query's cluster is not given
        rows.append({
            "method": method,
            "params": params,
            "recall_at_1": recall_at_k(Y_test, Y_pred, candidates=answers, k=1),
            "mrr": mean_reciprocal_rank(Y_test, Y_pred, candidates=answers),
            "mean_cosine": mean_cosine_similarity(Y_test, Y_pred),
            "fit_seconds": fit_seconds,
            "tune_seconds": tune_seconds,
        })
        if progress:
            progress(f"      done in {tune_seconds:.1f}s: "
                     f"Recall@1 {rows[-1]['recall_at_1']:.3f}")
        if decline_rate is not None or X_oos is not None:
            rows[-1]["declining"] = score_declining(
                model, X_train, groups_train, X_test, groups_test, answers,
                decline_rate=0.05 if decline_rate is None else decline_rate,
                X_oos=X_oos, X_oos_val=X_oos_val, cv=cv if can_tune else None,
                random_state=random_state,
            )
    return rows


def _n_candidates(model, n_features, n_targets):
    """Number of candidates a SmoothingBasisRegressorCV will score."""
    return len(ParameterGrid(model._grid(n_features, n_targets)))


def _searched_params(model):
    """The chosen value of each parameter a fitted SmoothingBasisRegressorCV had
    more than one candidate for."""
    return {
        name: value for name, value in model.best_params_.items()
        if len({repr(v) for v in model.cv_results_[f"param_{name}"]}) > 1
    }


def score_declining(model, X_train, groups_train, X_test, groups_test, answers, *,
                    decline_rate=0.05, X_oos=None, X_oos_val=None, cv=3,
                    random_state=0):
    """Declining by a fitted model: thresholds from training data, and their scores.

    The confidence of a query is the largest cosine similarity between its routed
    prediction and the answers; a query below the threshold is declined. The
    threshold is chosen by
    :func:`~sklearn_smoothbasis.model_selection.calibrate_min_similarity` on the
    training questions alone (``decline_rate`` of them declined in
    cluster-stratified CV with ``model``'s parameters) and, given ``X_oos_val``, a
    second one from the held-out training questions and those out-of-scope
    queries. Each is applied to ``model``.

    Parameters
    ----------
    model : estimator
        Fitted on ``X_train``. A
        :class:`~sklearn_smoothbasis.SmoothingBasisRegressorCV` is calibrated at
        the parameters it chose (its ``best_estimator_``), without repeating its
        search in every fold.
    X_train, groups_train : ndarray
        Its training questions and their clusters (integers indexing ``answers``).
    X_test, groups_test : ndarray
        Held-out in-scope questions and their clusters.
    answers : ndarray of shape (n_clusters, p)
        The answers ranked.
    decline_rate : float, default=0.05
        Fraction of held-out training questions the first threshold declines.
    X_oos : ndarray of shape (n_oos, d), default=None
        Out-of-scope test queries.
    X_oos_val : ndarray of shape (n_oos_val, d), default=None
        Out-of-scope validation queries, for the second threshold.
    cv : int or None, default=3
        Folds of the calibration; ``None`` (no cluster has two training
        questions, so none can be held out) calibrates on the training questions
        scored by ``model`` itself, whose scores are higher than new questions'
        (the threshold then declines more than ``decline_rate``), and says so in
        ``note``.
    random_state : int, default=0
        Seed of the folds.

    Returns
    -------
    result : dict
        ``auroc`` (in-scope held-out vs out-of-scope test confidences, None without
        ``X_oos``) and, for each threshold, keyed ``"train"`` and
        ``"oos_val"``: a dict of ``min_similarity``, ``recall_at_1`` (held-out
        questions: declined counts as a miss), ``in_scope_declined`` (fraction of
        held-out questions declined) and ``oos_declined`` (fraction of ``X_oos``
        declined, the out-of-scope recall; None without it); ``note``.
    """
    if isinstance(model, SmoothingBasisRegressorCV):
        # Calibrated at the parameters it chose, not by its search in every fold.
        model = model.best_estimator_
    answer_index = np.asarray(groups_test)
    scores_in = model.retrieve(X_test, answers).confidence
    scores_oos = None if X_oos is None else model.retrieve(X_oos, answers).confidence
    note = ""
    thresholds = {}
    Y_train = np.asarray(answers)[groups_train]
    if cv is None:
        note = ("no cluster has two training questions to hold one out: thresholds "
                "chosen on the training questions scored by the model fitted on "
                "them, whose scores are higher than new questions'")
        seen = model.retrieve(X_train, answers).confidence
        thresholds["train"] = threshold_keeping(seen, decline_rate)
        if X_oos_val is not None:
            thresholds["oos_val"] = threshold_separating(
                seen, model.retrieve(X_oos_val, answers).confidence)
    else:
        thresholds["train"] = calibrate_min_similarity(
            model, X_train, Y_train, groups=groups_train, answers=answers,
            decline_rate=decline_rate, cv=cv, random_state=random_state,
        ).min_similarity
        if X_oos_val is not None:
            thresholds["oos_val"] = calibrate_min_similarity(
                model, X_train, Y_train, groups=groups_train, answers=answers,
                X_oos=X_oos_val, cv=cv, random_state=random_state,
            ).min_similarity
    result = {"auroc": None, "note": note}
    if X_oos is not None:
        labels = np.r_[np.ones(len(scores_in)), np.zeros(len(scores_oos))]
        result["auroc"] = float(roc_auc_score(labels, np.r_[scores_in, scores_oos]))
    for key, threshold in thresholds.items():
        result[key] = {
            "min_similarity": threshold,
            "recall_at_1": recall_at_k(
                answer_index,
                model.retrieve(X_test, answers, min_similarity=threshold),
            ),
            "in_scope_declined": float(np.mean(scores_in < threshold)),
            "oos_declined": None if X_oos is None
            else float(np.mean(scores_oos < threshold)),
        }
    return result
