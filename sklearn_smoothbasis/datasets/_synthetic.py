"""Planted-basis data: the proposal's synthetic validation plan."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params


@validate_params(
    {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "n_basis": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_targets": [Interval(Integral, 1, None, closed="left")],
        "rows_per_cluster": [Interval(Integral, 1, None, closed="left"), tuple],
        "noise": [Interval(Real, 0, None, closed="left")],
        "sparsity": [Interval(Real, 0, 1, closed="left")],
        "basis_rank": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "return_truth": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_multicluster_regression(
    n_clusters=10,
    n_basis=3,
    n_features=16,
    n_targets=16,
    rows_per_cluster=(5, 10),
    noise=0.1,
    sparsity=0.0,
    basis_rank=None,
    random_state=None,
    return_truth=False,
):
    r"""Clusters whose maps are combinations of a planted basis.

    Draws ``n_basis`` random (semi-)orthogonal matrices :math:`G_k`, as the proposal's
    validation plan does (``random_orthogonal_matrix(d)``), coefficients :math:`C_{ik}`
    (standard normal, each zeroed with probability ``sparsity``, at least one kept per
    cluster), inputs :math:`x_r` standard normal and targets :math:`y_r = x_r \sum_k
    C_{g(r)k} G_k + \varepsilon_r` with :math:`\varepsilon` Gaussian of standard
    deviation ``noise``. With ``basis_rank`` :math:`r`, each :math:`G_k` keeps only
    :math:`r` of its singular directions (rank :math:`r`, all :math:`r` singular
    values 1).

    Parameters
    ----------
    n_clusters : int, default=10
        Number of clusters.
    n_basis : int, default=3
        Number of planted basis matrices.
    n_features : int, default=16
        Input dimension.
    n_targets : int, default=16
        Output dimension.
    rows_per_cluster : int or tuple of (int, int), default=(5, 10)
        Rows of each cluster, or the inclusive range they are drawn from.
    noise : float, default=0.1
        Standard deviation of the additive Gaussian noise.
    sparsity : float in [0, 1), default=0.0
        Probability that a coefficient is zero.
    basis_rank : int or None, default=None
        Rank of each planted basis matrix; None: full rank,
        ``min(n_features, n_targets)``. At most that.
    random_state : int, RandomState instance or None, default=None
        Seed.
    return_truth : bool, default=False
        Also return the planted model.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_targets)
    groups : ndarray of shape (n_samples,)
        Cluster index of each row, rows ordered by cluster.
    truth : Bunch
        Only with ``return_truth``: ``basis`` (n_basis, n_features, n_targets),
        ``coefficients`` (n_clusters, n_basis) and ``maps`` (n_clusters, n_features,
        n_targets).

    Examples
    --------
    >>> from sklearn_smoothbasis.datasets import make_multicluster_regression
    >>> X, Y, groups = make_multicluster_regression(n_clusters=4, rows_per_cluster=3,
    ...                                             random_state=0)
    >>> X.shape, Y.shape, groups.tolist()
    ((12, 16), (12, 16), [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    """
    rng = check_random_state(random_state)
    if isinstance(rows_per_cluster, tuple):
        low, high = rows_per_cluster
        if not 1 <= low <= high:
            raise ValueError(
                "rows_per_cluster=(low, high) needs 1 <= low <= high; got "
                f"{rows_per_cluster}."
            )
        counts = rng.randint(low, high + 1, size=n_clusters)
    else:
        counts = np.full(n_clusters, rows_per_cluster)
    if basis_rank is not None and basis_rank > min(n_features, n_targets):
        raise ValueError(
            f"basis_rank={basis_rank} is larger than min(n_features, n_targets) = "
            f"{min(n_features, n_targets)}, the largest rank of a basis matrix."
        )
    gaussian = rng.standard_normal((n_basis, n_features, n_targets))
    U, _, Vt = np.linalg.svd(gaussian, full_matrices=False)
    # the (semi-)orthogonal polar factor of a Gaussian matrix, or its top r directions
    basis = U[:, :, :basis_rank] @ Vt[:, :basis_rank]
    coef = rng.standard_normal((n_clusters, n_basis))
    if sparsity > 0:
        keep = rng.uniform(size=coef.shape) >= sparsity
        keep[np.arange(n_clusters), rng.randint(n_basis, size=n_clusters)] = True
        coef *= keep
    maps = np.einsum("ik,kdp->idp", coef, basis)
    groups = np.repeat(np.arange(n_clusters), counts)
    X = rng.standard_normal((groups.size, n_features))
    Y = np.einsum("rd,rdp->rp", X, maps[groups]) + noise * rng.standard_normal(
        (groups.size, n_targets)
    )
    if return_truth:
        return X, Y, groups, Bunch(basis=basis, coefficients=coef, maps=maps)
    return X, Y, groups
