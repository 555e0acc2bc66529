"""What every estimator of the package shares: validation, clusters, routing, scoring.

A subclass implements ``_fit_clusters`` (rows already validated and sorted by cluster)
and ``_predict_hard`` / ``_predict_soft`` (prediction for rows assigned to one cluster,
and for rows that are a softmax mixture of clusters).
"""

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import gen_batches
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._declining import apply_min_similarity, check_min_similarity
from ._growing import (
    answer_neighbour_weights,
    answer_preimage,
    fill_cluster_means,
    merge_clusters,
    merge_rows,
    non_empty_starts,
    spread_rows,
)
from ._linalg import (
    cluster_means,
    cluster_starts,
    cluster_sums,
    sort_by_cluster,
    unit_rows,
)
from ._ranking import RetrievalResult, top_k_cosine
from ._routing import routing_space, softmax_routing_weights, within_cluster_whitening


class IntegerInterval(Interval):
    """An :class:`~sklearn.utils._param_validation.Interval` of integers that rejects
    ``True`` and ``False`` (``bool`` is an ``Integral`` subclass, so ``Interval``
    accepts them as 1 and 0)."""

    def __init__(self, left, right, *, closed):
        super().__init__(Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


class NoGroupsWarning(UserWarning):
    """Warning issued when a cluster-aware estimator is fitted without ``groups``."""


_NO_GROUPS_MESSAGE = (
    "{name}.fit received no groups, so all rows are treated as one cluster. Pass the "
    "cluster id of every row as fit(X, Y, groups=...). In GridSearchCV, "
    "cross_validate or Pipeline, enable metadata routing with "
    "sklearn.set_config(enable_metadata_routing=True) so that groups reach fit; "
    "without it scikit-learn gives groups to the CV splitter only."
)


def _cast_targets(Y, dtype, n_rows):
    """``Y`` as a 2-D array of ``dtype``; ValueError if a value overflows it."""
    with np.errstate(over="ignore"):  # named below
        Y_cast = np.asarray(Y, dtype=dtype).reshape(n_rows, -1)
    if not np.isfinite(Y_cast).all():
        raise ValueError(
            f"y has values up to {np.max(np.abs(Y)):.3g}, too large for {dtype}, "
            "the dtype of X that y is cast to. Rescale y, or pass X as float64."
        )
    return Y_cast


def _check_groups(groups, n_rows, caller):
    """Validate cluster labels: 1-D, one per row, no missing values."""
    labels = np.asarray(groups)
    if labels.ndim != 1:
        raise ValueError(
            f"groups passed to {caller} must be 1-D with one cluster label per row; "
            f"got an array of shape {labels.shape}."
        )
    if labels.shape[0] != n_rows:
        raise ValueError(
            f"X has {n_rows} rows but groups passed to {caller} has {labels.shape[0]} "
            "labels; they must have the same length."
        )
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError(
            f"groups passed to {caller} contains NaN; every row needs a label."
        )
    return labels


def _check_label_kind(labels, clusters, caller, name="groups"):
    """Numeric labels cannot match string clusters, nor the reverse: say so."""
    if (labels.dtype.kind in "biuf") != (clusters.dtype.kind in "biuf"):
        raise ValueError(
            f"{name} passed to {caller} have dtype {labels.dtype} but the clusters "
            f"seen in fit have dtype {clusters.dtype}; labels of different "
            "kinds can never match."
        )


def _merge_labels(clusters, labels, caller):
    """:func:`merge_clusters`, with a clear error for labels that cannot be sorted."""
    try:
        return merge_clusters(clusters, labels)
    except TypeError as exc:
        raise ValueError(
            f"Cluster labels passed to {caller} must be comparable with each other and "
            "with clusters_ (for example all int or all str); sorting them failed: "
            f"{exc}"
        ) from None


class _BaseClusterRegressor(RegressorMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class for per-cluster regressors with query routing.

    Warning: This class should not be used directly. Use derived classes instead.

    ``fit`` validates the data, sorts the rows by cluster and calls the subclass's
    ``_fit_clusters``; ``predict`` assigns each row to its cluster, routes the rows
    whose cluster is unknown, and calls ``_predict_hard`` / ``_predict_soft``.

    Fitted attributes set here: ``clusters_``, ``centroids_``, ``n_features_in_``,
    ``n_targets_``, ``n_samples_seen_`` (and ``feature_names_in_`` when X has feature
    names); estimators that route also get ``routing_transform_``,
    ``routing_shrinkage_`` and ``routing_centroids_`` (see :mod:`._routing`).

    A subclass whose prediction does not depend on the cluster (one map for all
    rows) sets the class attribute ``_uses_clusters = False``: its ``fit`` accepts
    ``groups=None`` without a warning and fits no routing, and its ``predict``
    ignores ``groups``.

    Growing (:meth:`partial_fit`, :meth:`add_clusters`): the rows seen so far are kept,
    sorted by cluster (``_seen_X``, ``_seen_Y``, row offsets ``_seen_starts``), because
    the cosine term of the smoothing basis's loss has no smaller exact summary; a
    subclass implements ``_partial_fit_clusters`` and ``_add_answer_clusters``.
    """

    __metadata_request__fit = {"groups": True}
    __metadata_request__partial_fit = {"groups": True}
    __metadata_request__predict = {"groups": True}
    __metadata_request__score = {"groups": True}

    _parameter_constraints: dict = {}
    _uses_clusters = True

    _routing_constraints = {
        "routing": [StrOptions({"soft", "hard"})],
        "routing_temperature": [Interval(Real, 0, None, closed="neither")],
        "routing_shrinkage": [
            Interval(Real, 0, 1, closed="right"),
            StrOptions({"auto"}),
        ],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _validate_fit_data(self, X, Y):
        if issparse(Y):
            raise TypeError(
                "A sparse matrix was passed for y, but dense data is required. Use "
                "'.toarray()' to convert it to a dense numpy array."
            )
        X, Y = validate_data(
            self, X, Y, multi_output=True, y_numeric=True,
            dtype=[np.float64, np.float32],
        )
        self._y_1d = Y.ndim == 1
        Y_cast = _cast_targets(Y, X.dtype, X.shape[0])
        self.n_targets_ = Y_cast.shape[1]
        return X, Y_cast

    def _encode_fit_groups(self, groups, n_rows):
        if groups is None:
            if self._uses_clusters:
                warnings.warn(
                    _NO_GROUPS_MESSAGE.format(name=type(self).__name__),
                    NoGroupsWarning,
                    stacklevel=3,
                )
            return np.zeros(1, dtype=np.int64), np.zeros(n_rows, dtype=np.int64)
        labels = _check_groups(groups, n_rows, "fit")
        try:
            return np.unique(labels, return_inverse=True)
        except TypeError as exc:
            raise ValueError(
                "Cluster labels in groups must be mutually comparable (for example all "
                f"int or all str); sorting them failed: {exc}"
            ) from None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (question embeddings).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets (answer embeddings).
        groups : array-like of shape (n_samples,), default=None
            Cluster label of each row (any sortable hashable labels, e.g. int or
            str). ``None`` treats all rows as one cluster and warns.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, Y = self._validate_fit_data(X, y)
        clusters, labels = self._encode_fit_groups(groups, X.shape[0])
        self.clusters_ = clusters
        order, starts = sort_by_cluster(labels, len(clusters))
        X_sorted, Y_sorted = X[order], Y[order]
        self.centroids_ = cluster_means(X_sorted, starts)
        try:
            self._fit_routing(X_sorted, starts)
            self._fit_clusters(X_sorted, Y_sorted, starts)
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                f"{type(self).__name__}.fit failed in linear algebra ({exc}) on X with "
                f"largest magnitude {np.max(np.abs(X), initial=0):.3g} and y with "
                f"{np.max(np.abs(Y), initial=0):.3g}. Rescale X and y (for example to "
                "unit-norm rows)."
            ) from exc
        self._check_fitted_arrays_finite(X, Y)
        self._keep_seen(X_sorted, Y_sorted, starts)
        return self

    def _check_fitted_arrays_finite(self, X, Y, caller="fit"):
        """Raise ValueError when a fitted array holds NaN or infinity: the rule is a
        finite model or an error that names the input."""
        for name, value in vars(self).items():
            if not name.endswith("_") or name.startswith("_"):
                continue
            value = np.asarray(value) if isinstance(value, (float, list)) else value
            if (isinstance(value, np.ndarray) and value.dtype.kind == "f"
                    and not np.isfinite(value).all()):
                raise ValueError(
                    f"{type(self).__name__}.{caller} produced non-finite values in "
                    f"{name} from X with largest magnitude "
                    f"{np.max(np.abs(X), initial=0):.3g} and y with "
                    f"{np.max(np.abs(Y), initial=0):.3g}: the inputs are "
                    "too large or too small for the computation in "
                    f"{X.dtype}. Rescale X and y (for example to unit-norm rows)."
                )

    def _fit_routing(self, X, starts):
        """Whitening of routing from the rows of the clusters that have rows."""
        if not self._uses_clusters:
            return
        row_starts, has_rows = non_empty_starts(starts)
        self.routing_transform_, self.routing_shrinkage_ = within_cluster_whitening(
            X, self.centroids_[has_rows], row_starts, self.routing_shrinkage
        )
        self.routing_centroids_ = routing_space(
            self.centroids_, self.routing_transform_
        )

    def _check_seen(self, caller):
        if not hasattr(self, "_seen_X"):
            raise ValueError(
                f"{caller} needs the rows this {type(self).__name__} was fitted on, "
                "and "
                "this one has none: it was loaded from a model file saved with "
                "keep_rows=False, which holds only what prediction needs. Fit it "
                "again, or save models that will grow with io.save(model, path) "
                "(keep_rows=True, the default), pickle or skops."
            )

    def _keep_seen(self, X, Y, starts):
        self._seen_X, self._seen_Y, self._seen_starts = X, Y, starts
        self.n_samples_seen_ = X.shape[0]

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, groups=None):
        """Grow the model with a batch of rows, without refitting it.

        The first call on an unfitted model is :meth:`fit`. Later calls keep the
        number of features and targets (a batch with others is an error) and:

        - merge the batch's clusters into ``clusters_``: a label not seen before is
          a new cluster, rows of a known one are added to its rows so far;
        - recompute ``centroids_`` as each cluster's mean row so far, and the
          whitening of routing from all rows so far, exactly as :meth:`fit` would
          on them;
        - update the estimator's own parameters (see its Notes).

        Every row seen is kept, sorted by cluster: ``n_samples_seen_ *
        (n_features_in_ + n_targets_)`` numbers in the dtype of the first ``X``, as
        much memory as the training data; see the user guide.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (question embeddings).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets (answer embeddings).
        groups : array-like of shape (n_samples,), default=None
            Cluster label of each row, of the same kind as ``clusters_``. ``None``
            treats all rows as one cluster and warns, as in :meth:`fit`.

        Returns
        -------
        self : object
            The grown estimator.
        """
        if not hasattr(self, "clusters_"):
            return self.fit(X, y, groups=groups)
        self._check_seen("partial_fit")
        X, Y = validate_data(
            self, X, y, reset=False, multi_output=True, y_numeric=True,
            dtype=[np.float64, np.float32],
        )
        dtype = self._seen_X.dtype
        Y = _cast_targets(Y, dtype, X.shape[0])
        if Y.shape[1] != self.n_targets_:
            raise ValueError(
                f"y has {Y.shape[1]} targets, but {type(self).__name__} was fitted "
                "with "
                f"{self.n_targets_}; every batch of partial_fit needs the same number."
            )
        if groups is None:  # one cluster, as in fit (which warns)
            clusters, index = self._encode_fit_groups(None, X.shape[0])
            labels = clusters[index]
        else:
            labels = _check_groups(groups, X.shape[0], "partial_fit")
        _check_label_kind(labels, self.clusters_, "partial_fit")
        clusters, old_index, row_cluster = _merge_labels(
            self.clusters_, labels, "partial_fit"
        )
        X_all, Y_all, starts = merge_rows(
            self._seen_X, self._seen_Y, self._seen_starts, old_index, len(clusters),
            X.astype(dtype, copy=False), Y, row_cluster,
        )
        touched = np.zeros(len(clusters), dtype=bool)
        touched[row_cluster] = True
        self.centroids_ = fill_cluster_means(
            X_all, starts, spread_rows(self.centroids_, old_index, len(clusters))
        )
        self._fit_routing(X_all, starts)
        self._partial_fit_clusters(X_all, Y_all, starts, old_index, touched)
        self._check_fitted_arrays_finite(X_all, Y_all, "partial_fit")
        self.clusters_ = clusters
        self._keep_seen(X_all, Y_all, starts)
        return self

    def _partial_fit_clusters(self, X, Y, starts, old_index, touched):
        """Update the estimator's parameters to all rows so far (sorted by cluster).

        ``old_index[i]`` is the new position of the cluster that was ``i`` before the
        batch; ``touched`` marks the clusters the batch has rows of. Clusters without
        rows (added by :meth:`add_clusters`) have empty segments in ``starts``.
        """
        raise NotImplementedError

    def add_clusters(self, labels, answers, *, n_neighbors=5):
        """Add clusters known only by their answer (a new FAQ entry, no question yet).

        Each new cluster gets the answer's nearest fitted clusters as neighbours: the
        ``n_neighbors`` clusters with rows whose mean target has the largest cosine to
        the answer, weighted by that cosine (clipped at 0, normalised to sum to 1).
        How they form its prediction depends on the estimator (see its Notes). Its
        routing centroid (``centroids_``) is the answer itself when questions and
        answers share a space (``n_features_in_ == n_targets_``), otherwise the
        question that the estimator's map sends nearest to it (least squares, see
        its Notes). A later :meth:`partial_fit` with rows of the cluster replaces
        this cold start: its centroid and parameters then come from its rows.

        Parameters
        ----------
        labels : array-like of shape (n_new,)
            Labels of the new clusters: distinct, not already in ``clusters_``, of
            the same kind (numbers or strings).
        answers : array-like of shape (n_new, n_targets)
            Answer embedding of each new cluster: finite, not zero.
        n_neighbors : int, default=5
            Number of fitted clusters each new one borrows from.

        Returns
        -------
        self : object
            The grown estimator.
        """
        check_is_fitted(self)
        self._check_seen("add_clusters")
        if (
            not isinstance(n_neighbors, Integral)
            or isinstance(n_neighbors, bool)
            or n_neighbors < 1
        ):
            raise ValueError(
                f"n_neighbors must be an integer >= 1; got {n_neighbors!r}."
            )
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(
                "labels passed to add_clusters must be a non-empty 1-D array of "
                "cluster "
                f"labels; got shape {labels.shape}."
            )
        if labels.dtype.kind == "f" and np.isnan(labels).any():
            raise ValueError("labels passed to add_clusters contains NaN.")
        _check_label_kind(labels, self.clusters_, "add_clusters", name="labels")
        distinct, counts = np.unique(labels, return_counts=True)
        if (counts > 1).any():
            raise ValueError(
                "labels passed to add_clusters must be distinct; repeated: "
                f"{distinct[counts > 1].tolist()}."
            )
        known = np.isin(labels, self.clusters_)
        if known.any():
            raise ValueError(
                "labels passed to add_clusters must be new clusters; already in "
                f"clusters_: {labels[known].tolist()}. Give their questions to "
                "partial_fit instead."
            )
        dtype = self._seen_X.dtype
        answers = check_array(answers, dtype=dtype, input_name="answers")
        if answers.shape != (len(labels), self.n_targets_):
            raise ValueError(
                f"answers must have shape (n_labels, n_targets) = ({len(labels)}, "
                f"{self.n_targets_}); got {answers.shape}."
            )
        zero = ~np.any(answers != 0, axis=1)
        if zero.any():
            raise ValueError(
                "answers passed to add_clusters must not be zero vectors (their cosine "
                "to anything is undefined); zero rows: "
                f"{np.flatnonzero(zero).tolist()}."
            )
        row_starts, fitted = non_empty_starts(self._seen_starts)
        fitted_answers = cluster_sums(self._seen_Y, row_starts)
        weights = answer_neighbour_weights(answers, fitted_answers, n_neighbors)
        clusters, old_index, new_index = _merge_labels(
            self.clusters_, labels, "add_clusters"
        )
        self._add_answer_clusters(
            old_index, new_index, answers, weights, np.flatnonzero(fitted), n_neighbors
        )
        counts = np.zeros(len(clusters), dtype=np.int64)
        counts[old_index] = np.diff(self._seen_starts)
        self._seen_starts = cluster_starts(counts)
        self.clusters_ = clusters
        if self._uses_clusters:
            self.routing_centroids_ = routing_space(
                self.centroids_, self.routing_transform_
            )
        return self

    def _set_answer_centroids(self, old_index, new_index, answers, answer_maps):
        """``centroids_`` of the merged clusters, new ones from their answers.

        The answer itself when ``n_features_in_ == n_targets_``; otherwise its
        least-squares preimage through ``answer_maps[j]``, the map of new cluster
        ``j`` (an error when the estimator has none: ``answer_maps is None``).
        """
        if self.n_features_in_ == self.n_targets_:
            centroids = answers
        elif answer_maps is None:
            raise ValueError(
                f"add_clusters needs a routing centroid for each new cluster: with "
                f"n_features={self.n_features_in_} != n_targets={self.n_targets_} it "
                "maps "
                "the answer back to the question space, and this "
                f"{type(self).__name__} "
                "has no map to do it with."
            )
        else:
            centroids = np.concatenate([
                answer_preimage(answer[None], answer_map)
                for answer, answer_map in zip(answers, answer_maps)
            ])
        self.centroids_ = spread_rows(
            self.centroids_, old_index, len(old_index) + len(new_index)
        )
        self.centroids_[new_index] = centroids

    def _add_answer_clusters(self, old_index, new_index, answers, weights, fitted,
                             n_neighbors):
        """Give new clusters, known by ``answers`` only, their parameters and centroids.

        ``weights`` (n_new, n_fitted) are the answer-space neighbour weights over the
        clusters with rows, whose positions before the merge are ``fitted``; the new
        clusters go to positions ``new_index``, the known ones to ``old_index``. Sets
        ``centroids_`` (and the estimator's own arrays) for the merged clusters.
        """
        raise NotImplementedError

    @abstractmethod
    def _fit_clusters(self, X, Y, starts):
        """Fit on rows sorted by cluster; cluster i owns rows "
        "``starts[i]:starts[i+1]``."""

    def _assign(self, groups, n_rows):
        """Cluster index of each row, ``-1`` where the label was not seen in fit."""
        assigned = np.full(n_rows, -1, dtype=np.int64)
        if groups is None:
            return assigned
        labels = _check_groups(groups, n_rows, "predict")
        _check_label_kind(labels, self.clusters_, "predict")
        position = np.searchsorted(self.clusters_, labels)
        position = np.minimum(position, len(self.clusters_) - 1)
        seen = self.clusters_[position] == labels
        assigned[seen] = position[seen]
        return assigned

    def _routing_weights(self, X):
        """Soft routing weights ``softmax(cos(L x, L c_i) / routing_temperature)``, "
        "shape (m, N)."""
        return softmax_routing_weights(
            X,
            self.routing_centroids_,
            self.routing_transform_,
            self.routing_temperature,
        )

    def _route(self, X, assigned):
        """Fill unknown rows: nearest centroid (hard) or mixture weights (soft)."""
        unknown = np.flatnonzero(assigned < 0)
        if unknown.size == 0:
            return assigned, unknown, None
        weights = self._routing_weights(X[unknown])
        if self.routing == "hard":
            assigned = assigned.copy()
            assigned[unknown] = np.argmax(weights, axis=1)
            return assigned, unknown[:0], None
        return assigned, unknown, weights

    def predict(self, X, groups=None):
        """Predict targets, routing rows whose cluster is unknown.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        groups : array-like of shape (n_samples,), default=None
            Cluster label of each row. Rows whose label was seen in fit use that
            cluster's map; rows with no label (``groups=None``) or an unseen one are
            routed by their cosine similarity to the cluster centroids.

        Returns
        -------
        Y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions, in the dtype of ``X``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        Y_pred = self._predict_validated(X, groups)
        return Y_pred.ravel() if self._y_1d else Y_pred

    def _predict_validated(self, X, groups):
        """Predictions of shape (n_samples, n_targets) of validated rows."""
        n_rows = X.shape[0]
        Y_pred = np.empty((n_rows, self.n_targets_), dtype=X.dtype)
        if self._uses_clusters:
            assigned = self._assign(groups, n_rows)
        else:
            if groups is not None:
                _check_groups(groups, n_rows, "predict")
            assigned = np.zeros(n_rows, dtype=np.int64)
        row_bytes = self._predict_row_bytes(X)
        for rows in gen_batches(n_rows, get_chunk_n_rows(row_bytes, max_n_rows=n_rows)):
            self._predict_batch(X[rows], assigned[rows], Y_pred[rows])
        return Y_pred

    def _predict_batch(self, X, assigned, out):
        """Write the predictions of one batch of rows into ``out`` (its arrays are
        freed on return, before the next batch allocates its own)."""
        assigned, soft_rows, weights = self._route(X, assigned)
        hard_rows = np.flatnonzero(assigned >= 0)
        if hard_rows.size == out.shape[0]:
            out[:] = self._predict_hard(X, assigned)
        elif hard_rows.size:
            out[hard_rows] = self._predict_hard(X[hard_rows], assigned[hard_rows])
        if soft_rows.size:
            out[soft_rows] = self._predict_soft(X[soft_rows], weights)

    def _predict_row_bytes(self, X):
        """Extra bytes per row of one batch of :meth:`predict` on ``X``.

        Routing holds the similarities and weights of the row (2 N), the row in the
        routing space and its unit copy (2 d) and a copy of the row (d); the
        estimator holds :meth:`_predict_row_values` values per row, and a row of
        another dtype than the model's is cast (d). Values take the item size of
        the computation (float64 when either ``X`` or the model is); batches of
        rows are sized so that their sum stays within ``working_memory``.
        """
        n_features = X.shape[1]
        routing = 2 * len(self.clusters_) + 3 * n_features if self._uses_clusters else 0
        cast = n_features if X.dtype != self.centroids_.dtype else 0
        itemsize = np.result_type(X.dtype, self.centroids_.dtype).itemsize
        return itemsize * (routing + cast + self._predict_row_values())

    def _predict_row_values(self):
        """Values per row held by ``_predict_hard`` / ``_predict_soft`` at once
        (besides the output): the prediction, by default."""
        return self.n_targets_

    def retrieve(self, X, answers, *, k=1, groups=None, min_similarity=None):
        """Indices of the ``k`` answers nearest each row's prediction, and the cosines.

        Each row of ``X`` is predicted as by :meth:`predict` (routed when its
        cluster is unknown) and the rows of ``answers`` are ranked by their cosine
        similarity to the prediction,

        .. math::

            s_j = \\frac{\\hat y^\\top a_j}{\\lVert \\hat y \\rVert\\,
            \\lVert a_j \\rVert} \\quad (0 \\text{ when a norm is } 0),

        from the largest to the smallest. The ranking is exact (every answer is
        scored). **Ties are broken by index**: among answers with equal similarity
        the one with the smaller row index ranks first, so duplicate answer rows
        appear next to each other, the first copy first.

        Rows are processed in batches whose extra memory (predictions, one row of
        similarities per query and the bookkeeping of the top ``k``) stays within
        ``sklearn.get_config()["working_memory"]``, counted in the real item size;
        one copy of ``answers`` scaled to unit norm is kept for the whole call.
        Similarities are computed in the dtype of ``X`` (float32 stays float32).

        **Declining.** The confidence of a query is its largest similarity
        :math:`s_{(1)}` (``result.confidence``). With ``min_similarity`` :math:`t`,
        answers with :math:`s_j < t` get the index ``-1`` and a query with
        :math:`s_{(1)} < t` is declined (``result.declined``): it has no answer good
        enough. The ranking of the kept answers is unchanged, and the similarities
        are returned for kept and dropped answers alike. Choose :math:`t` with
        :func:`~sklearn_smoothbasis.model_selection.calibrate_min_similarity`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Queries (question embeddings).
        answers : array-like of shape (n_answers, n_targets)
            Candidate answer embeddings, in the target space of the model.
        k : int, default=1
            Number of answers returned per row, ``1 <= k <= n_answers``.
        groups : array-like of shape (n_samples,), default=None
            Cluster label of each row, as in :meth:`predict`; ``None`` routes
            every row.
        min_similarity : float, default=None
            The least cosine similarity of an answer returned, in [-1, 1];
            ``None`` returns the ``k`` best answers whatever their similarity.

        Returns
        -------
        result : RetrievalResult
            A named tuple ``(indices, similarities)``: ``indices`` of shape
            ``(n_samples, k)`` (rows of ``answers``, best first) and
            ``similarities`` of shape ``(n_samples, k)``, non-increasing along each
            row, with ``-1`` in ``indices`` for answers below ``min_similarity``.
            The metrics of :mod:`sklearn_smoothbasis.metrics` accept it in
            place of predictions, with the index of each row's own answer as the
            truth (a declined row is a miss).

        Examples
        --------
        >>> from sklearn_smoothbasis import SharedProjectionRegressor
        >>> from sklearn_smoothbasis.metrics import recall_at_k
        >>> X = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.2]]
        >>> answers = [[0.0, 1.0], [1.0, 0.0]]
        >>> model = SharedProjectionRegressor(method="identity").fit(X, X)
        >>> indices, similarities = model.retrieve(X, answers, k=2)
        >>> indices.tolist()
        [[1, 0], [0, 1], [1, 0]]
        >>> recall_at_k([1, 0, 1], model.retrieve(X, answers))
        1.0
        >>> result = model.retrieve([[1.0, 1.0], [0.0, 2.0]], answers,
        ...                         min_similarity=0.9)
        >>> result.indices.tolist(), result.declined.tolist()
        ([[-1], [0]], [True, False])
        >>> result.confidence.round(3).tolist()
        [0.707, 1.0]
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        answers = check_array(
            answers, dtype=[np.float64, np.float32], input_name="answers"
        )
        if answers.shape[1] != self.n_targets_:
            raise ValueError(
                f"answers has {answers.shape[1]} columns but the model predicts "
                f"{self.n_targets_} targets; answers must be embeddings in the model's "
                "target space."
            )
        min_similarity = check_min_similarity(min_similarity)
        n_answers = answers.shape[0]
        if (
            not isinstance(k, Integral)
            or isinstance(k, bool)
            or not 1 <= k <= n_answers
        ):
            raise ValueError(
                f"k must be an integer between 1 and the number of answers "
                f"({n_answers}); got {k!r}."
            )
        n_rows = X.shape[0]
        if groups is not None:
            groups = _check_groups(groups, n_rows, "retrieve")
        answers_unit = unit_rows(answers.astype(X.dtype, copy=False))
        # Per row: the prediction and its unit copy (2 p), the similarities, their
        # negation, the partition's indices and a mask, and a stable sort of a tied
        # row (n_answers * (3 itemsize + 17)), plus predict's own buffers.
        itemsize = X.itemsize
        row_bytes = (
            2 * self.n_targets_ * itemsize + n_answers * (3 * itemsize + 17)
            + self._predict_row_bytes(X)
        )
        indices = np.empty((n_rows, k), dtype=np.intp)
        similarities = np.empty((n_rows, k), dtype=X.dtype)
        for rows in gen_batches(n_rows, get_chunk_n_rows(row_bytes, max_n_rows=n_rows)):
            Y_pred = self._predict_validated(
                X[rows], None if groups is None else groups[rows]
            )
            indices[rows], similarities[rows] = top_k_cosine(Y_pred, answers_unit, k)
        if min_similarity is not None:
            indices = apply_min_similarity(indices, similarities, min_similarity)
        return RetrievalResult(indices, similarities)

    @abstractmethod
    def _predict_hard(self, X, clusters):
        """Predictions of rows each assigned to one cluster index."""

    @abstractmethod
    def _predict_soft(self, X, weights):
        """Predictions of rows that mix the clusters with ``weights`` (m, N)."""

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
        return r2_score(y, self.predict(X, groups=groups), sample_weight=sample_weight)
