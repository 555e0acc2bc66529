"""Cross-validation splitters for clustered question/answer data."""

import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state, indexable

__all__ = ["ClusterStratifiedKFold"]


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
