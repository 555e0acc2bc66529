"""SmoothingBasisRegressorCV: the smoothing basis with efficient built-in CV."""

import itertools
import time
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.sparse import issparse
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import _NO_GROUPS_MESSAGE, NoGroupsWarning
from ._smoothing_basis import SmoothingBasisRegressor
from .metrics import recall_at_k
from .model_selection import (
    ClusterStratifiedKFold,
    _same_candidate,
    one_standard_error_refit,
)

# The parameters the search goes over, as the grid names them (GridSearchCV's order:
# sorted by name, the last varies fastest), with the constructor parameter that holds
# each one's candidates.
_SEARCHED = {
    "alpha": "alphas",
    "cosine_weight": "cosine_weights",
    "prior": "priors",
    "routing_shrinkage": "routing_shrinkages",
    "routing_temperature": "routing_temperatures",
}
_PRIORS = ("identity", "shared", "contrastive")
_CANDIDATE_PRIORS = (*_PRIORS, "auto")
# The constructor parameters of SmoothingBasisRegressor that the search keeps fixed.
_FIXED = (
    "n_basis", "basis_rank", "lr", "solver", "init", "max_iter", "tol",
    "reorth_interval", "prior_alpha", "smoothness",
    "sparsity", "smoothness_neighbors", "routing",
    "n_jobs", "random_state", "verbose",
)


def _is_real(value):
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _check_candidates(name, values, accept, what):
    """The candidates of one searched parameter as a list; ValueError naming the
    parameter and the bad value unless there is at least one and ``accept`` takes
    each."""
    values = list(values) if not isinstance(values, str) else [values]
    if not values:
        raise ValueError(f"{name} is empty; give at least one candidate ({what}).")
    for value in values:
        if not accept(value):
            raise ValueError(f"{name} must hold {what}; got {value!r}.")
    return values


class SmoothingBasisRegressorCV(RegressorMixin, BaseEstimator):
    r""":class:`SmoothingBasisRegressor` with built-in efficient cross-validation.

    Chooses ``alpha``, ``prior``, ``cosine_weight``, ``routing_temperature`` and
    ``routing_shrinkage`` of a :class:`SmoothingBasisRegressor` by
    cross-validation on cluster-stratified folds, as
    :class:`~sklearn.model_selection.GridSearchCV` over the grid of their candidates
    with the routed Recall@1 scorer would, and refits the best candidate on all
    rows. It scores exactly what that search scores: each fold's held-out rows are
    predicted *routed* (their cluster is not given) and a candidate's score on the
    fold is the Recall@1 of their own target among the fold's distinct targets
    (:data:`~sklearn_smoothbasis.metrics.recall_at_1_scorer`); candidates are ranked
    by the mean over the folds, ties going to the first in the grid's order.

    What it does not redo, in the manner of :class:`~sklearn.linear_model.RidgeCV`
    and :class:`~sklearn.linear_model.LassoCV`:

    - the prior (its ``prior_alpha`` search and the contrastive refinement) depends
      on neither ``alpha`` nor the routing: it is fitted once per fold, cosine
      weight and candidate prior;
    - the ``alphas`` are visited from the largest to the smallest along a
      warm-started path (``alpha_path="warm"``): the solver for each alpha starts
      from the previous alpha's basis instead of a new initial basis;
      ``alpha_path="cold"`` starts each from its own initial basis, exactly the fits
      the plain grid search makes;
    - the routing (``routing_temperature`` and ``routing_shrinkage``) acts only at
      prediction: every routing setting is scored from one fit, the whitening of
      each shrinkage computed once per fold.

    For :math:`F` folds, :math:`P` priors, :math:`W` cosine weights and :math:`A`
    alphas it runs :math:`F P W` prior fits and :math:`F P W A` solver runs, where
    the grid search runs :math:`F P W A S T` of each (:math:`S` shrinkages,
    :math:`T` temperatures), plus one full fit on all rows.

    Parameters
    ----------
    alphas : array-like of float, default=(0.1, 0.3, 1.0, 3.0)
        Candidates of ``alpha``, the pull of each cluster's map toward the prior
        (non-negative).
    priors : "all" or list, default="all"
        Candidates of ``prior``, each ``"identity"``, ``"shared"``,
        ``"contrastive"``, ``"auto"`` (chosen inside each fit by its own criterion)
        or None (no prior). ``"all"`` is ``["identity", "shared", "contrastive"]``,
        without ``"identity"`` when ``n_features != n_targets``. Cross-validation
        is biased against the contrastive prior (each fold's clusters have one
        question fewer than the final fit, which costs it more than the others;
        see the user guide), so where that matters search ``["auto"]`` or one
        prior.
    cosine_weights : array-like of float, default=(0.5,)
        Candidates of ``cosine_weight``, each in [0, 1].
    routing_temperatures : array-like of float, default=(0.03, 0.1)
        Candidates of ``routing_temperature`` (positive).
    routing_shrinkages : list, default=(1.0, "auto")
        Candidates of ``routing_shrinkage``, each in (0, 1] or ``"auto"``.
    cv : int, cross-validation generator or iterable, default=None
        An int is the number of folds of
        :class:`~sklearn_smoothbasis.model_selection.ClusterStratifiedKFold`
        (``None``: 3); a splitter gets ``split(X, y, groups)``; an iterable yields
        ``(train, test)`` index arrays.
    alpha_path : {"warm", "cold"}, default="warm"
        ``"warm"``: each alpha's solver starts from the previous (larger) alpha's
        basis. ``"cold"``: from its own initial basis, as the plain grid search.
    selection : {"best", "one_standard_error"}, default="best"
        How the candidate is chosen from the cross-validated scores. ``"best"``:
        the best mean score, as :class:`~sklearn.model_selection.GridSearchCV`.
        ``"one_standard_error"``: the *reference* candidate unless the best beats
        it by more than the standard error of their paired difference over the
        folds, then the best
        (:func:`~sklearn_smoothbasis.model_selection.one_standard_error_refit`,
        which gives a grid search the same rule). The reference is
        :class:`SmoothingBasisRegressor`'s default for each parameter where that
        default is a candidate, otherwise the parameter's first candidate. Three
        folds of a few dozen questions each score Recall@1 with an error of a
        point or two, more than what separates neighbouring candidates; staying
        with the defaults unless the evidence is clear chose better models on
        average on the real sets measured (see the user guide), and it is what
        ``smoothbasis compare`` uses.
    n_basis : int or "auto", default="auto"
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    basis_rank : int or None, default=None
        As in :class:`SmoothingBasisRegressor` (low-rank basis maps); fixed during
        the search.
    lr : float, default=1.0
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    solver : {"lbfgs", "gd"}, default="lbfgs"
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    init : {"svd", "random"}, default="svd"
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    max_iter : int, default=100
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    tol : float, default=1e-5
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    reorth_interval : int or None, default=10
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    prior_alpha : float or "auto", default="auto"
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    smoothness : float, default=0.0
        As in :class:`SmoothingBasisRegressor`; fixed during the search (every
        fold's fit and the refit use it; each builds the answer graph of its own
        training clusters).
    smoothness_neighbors : int, default=5
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    sparsity : float, default=0.0
        As in :class:`SmoothingBasisRegressor`; fixed during the search (to
        search it, pass this estimator to :class:`~sklearn.model_selection.GridSearchCV`
        with a grid over ``sparsity``).
    routing : {"soft", "hard"}, default="soft"
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    n_jobs : int, default=None
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    random_state : int, RandomState instance or None, default=None
        As in :class:`SmoothingBasisRegressor`; fixed during the search.
    verbose : int, default=0
        As in :class:`SmoothingBasisRegressor`; fixed during the search.

    Attributes
    ----------
    alpha_ : float
        The chosen ``alpha``.
    prior_choice_ : str or None
        The chosen prior (``"identity"``, ``"shared"``, ``"contrastive"``, or None
        for no prior; a chosen ``"auto"`` resolved by the refit, whose
        ``prior_scores_`` are also this estimator's).
    cosine_weight_ : float
        The chosen ``cosine_weight``.
    routing_temperature_ : float
        The chosen ``routing_temperature``.
    routing_shrinkage_ : float
        The shrinkage the refitted model's routing uses (the chosen candidate,
        ``"auto"`` resolved to its Ledoit-Wolf value; ``best_params_`` has the
        candidate itself).
    best_params_ : dict
        The chosen value of each searched parameter, by name.
    best_score_ : float
        Mean cross-validated Recall@1 of the chosen candidate (with
        ``selection="one_standard_error"`` not always the highest).
    best_index_ : int
        Its index in ``cv_results_["params"]``.
    cv_results_ : dict of ndarray
        As :class:`~sklearn.model_selection.GridSearchCV`'s: ``params`` (list of
        dict), ``param_<name>`` (masked arrays), ``split<k>_test_score``,
        ``mean_test_score``, ``std_test_score`` and ``rank_test_score``, one entry
        per candidate in the grid's order.
    n_splits_ : int
        Number of folds.
    best_estimator_ : SmoothingBasisRegressor
        The chosen candidate fitted on all rows; :meth:`predict`,
        :meth:`retrieve`, :meth:`partial_fit` and :meth:`add_clusters` use it.
        Its fitted attributes are also this estimator's (``basis_``,
        ``coefficients_``, ``prior_``, ``clusters_``, ``centroids_``, ...; see
        :class:`SmoothingBasisRegressor`).
    search_seconds_ : float
        Time of the search, without the refit.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    SmoothingBasisRegressor : The estimator whose parameters this one chooses.
    sklearn_smoothbasis.compare.tune : The plain grid search it replaces.

    Examples
    --------
    >>> from sklearn_smoothbasis import SmoothingBasisRegressorCV
    >>> from sklearn_smoothbasis.datasets import load_faq_demo
    >>> data = load_faq_demo()
    >>> model = SmoothingBasisRegressorCV(
    ...     alphas=[0.3, 3.0], priors=["identity", "shared"], max_iter=5,
    ...     random_state=0).fit(data.X, data.answers[data.groups], groups=data.groups)
    >>> sorted(model.best_params_)
    ['alpha', 'cosine_weight', 'prior', 'routing_shrinkage', 'routing_temperature']
    >>> len(model.cv_results_["params"])
    16
    >>> model.predict(data.X[:2]).shape
    (2, 384)
    """

    __metadata_request__fit = {"groups": True}
    __metadata_request__partial_fit = {"groups": True}
    __metadata_request__predict = {"groups": True}
    __metadata_request__score = {"groups": True}

    _parameter_constraints = {
        "alphas": ["array-like"],
        "priors": [StrOptions({"all"}), list, tuple],
        "cosine_weights": ["array-like"],
        "routing_temperatures": ["array-like"],
        "routing_shrinkages": [list, tuple],
        "cv": [
            Interval(Integral, 2, None, closed="left"),
            HasMethods(["split", "get_n_splits"]),
            "array-like",
            None,
        ],
        "alpha_path": [StrOptions({"warm", "cold"})],
        "selection": [StrOptions({"best", "one_standard_error"})],
        **{
            name: SmoothingBasisRegressor._parameter_constraints[name]
            for name in _FIXED
        },
    }

    def __init__(
        self,
        alphas=(0.1, 0.3, 1.0, 3.0),
        *,
        priors="all",
        cosine_weights=(0.5,),
        routing_temperatures=(0.03, 0.1),
        routing_shrinkages=(1.0, "auto"),
        cv=None,
        alpha_path="warm",
        selection="best",
        n_basis="auto",
        basis_rank=None,
        lr=1.0,
        solver="lbfgs",
        init="svd",
        max_iter=100,
        tol=1e-5,
        reorth_interval=10,
        prior_alpha="auto",
        smoothness=0.0,
        smoothness_neighbors=5,
        sparsity=0.0,
        routing="soft",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.alphas = alphas
        self.priors = priors
        self.cosine_weights = cosine_weights
        self.routing_temperatures = routing_temperatures
        self.routing_shrinkages = routing_shrinkages
        self.cv = cv
        self.alpha_path = alpha_path
        self.selection = selection
        self.n_basis = n_basis
        self.basis_rank = basis_rank
        self.lr = lr
        self.solver = solver
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.reorth_interval = reorth_interval
        self.prior_alpha = prior_alpha
        self.smoothness = smoothness
        self.smoothness_neighbors = smoothness_neighbors
        self.sparsity = sparsity
        self.routing = routing
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _grid(self, n_features, n_targets):
        """The candidates of each searched parameter, by grid name (checked)."""
        square = n_features == n_targets
        if isinstance(self.priors, str):  # "all"
            priors = list(_PRIORS if square else _PRIORS[1:])
        else:
            priors = _check_candidates(
                "priors", self.priors,
                lambda v: v is None or (isinstance(v, str) and v in _CANDIDATE_PRIORS),
                "'identity', 'shared', 'contrastive', 'auto' or None",
            )
            if "identity" in priors and not square:
                raise ValueError(
                    "priors has 'identity', which needs as many features as targets "
                    f"(one embedding space); got n_features={n_features} and "
                    f"n_targets={n_targets}. Leave it out, or use priors='all'."
                )
        grid = {
            "alpha": _check_candidates(
                "alphas", self.alphas,
                lambda v: _is_real(v) and 0 <= v < np.inf,
                "finite non-negative numbers",
            ),
            "cosine_weight": _check_candidates(
                "cosine_weights", self.cosine_weights,
                lambda v: _is_real(v) and 0 <= v <= 1, "numbers in [0, 1]",
            ),
            "prior": priors,
            "routing_shrinkage": _check_candidates(
                "routing_shrinkages", self.routing_shrinkages,
                lambda v: v == "auto" if isinstance(v, str)
                else _is_real(v) and 0 < v <= 1,
                "numbers in (0, 1] or 'auto'",
            ),
            "routing_temperature": _check_candidates(
                "routing_temperatures", self.routing_temperatures,
                lambda v: _is_real(v) and 0 < v < np.inf,
                "finite positive numbers",
            ),
        }
        for name, values in grid.items():
            distinct = []
            for value in values:
                if any(value is v or (type(v) is type(value) and v == value)
                       or (_is_real(v) and _is_real(value) and v == value)
                       for v in distinct):
                    raise ValueError(
                        f"{_SEARCHED[name]} has {value!r} more than once; give each "
                        "candidate once."
                    )
                distinct.append(value)
        return grid

    def _splits(self, X, Y, groups):
        """The (train, test) index pairs of the folds."""
        cv = 3 if self.cv is None else self.cv
        if isinstance(cv, Integral):
            _, index, counts = np.unique(groups, return_inverse=True,
                                         return_counts=True)
            testable = int(np.sum(counts[index.ravel()] > 1))
            if testable < cv:
                raise ValueError(
                    f"SmoothingBasisRegressorCV cannot make cv={cv} folds: a fold "
                    "holds out rows of clusters that keep other rows in training, and "
                    f"only {testable} of the n_samples = {X.shape[0]} rows are in "
                    "clusters of at least two rows. Pass more rows per cluster, or "
                    "fewer folds."
                )
            cv = ClusterStratifiedKFold(cv)
        if hasattr(cv, "split"):
            return list(cv.split(X, Y, groups))
        return [(np.asarray(train), np.asarray(test)) for train, test in cv]

    def _base_estimator(self, **params):
        return SmoothingBasisRegressor(
            **{name: getattr(self, name) for name in _FIXED}, **params
        )

    def _search_fold(self, grid, X, Y, groups, train, test, scores, shape):
        """Fill ``scores`` (one row per candidate) with one fold's Recall@1;
        returns how many solver runs stopped at ``max_iter``."""
        X_test, Y_test = X[test], Y[test].reshape(len(test), -1)
        alphas = grid["alpha"]
        path = sorted(range(len(alphas)), key=lambda i: -alphas[i])
        routings = {}  # routing_shrinkage index -> the fold's routing attributes
        stopped = 0
        for (w, cosine_weight), (q, prior) in itertools.product(
            enumerate(grid["cosine_weight"]), enumerate(grid["prior"])
        ):
            model = self._base_estimator(
                cosine_weight=cosine_weight, prior=prior, alpha=alphas[path[0]],
                routing_shrinkage=1.0,
            )
            for step, a in enumerate(path):
                if step == 0:  # the prior, the initial basis and the solver
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", ConvergenceWarning)
                        model.fit(X[train], Y[train], groups=groups[train])
                    stopped += sum(
                        issubclass(c.category, ConvergenceWarning)
                        and "max_iter" in str(c.message) for c in caught
                    )
                    for c in caught:  # the others (the prior's) pass through
                        if not (issubclass(c.category, ConvergenceWarning)
                                and "max_iter" in str(c.message)):
                            warnings.warn_explicit(c.message, c.category,
                                                   c.filename, c.lineno)
                    X_fit, Y_fit = model._seen_X, model._seen_Y
                    starts = model._seen_starts
                    base = None if model.prior_ is None else X_fit @ model.prior_
                else:  # the prior kept, the solver from the path's basis
                    model.set_params(alpha=alphas[a])
                    start = (
                        model._basis_parameters() if self.alpha_path == "warm"
                        else model._initial_basis(X_fit, Y_fit, base, starts,
                                                  model.n_basis_)
                    )
                    converged = model._solve(X_fit, Y_fit, base, starts, start,
                                             model.max_iter)
                    stopped += not converged and model.tol > 0
                for s, shrinkage in enumerate(grid["routing_shrinkage"]):
                    if s not in routings:
                        model.set_params(routing_shrinkage=shrinkage)
                        model._fit_routing(X_fit, starts)
                        routings[s] = (model.routing_transform_,
                                       model.routing_shrinkage_,
                                       model.routing_centroids_)
                    (model.routing_transform_, model.routing_shrinkage_,
                     model.routing_centroids_) = routings[s]
                    for t, temperature in enumerate(grid["routing_temperature"]):
                        model.set_params(routing_temperature=temperature)
                        Y_pred = model.predict(X_test).reshape(len(test), -1)
                        index = np.ravel_multi_index((a, w, q, s, t), shape)
                        scores[index] = recall_at_k(Y_test, Y_pred)
        return stopped

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None):
        """Choose the parameters by cross-validation and refit the best on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (question embeddings).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets (answer embeddings).
        groups : array-like of shape (n_samples,), default=None
            Cluster label of each row; the folds are stratified on it. ``None``
            treats all rows as one cluster and warns.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if issparse(y):
            raise TypeError(
                "A sparse matrix was passed for y, but dense data is required. Use "
                "'.toarray()' to convert it to a dense numpy array."
            )
        X_checked, Y_checked = validate_data(
            self, X, y, multi_output=True, y_numeric=True,
            dtype=[np.float64, np.float32],
        )
        n_targets = 1 if Y_checked.ndim == 1 else Y_checked.shape[1]
        grid = self._grid(X_checked.shape[1], n_targets)
        if groups is None:
            warnings.warn(
                _NO_GROUPS_MESSAGE.format(name=type(self).__name__), NoGroupsWarning,
                stacklevel=2,
            )
            groups = np.zeros(X_checked.shape[0], dtype=np.int64)
        groups = np.asarray(groups)
        if groups.ndim != 1 or groups.shape[0] != X_checked.shape[0]:
            raise ValueError(
                f"groups passed to fit must be 1-D with one cluster label per row of "
                f"X ({X_checked.shape[0]}); got an array of shape {groups.shape}."
            )
        start = time.perf_counter()
        splits = self._splits(X_checked, Y_checked, groups)
        shape = tuple(len(values) for values in grid.values())
        scores = np.empty((len(splits), int(np.prod(shape))))
        stopped = 0
        for fold, (train, test) in enumerate(splits):
            stopped += self._search_fold(
                grid, X_checked, Y_checked, groups, train, test, scores[fold], shape
            )
        if stopped:
            runs = len(splits) * int(np.prod(shape[:3]))
            warnings.warn(
                f"{stopped} of the {runs} solver runs of {type(self).__name__}'s "
                f"search stopped at max_iter={self.max_iter} before the objective "
                f"decreased by less than tol={self.tol} (relative). Increase "
                "max_iter, or raise tol.",
                ConvergenceWarning,
            )
        self.search_seconds_ = time.perf_counter() - start
        self._store_results(grid, shape, scores)
        self.best_estimator_ = self._base_estimator(**self.best_params_).fit(
            X, y, groups=groups
        )
        self._copy_fitted()
        self.alpha_ = self.best_params_["alpha"]
        self.cosine_weight_ = self.best_params_["cosine_weight"]
        self.routing_temperature_ = self.best_params_["routing_temperature"]
        return self

    def _reference(self, grid):
        """The reference candidate of ``selection="one_standard_error"``: the
        default of :class:`SmoothingBasisRegressor` for each searched parameter
        where it is a candidate, otherwise the first candidate."""
        defaults = SmoothingBasisRegressor().get_params()
        reference = {}
        for name, values in grid.items():
            default = defaults[name]
            reference[name] = next(
                (v for v in values if _same_candidate({name: v}, {name: default})),
                values[0],
            )
        return reference

    def _store_results(self, grid, shape, scores):
        """``cv_results_``, ``best_index_``, ``best_params_``, ``best_score_``,
        ``n_splits_`` from the scores (folds x candidates), as GridSearchCV (with
        ``refit=one_standard_error_refit(reference)`` for that selection)."""
        names = list(grid)
        params = [dict(zip(names, values))
                  for values in itertools.product(*grid.values())]
        results = {"params": params}
        for name in names:
            column = np.ma.MaskedArray(np.empty(len(params), dtype=object),
                                       mask=False)
            column[:] = [p[name] for p in params]
            results[f"param_{name}"] = column
        for fold in range(scores.shape[0]):
            results[f"split{fold}_test_score"] = scores[fold]
        mean = np.average(scores, axis=0)
        results["mean_test_score"] = mean
        results["std_test_score"] = np.sqrt(np.average((scores - mean) ** 2, axis=0))
        # GridSearchCV's ranking: 1 for the best, ties share the smallest rank.
        results["rank_test_score"] = rankdata(-mean, method="min").astype(np.int32)
        self.cv_results_ = results
        if self.selection == "best":
            self.best_index_ = int(np.argmin(results["rank_test_score"]))
        else:
            self.best_index_ = one_standard_error_refit(self._reference(grid))(results)
        self.best_params_ = params[self.best_index_]
        self.best_score_ = float(mean[self.best_index_])
        self.n_splits_ = scores.shape[0]

    def _copy_fitted(self):
        """Make the refitted model's fitted attributes this estimator's too."""
        for name, value in vars(self.best_estimator_).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(self, name, value)

    def partial_fit(self, X, y, groups=None):
        """Grow the refitted model with a batch of rows, without a new search.

        The first call on an unfitted estimator is :meth:`fit`; later calls are
        :meth:`SmoothingBasisRegressor.partial_fit` of ``best_estimator_`` at the
        chosen parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (question embeddings).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets (answer embeddings).
        groups : array-like of shape (n_samples,), default=None
            Cluster label of each row.

        Returns
        -------
        self : object
            The grown estimator.
        """
        if not hasattr(self, "best_estimator_"):
            return self.fit(X, y, groups=groups)
        self.best_estimator_.partial_fit(X, y, groups=groups)
        self._copy_fitted()
        return self

    def add_clusters(self, labels, answers, *, n_neighbors=5):
        """Add clusters known only by their answer, as
        :meth:`SmoothingBasisRegressor.add_clusters` of ``best_estimator_``.

        Parameters
        ----------
        labels : array-like of shape (n_new,)
            Labels of the new clusters.
        answers : array-like of shape (n_new, n_targets)
            Answer embedding of each new cluster.
        n_neighbors : int, default=5
            Number of fitted clusters each new one borrows from.

        Returns
        -------
        self : object
            The grown estimator.
        """
        check_is_fitted(self)
        self.best_estimator_.add_clusters(labels, answers, n_neighbors=n_neighbors)
        self._copy_fitted()
        return self

    def predict(self, X, groups=None):
        """Predict targets with the refitted model, routing rows of unknown cluster.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        groups : array-like of shape (n_samples,), default=None
            Cluster label of each row (see :meth:`SmoothingBasisRegressor.predict`).

        Returns
        -------
        Y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions, in the dtype of ``X``.
        """
        check_is_fitted(self)
        validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.best_estimator_.predict(X, groups=groups)

    def retrieve(self, X, answers, *, k=1, groups=None, min_similarity=None):
        """The ``k`` answers nearest each row's prediction, as
        :meth:`SmoothingBasisRegressor.retrieve` of ``best_estimator_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        answers : array-like of shape (n_answers, n_targets)
            Candidate answer embeddings.
        k : int, default=1
            Answers per row.
        groups : array-like of shape (n_samples,), default=None
            Cluster label of each row.
        min_similarity : float, default=None
            The least cosine similarity of an answer returned, in [-1, 1]; a row
            with none is declined (``None``: always the ``k`` best).

        Returns
        -------
        result : RetrievalResult
            ``(indices, similarities)``, each of shape ``(n_samples, k)``;
            ``indices`` is ``-1`` for answers below ``min_similarity``.
        """
        check_is_fitted(self)
        validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.best_estimator_.retrieve(
            X, answers, k=k, groups=groups, min_similarity=min_similarity
        )

    def score(self, X, y, groups=None, sample_weight=None):
        """Coefficient of determination :math:`R^2` of ``predict(X, groups)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            True targets.
        groups : array-like of shape (n_samples,), default=None
            Cluster labels, passed to :meth:`predict`.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            :math:`R^2` averaged uniformly over targets.
        """
        check_is_fitted(self)
        validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.best_estimator_.score(
            X, y, groups=groups, sample_weight=sample_weight
        )
