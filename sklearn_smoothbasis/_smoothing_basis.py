"""SmoothingBasisRegressor: per-cluster linear maps over a small shared basis."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array

from ._base import IntegerInterval, _BaseClusterRegressor
from ._growing import (
    answer_neighbour_weights,
    fill_cluster_means,
    non_empty_starts,
    spread_rows,
)
from ._init import random_basis, top_map_directions
from ._linalg import cluster_means, cluster_ridge_factors, sampled_clusters
from ._loss import ClusterLoss
from ._low_rank import (
    LowRankObjective,
    factored_design,
    low_rank_map_directions,
    random_factors,
    split_factors,
)
from ._parallel import cluster_chunks, parallel_chunks
from ._prior import contrastive_map, ridge_prior, select_prior
from ._smoothness import answer_graph, smoothness_laplacian
from ._solvers import (
    BasisObjective,
    basis_matrix,
    design,
    fit_basis,
    predict_from_design,
)
from ._sparse_coefficients import UnitNormObjective

# n_basis="auto" is ceil(sqrt(n_clusters)) but at most this: on the three retrieval
# sets of benchmarks/basis_size.py Recall@1 was flat in K from 8 to 32 (within a
# point, no trend), and every iteration costs O(n K d p) plus O(n K^2 p).
AUTO_MAX_BASIS = 16

# Relative ridge of the per-cluster maps whose top directions give the "svd" init, in
# units of the mean squared row norm of X: a tiny ridge, so they are nearly minimum
# norm interpolants, but never singular.
_INIT_RELATIVE_RIDGE = 1e-3
# The initial directions are those of the maps of clusters evenly spaced over all,
# at most this many rows in all (sampled_clusters): a few thousand clusters estimate
# the top directions of their maps well, and the randomized path's seven passes over
# all rows would otherwise cost as much as several solver iterations on large sets.
_INIT_MAX_ROWS = 20_000


# partial_fit continues the contrastive prior's refinement for at most this many L-BFGS
# iterations from the current prior: on clinc150 (one split, 20% of the clusters
# added) 5, 10 and 30 gave the same Recall@1 within 0.4 points, and 10 costs a fraction
# of a refit (benchmarks/growing.py).
_PARTIAL_FIT_PRIOR_MAX_ITER = 10


def _check_magnitudes(X, Y):
    """Raise ValueError unless the largest entries of X and Y suit the solver's dtype.

    The solver multiplies up to four entries of the inputs (the curvature of the
    cosine term is a squared row norm of X over a squared row norm of the
    prediction, times squared coefficients) and sums them over all rows: the fourth
    power of the largest entry, times the number of values, must stay finite, and
    the fourth power of a nonzero largest entry must not underflow.
    """
    info = np.finfo(X.dtype)
    high = (float(info.max) / (X.shape[0] * max(X.shape[1], Y.shape[1]))) ** 0.25
    low = float(info.tiny) ** 0.25
    for name, A in (("X", X), ("y", Y)):
        largest = float(np.max(np.abs(A), initial=0.0))
        if largest > high or 0 < largest < low:
            raise ValueError(
                f"{name} has largest magnitude {largest:.3g}; SmoothingBasisRegressor "
                f"needs it between {low:.3g} and {high:.3g} in {X.dtype} for this "
                "data size (its solver multiplies up to four entries). Rescale X and "
                "y, for example to unit-norm rows as embeddings usually are."
            )


class SmoothingBasisRegressor(_BaseClusterRegressor):
    r"""Per-cluster linear maps written as a prior plus a combination of a shared basis.

    Each cluster :math:`i` maps a row :math:`x` to :math:`x W_i` with

    .. math::

        W_i = P + \sum_{k=1}^{K} C_{ik} G_k ,

    where :math:`P` is a fixed prior map, :math:`G_1 \dots G_K` (``basis_``) are shared
    ``n_features x n_targets`` matrices, orthonormal in the Frobenius inner product,
    and :math:`C` (``coefficients_``) holds each cluster's coefficients. The model
    minimises the mean over the :math:`N` clusters of

    .. math::

        L_i = \frac{1}{n_i}\Big(\sum_{r \in i}\Big[
              (1-\lambda)\lVert x_r W_i - y_r\rVert^2
              + \lambda\big(1 - \cos(x_r W_i, y_r)\big)\Big]
              + s\,\lVert W_i - P \rVert_F^2\Big)

    with :math:`\lambda` = ``cosine_weight`` and :math:`s` = ``alpha``, plus, with
    ``smoothness`` :math:`\mu > 0`, :math:`\frac{\mu}{N} \sum_{i<j} S_{ij}
    \frac{1/n_i + 1/n_j}{2} \lVert W_i - W_j\rVert_F^2` over the answer graph
    :math:`S` (see ``smoothness``). The
    penalty pulls every map toward the prior where a cluster has little data, which is
    what lets a few questions per cluster help without destroying what one map of all
    the data (the zero-shot identity, a ridge map shrunk toward it, or that map
    refined for retrieval, whichever the held-out rows choose by default) already
    does well. It alternates exact
    per-cluster coefficient solves (least squares, refined by Gauss-Newton steps on the
    cosine term) with steps on the basis; the objective never increases.

    Parameters
    ----------
    n_basis : int or "auto", default="auto"
        Number :math:`K` of basis matrices. ``"auto"`` is
        ``min(ceil(sqrt(n_clusters)), 16)``, capped by
        ``min(n_clusters, n_features * n_targets)``, the most the data can
        identify; a larger int raises an error. The cap of 16 binds from 226
        clusters on: on the three retrieval sets measured, Recall@1 was flat in
        :math:`K` from 8 to 32 (within a point) while the fit time grows with
        :math:`K` (``benchmarks/basis_size.py``).
    basis_rank : int or None, default=None
        ``None``: dense basis maps. An int :math:`r`: each basis map is
        :math:`G_k = U_k V_k^T` of rank at most :math:`r`, stored and applied in
        factored form (``basis_left_``, ``basis_right_``; no ``n_features x
        n_targets`` map is ever formed), so a row costs :math:`O(K r (d + p) + K^2
        r^2)` in fit and :math:`O(K r (d + p))` in prediction instead of
        :math:`O(K d p)`, and the basis takes :math:`K r (d + p)` numbers instead of
        :math:`K d p`; each evaluation of the objective also forms the factors'
        Grams, :math:`O(K^2 r^2 (d + p))`, more than the dense :math:`O(K^2 d p)`
        for :math:`r` above about :math:`\sqrt{d p / (d + p)}`. The solver runs on
        the factors, with the ``"svd"`` init's directions truncated to their best
        rank :math:`r`. It must be at most
        ``min(n_features, n_targets)`` (an error otherwise); at that value the
        model is the dense one, still factored. With ``solver="gd"`` the
        re-orthonormalisation every ``reorth_interval`` iterations becomes a
        rebalancing of the factors (each :math:`G_k` scaled to unit Frobenius norm,
        its coefficients scaled along, :math:`U_k^T U_k = V_k^T V_k`): mixing the
        maps would raise their rank. Not combined with ``smoothness`` or
        ``sparsity`` yet (a ``ValueError``). See the user guide.
    cosine_weight : float in [0, 1], default=0.5
        Weight :math:`\lambda` of the cosine distance against the squared error.
    lr : float, default=1.0
        Length of a gradient step on the basis, as a fraction of ``1 / L`` with
        :math:`L` the Lipschitz constant of the basis gradient estimated from the
        data (an upper bound for the squared error), so one value suits every
        dataset.
        ``solver="gd"``: every iteration starts its backtracking line search at
        ``lr / L``; the proposal's scheme, and the value to cross-validate with it.
        ``solver="lbfgs"``: only the iterations without a usable curvature pair
        (the first, and after a reset) take a gradient step; it starts at
        ``lr / L`` and is lengthened while the objective keeps decreasing.
        Quasi-Newton steps start at length 1 and do not use ``lr``.
    solver : {"lbfgs", "gd"}, default="lbfgs"
        ``"lbfgs"``: L-BFGS on the basis with the coefficients eliminated (5
        curvature pairs). ``"gd"``: the proposal's scheme, gradient steps on the
        basis with re-orthonormalisation every ``reorth_interval`` iterations. Both
        re-solve the coefficients exactly at every evaluation and backtrack so the
        objective decreases; ``"lbfgs"`` needs fewer passes over the data to the
        same objective (``benchmarks/time_to_quality.py``).
    init : {"svd", "random"}, default="svd"
        ``"svd"``: the top-K singular directions of the per-cluster ridge maps (of the
        residual after the prior), the best rank-K fit to them; missing directions
        (vanishing maps) are completed at random. ``"random"``: a random orthonormal
        basis.
    max_iter : int, default=100
        Maximum number of basis iterations.
    tol : float, default=1e-5
        Stop when one iteration decreases the objective by less than ``tol`` times
        its value.
    reorth_interval : int or None, default=10
        ``solver="gd"`` only: re-orthonormalise the basis (mapping the coefficients
        along, so the maps and the objective are unchanged) every
        ``reorth_interval`` iterations, which keeps the gradient steps
        well-conditioned; ``None`` never does during the iterations.
        ``solver="lbfgs"`` ignores it (re-orthonormalising would discard its
        curvature pairs). Either way the fitted basis is orthonormalised once at
        the end; with ``sparsity > 0`` never: the basis maps are only rescaled to
        unit norm (see ``sparsity``).
    prior : {"auto", "contrastive", "shared", "identity"}, array-like or None
        The map :math:`P`. ``"auto"`` (the default): the simplest of
        ``"identity"`` (when ``n_features == n_targets``), ``"shared"`` and
        ``"contrastive"`` whose retrieval of held-out training rows is within one
        standard error of the best: each is refitted without a tenth of the rows
        whose cluster has other rows (10 folds, at most one row of a small cluster
        per fold, so each held-out question keeps the rest of its cluster, as in
        leave-one-out) and scored by the reciprocal rank of the held-out rows' own
        targets by cosine of :math:`x P`, corrected for the row its cluster lost by
        a second scoring with two of its rows left out, extrapolated on the log of
        the rows kept; a richer prior is chosen only when it beats the simpler by
        more than the standard error of their paired difference (see the user
        guide). The criterion scores the prior map alone, not the per-cluster maps
        fitted on top of it. With one row per cluster there is nothing to hold out
        and the ridge map is kept (what ``"contrastive"`` gives there too). It
        costs about 20 refits of the contrastive map, warm-started, which grow as
        the number of rows times the number of distinct targets: above 2,000,000
        of those (e.g. 2,000 questions of 1,000 answers) the criterion is not run
        and the contrastive map is taken (see the user guide).
        ``"shared"``: one ridge map fitted on all rows, shrunk
        toward the identity when ``n_features == n_targets`` (toward zero
        otherwise) with strength ``prior_alpha``. ``"contrastive"``: that ridge map
        refined so each row's prediction is nearer (by cosine) its own target than
        every other distinct target, by softmax cross-entropy at temperature 0.05
        with a penalty toward the ridge map (see the user guide). It learns from
        rows that share a target (paraphrases of one question); when no two rows
        do (one row per cluster, or a distinct target per row) it would only
        memorise them, and the ridge map is kept. ``"identity"``: needs
        ``n_features == n_targets`` (question and answer embeddings in one space).
        ``None``: :math:`P = 0`, the proposal's plain model. An array of shape
        ``(n_features, n_targets)`` is used as given.
    prior_alpha : float or "auto", default="auto"
        Ridge strength of ``prior="shared"`` and ``"contrastive"``, in
        :class:`~sklearn.linear_model.Ridge`'s convention; unused by the other
        priors. Large values give the identity back (square maps). ``"auto"`` picks it
        from ``[0.1, 0.3, ..., 1000]`` times the mean squared norm of the rows of ``X``
        by exact leave-one-out retrieval, as :class:`~sklearn.linear_model.RidgeCV` does
        by squared error: each row whose cluster has other rows is predicted by the
        prior fitted without it, and the mean reciprocal rank of its own target among
        all targets is maximised. With one row per cluster it is 1.0.
    alpha : float, default=1.0
        Penalty :math:`s` on :math:`\lVert W_i - P\rVert_F^2`, added to each cluster's
        summed row loss: a ridge of strength ``alpha = s`` in
        :class:`~sklearn.linear_model.Ridge`'s convention, so its pull weakens as a
        cluster gets more rows.
    smoothness : float, default=0.0
        Strength :math:`\mu` of the answer-similarity penalty
        :math:`\frac{\mu}{N} \sum_{i<j} S_{ij} \frac{1/n_i + 1/n_j}{2}
        \lVert W_i - W_j\rVert_F^2`, which pulls the maps of clusters with near
        answers toward each other (with the orthonormal basis, a penalty on their
        coefficient differences). :math:`S` is the symmetrised cosine
        ``smoothness_neighbors``-nearest-neighbour graph of the clusters' mean
        targets (``target_means_``), weights :math:`\max(\cos, 0)`; the factor
        :math:`(1/n_i + 1/n_j)/2` is ``alpha``'s convention, so the pull
        weakens as clusters get rows. It couples the clusters: their
        coefficients are solved jointly (Gauss-Newton with conjugate-gradient
        steps over all clusters), which holds the rows' coefficient statistics,
        :math:`8 (K^2 + 2K + 5)` bytes per row, of all rows at once (not bounded
        by ``working_memory``, which bounds the chunks' designs). ``0`` (the
        default) is the uncoupled model and its solver, unchanged. The graph is
        rebuilt over the clusters with rows at every :meth:`fit` and
        :meth:`partial_fit`. Not combined with ``sparsity`` or ``basis_rank``
        yet (a ValueError names both): the joint solve has no L1 term and reads
        the dense design. See the user guide for when it helps.
    smoothness_neighbors : int, default=5
        Neighbours of each cluster in the answer graph of ``smoothness``.
    sparsity : float, default=0.0
        L1 penalty :math:`t` on each cluster's coefficients: cluster :math:`i`
        minimises :math:`L_i + t\,\lVert C_i\rVert_1`, the penalty added to its
        *mean* loss (not divided by :math:`n_i`: the
        :class:`~sklearn.linear_model.Lasso`'s convention), so that
        ``objective_`` is the mean over clusters of
        :math:`L_i + t\lVert C_i\rVert_1`. It is solved exactly in every
        coefficient step (proximal Gauss-Newton steps whose L1-regularised
        quadratic model is minimised by an active-set search, then a line search
        on the penalised objective), so coefficients are exactly zero where the
        optimality conditions say so; nothing is thresholded afterwards. As the L1
        norm is not invariant to rescaling a basis matrix (:math:`2 G_k` and
        :math:`C_{ik}/2` give the same maps), with ``sparsity > 0`` the basis is
        held at unit Frobenius norm (:math:`\lVert G_k\rVert_F = 1`, the gauge of
        dictionary learning) and never re-orthonormalised (``solver="gd"``'s
        ``reorth_interval`` only rescales them to unit norm): ``basis_`` is
        unit-norm, not orthonormal. ``0`` (the
        default) is the model without it, on exactly the same code path. See the
        user guide for what it gives on the retrieval sets.
    routing : {"soft", "hard"}, default="soft"
        Prediction of rows with an unknown cluster: ``"soft"`` uses
        :math:`\sum_i w_i x W_i` with :math:`w = \mathrm{softmax}(\cos(L x, L c_i) / T)`
        (see ``routing_shrinkage``), computed as
        :math:`x P + \sum_k (\sum_i w_i C_{ik}) x G_k` in :math:`O(K d p + N d)` per
        row (:math:`O(K r (d + p) + N d)` with ``basis_rank``; plus :math:`d^2` for
        :math:`L x`); ``"hard"`` uses the nearest
        centroid's map.
    routing_temperature : float, default=0.03
        Softmax temperature :math:`T` of soft routing.
    routing_shrinkage : float in (0, 1] or "auto", default="auto"
        Shrinkage :math:`\rho` toward the identity of the within-cluster covariance
        that whitens routing, as in
        :class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis`:
        queries are compared with centroids by :math:`\cos(L x, L c_i)`,
        :math:`L = ((1-\rho) S_w + \rho \mu I)^{-1/2}`, which discounts the
        directions in which paraphrases of one question differ. ``1.0`` is plain
        cosine routing; ``"auto"`` is the Ledoit-Wolf estimate. With one row per
        cluster there is nothing to whiten by and routing is plain cosine.
    n_jobs : int, default=None
        Number of joblib jobs (threads) evaluating the objective: the clusters are
        split into at least ``n_jobs`` chunks (each also within
        ``working_memory``), and BLAS is limited to one thread per job while they
        run. ``None`` means 1 unless in a :func:`joblib.parallel_config` context,
        ``-1`` all processors. Results agree for any ``n_jobs`` up to rounding:
        each cluster's coefficients depend on its rows alone (with
        ``smoothness``, on the statistics of all rows, however chunked), but the
        objective and the basis gradient are sums over chunks, added in another
        order (``benchmarks/parallel.py`` measures the speed-up).
    random_state : int, RandomState instance or None, default=None
        Seeds the ``"random"`` init, the completion of missing directions and the
        randomized SVD of large problems.
    verbose : int, default=0
        Print the objective at each iteration when positive.

    Attributes
    ----------
    basis_ : ndarray of shape (`n_basis_`, `n_features_in_`, `n_targets_`) or None
        The shared basis :math:`G`, orthonormal in the Frobenius inner product
        (with ``sparsity > 0``: each of unit Frobenius norm, not orthogonal).
        None with ``basis_rank``: the maps exist in factored form only (form one
        as ``basis_left_[k] @ basis_right_[k].T`` if needed), as the point of the
        option is never to hold :math:`K d p` numbers.
    basis_left_ : ndarray of shape (`n_basis_`, `n_features_in_`, basis_rank) or None
        With ``basis_rank``: the factors :math:`U_k` of
        :math:`G_k = U_k V_k^T`, each :math:`G_k` of unit Frobenius norm (not
        orthogonal to the others) and balanced, :math:`U_k^T U_k = V_k^T V_k`
        diagonal. None without ``basis_rank``.
    basis_right_ : ndarray of shape (`n_basis_`, `n_targets_`, basis_rank) or None
        With ``basis_rank``: the factors :math:`V_k`. None without ``basis_rank``.
    coefficients_ : ndarray of shape (n_clusters, `n_basis_`)
        Coefficients :math:`C` of each cluster, in the order of ``clusters_``.
    clusters_ : ndarray of shape (n_clusters,)
        Sorted cluster labels seen in fit.
    centroids_ : ndarray of shape (n_clusters, `n_features_in_`)
        Mean input of each cluster, used for routing.
    routing_transform_ : ndarray of shape (`n_features_in_`, `n_features_in_`) or None
        The whitening map :math:`L` of routing; None for plain cosine routing.
    routing_shrinkage_ : float
        The alpha :math:`\rho` used (1.0 for plain cosine routing).
    routing_centroids_ : ndarray of shape (n_clusters, `n_features_in_`)
        :math:`L c_i` scaled to unit norm: what queries are compared with.
    prior_ : ndarray of shape (`n_features_in_`, `n_targets_`) or None
        The prior map :math:`P`.
    prior_alpha_ : float or None
        Ridge strength of the ``"shared"`` or ``"contrastive"`` prior
        (``prior_alpha`` resolved); None for the other priors, and when
        ``prior="auto"`` chooses the identity.
    prior_n_iter_ : int or None
        L-BFGS iterations of the ``"contrastive"`` prior (0 when no two rows share a
        target and the ridge map is kept); None for the other priors.
    prior_choice_ : str or None
        The prior used, ``prior="auto"`` resolved (``"identity"``, ``"shared"`` or
        ``"contrastive"``); None when ``prior`` is an array or None.
    prior_scores_ : dict or None
        With ``prior="auto"``: each candidate's held-out mean reciprocal rank,
        corrected for cluster size, by name. Empty when no cluster has two rows,
        or when the data is too large for the criterion (no criterion). None for
        the other priors.
    prior_standard_errors_ : dict or None
        With ``prior="auto"``: the standard error of each candidate's paired
        difference in score from the best candidate, by name; ``prior_choice_``
        is the first candidate, in the order identity, shared, contrastive, whose
        score is within its standard error of the best. Empty when
        ``prior_scores_`` is. None for the other priors.
    n_basis_ : int
        Number of basis matrices used.
    n_iter_ : int
        Number of basis iterations run.
    loss_curve_ : list of float
        Objective after each iteration (with ``sparsity``, its L1 term included).
    objective_ : float
        Final value of the objective (with ``sparsity``, its L1 term included).
    n_targets_ : int
        Number of targets.
    n_features_in_ : int
        Number of features seen during fit.
    n_samples_seen_ : int
        Number of rows seen by :meth:`fit` and :meth:`partial_fit`, all kept.
    target_means_ : ndarray of shape (n_clusters, `n_targets_`)
        Mean target (answer) of each cluster; for a cluster added by
        :meth:`add_clusters` and given no rows yet, its answer.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    IndependentProjectionRegressor : One unconstrained map per cluster.
    SharedProjectionRegressor : One map for all clusters.
    MultiHeadRegressor : Softmax router over the clusters' mean targets.

    Notes
    -----
    Growing the model without refitting. :meth:`partial_fit` keeps the number of
    basis maps as fitted, and on all rows so far: recomputes the centroids and the
    whitening of routing as :meth:`fit` would; updates a prior learned from the
    rows, warm-started (``"shared"``: the ridge map at the fitted ``prior_alpha_``;
    ``"contrastive"``: that map refined by at most 10 L-BFGS iterations from the
    current prior; the identity, a given array and ``None`` stay); solves the
    coefficients of every cluster against the current basis, lets the
    basis take one step of ``solver`` on the objective of all rows (with
    backtracking, so the objective never increases: the new clusters cannot pull
    the basis away from the known ones), and solves the coefficients again
    against the new basis. Each cluster's coefficients are therefore those a
    re-solve with all its rows gives, for the basis and prior the model has. It
    costs a few prior iterations and one solver iteration of :meth:`fit` on all
    rows, without the search of ``prior_alpha``, the initial basis and the other
    iterations. The state kept between calls is the
    rows themselves, sorted by cluster: ``n_samples_seen_ * (n_features_in_ +
    n_targets_)`` numbers in the fitted dtype, as much memory as the training
    data. They are the smallest exact summary here: the cosine term has no
    fixed-size sufficient statistic, and per-cluster Gram matrices
    (:math:`d^2 + d p` numbers each) are larger than the rows of any cluster
    with fewer than :math:`d + p` questions.

    :meth:`add_clusters` gives a cluster known by its answer :math:`a` only the
    coefficients :math:`\sum_j w_j C_j` of its answer-space neighbours (so its map
    is :math:`P + \sum_j w_j (W_j - P)`, re-formed from their current
    coefficients after every :meth:`partial_fit` until it has rows of its own), and
    as routing centroid :math:`a` itself when ``n_features == n_targets``,
    otherwise the least-squares preimage of :math:`a` through :math:`P` (the
    question :math:`x` of least norm minimising :math:`\lVert x P - a\rVert`).

    References
    ----------
    "Smoothing Basis for Multi-Cluster Projection", version 0.2 (2025-12-15): an
    unpublished design proposal of the UnifyWeaver project, not a peer-reviewed
    publication. The basis model, its loss and the ``"gd"`` solver come from it.

    Examples
    --------
    >>> from sklearn_smoothbasis import SmoothingBasisRegressor
    >>> from sklearn_smoothbasis.datasets import make_multicluster_regression
    >>> X, Y, groups = make_multicluster_regression(
    ...     n_clusters=20, n_basis=2, n_features=8, n_targets=8, random_state=0)
    >>> model = SmoothingBasisRegressor(n_basis=2, prior=None, alpha=0.0,
    ...                                 cosine_weight=0.0, random_state=0)
    >>> model = model.fit(X, Y, groups=groups)
    >>> model.basis_.shape, model.coefficients_.shape
    ((2, 8, 8), (20, 2))
    >>> round(model.score(X, Y, groups=groups), 2)
    1.0

    Low-rank basis maps, kept as factors :math:`G_k = U_k V_k^T`:

    >>> low = SmoothingBasisRegressor(n_basis=2, basis_rank=3, prior=None,
    ...                               random_state=0).fit(X, Y, groups=groups)
    >>> low.basis_left_.shape, low.basis_right_.shape, low.basis_ is None
    ((2, 8, 3), (2, 8, 3), True)

    Grow it: more rows of known clusters or new ones, and a cluster known only by
    its answer.

    >>> model = model.partial_fit(X[:5], Y[:5], groups=groups[:5])
    >>> model.n_samples_seen_ == len(X) + 5
    True
    >>> model = model.add_clusters([100], Y[:1])
    >>> model.coefficients_.shape
    (21, 2)
    """

    _parameter_constraints = {
        "n_basis": [IntegerInterval(1, None, closed="left"), StrOptions({"auto"})],
        "basis_rank": [IntegerInterval(1, None, closed="left"), None],
        "cosine_weight": [Interval(Real, 0, 1, closed="both")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"lbfgs", "gd"})],
        "init": [StrOptions({"svd", "random"})],
        "max_iter": [IntegerInterval(1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "reorth_interval": [IntegerInterval(1, None, closed="left"), None],
        "prior": [
            StrOptions({"auto", "identity", "shared", "contrastive"}),
            "array-like",
            None,
        ],
        "prior_alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "smoothness": [Interval(Real, 0, None, closed="left")],
        "smoothness_neighbors": [IntegerInterval(1, None, closed="left")],
        "sparsity": [Interval(Real, 0, None, closed="left")],
        **_BaseClusterRegressor._routing_constraints,
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_basis="auto",
        *,
        basis_rank=None,
        cosine_weight=0.5,
        lr=1.0,
        solver="lbfgs",
        init="svd",
        max_iter=100,
        tol=1e-5,
        reorth_interval=10,
        prior="auto",
        prior_alpha="auto",
        alpha=1.0,
        smoothness=0.0,
        smoothness_neighbors=5,
        sparsity=0.0,
        routing="soft",
        routing_temperature=0.03,
        routing_shrinkage="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_basis = n_basis
        self.basis_rank = basis_rank
        self.cosine_weight = cosine_weight
        self.lr = lr
        self.solver = solver
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.reorth_interval = reorth_interval
        self.prior = prior
        self.prior_alpha = prior_alpha
        self.alpha = alpha
        self.smoothness = smoothness
        self.smoothness_neighbors = smoothness_neighbors
        self.sparsity = sparsity
        self.routing = routing
        self.routing_temperature = routing_temperature
        self.routing_shrinkage = routing_shrinkage
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, n_features, n_targets, n_clusters):
        """Cross-parameter checks; returns the resolved number of basis matrices."""
        self._check_basis_rank(n_features, n_targets)
        self._check_sparsity()
        most = min(n_clusters, n_features * n_targets)
        if self.n_basis == "auto":
            return min(math.ceil(math.sqrt(n_clusters)), AUTO_MAX_BASIS, most)
        if self.n_basis > most:
            raise ValueError(
                f"n_basis={self.n_basis} is larger than the data supports: with "
                f"{n_clusters} clusters, {n_features} features and {n_targets} targets "
                f"at most min(n_clusters, n_features * n_targets) = {most} basis maps "
                "are identifiable. Lower n_basis or pass more clusters."
            )
        return self.n_basis

    def _check_sparsity(self):
        if not self.sparsity:
            return
        for name, value, off, reason in (
            ("smoothness", self.smoothness, "smoothness=0",
             "the smoothness penalty's joint coefficient solve has no L1 term"),
            ("basis_rank", self.basis_rank, "basis_rank=None",
             "the unit-norm gauge of the L1 term is written for dense basis maps"),
        ):
            if value:
                raise ValueError(
                    f"sparsity={self.sparsity} cannot yet be combined with "
                    f"{name}={value}: {reason}. Use sparsity=0 or {off}."
                )

    def _check_basis_rank(self, n_features, n_targets):
        if self.basis_rank is None:
            return
        if self.smoothness > 0:
            raise ValueError(
                f"basis_rank={self.basis_rank} cannot yet be combined with "
                f"smoothness={self.smoothness}: the smoothness penalty's joint "
                "coefficient solve works on dense basis maps only. Use basis_rank=None "
                "or smoothness=0."
            )
        if self.basis_rank > min(n_features, n_targets):
            raise ValueError(
                f"basis_rank={self.basis_rank} is larger than the rank a "
                f"{n_features} x {n_targets} basis map can have, "
                f"min(n_features, n_targets) = {min(n_features, n_targets)}. Lower "
                "basis_rank, or use basis_rank=None for dense basis maps."
            )

    def _fit_prior(self, X, Y, starts):
        d, p = X.shape[1], Y.shape[1]
        prior = self.prior
        self.prior_alpha_ = self.prior_n_iter_ = self.prior_scores_ = None
        self.prior_standard_errors_ = None
        self.prior_choice_ = prior if isinstance(prior, str) else None
        if prior is None:
            return None
        if not isinstance(prior, str):
            prior = check_array(prior, dtype=X.dtype, input_name="prior")
            if prior.shape != (d, p):
                raise ValueError(
                    f"prior must have shape (n_features, n_targets) = ({d}, {p}); got "
                    f"{prior.shape}."
                )
            return prior
        if prior == "identity":
            if d != p:
                raise ValueError(
                    "prior='identity' needs as many features as targets (questions and "
                    f"answers in one embedding space); got n_features={d} and "
                    f"n_targets={p}. Use prior='shared' or prior=None."
                )
            return np.eye(d, dtype=X.dtype)
        converged = True
        if prior == "auto":
            selected = select_prior(X, Y, starts, self.prior_alpha)
            self.prior_choice_, self.prior_scores_ = selected.choice, selected.scores
            self.prior_standard_errors_ = selected.standard_errors
            self.prior_alpha_, self.prior_n_iter_ = selected.alpha, selected.n_iter
            prior, converged = selected.prior, selected.converged is not False
        else:
            prior, self.prior_alpha_ = ridge_prior(X, Y, starts, self.prior_alpha)
            if self.prior == "contrastive":
                prior, self.prior_n_iter_, converged = contrastive_map(X, Y, prior)
        if not converged:
            warnings.warn(
                f"The contrastive prior of {type(self).__name__} did not converge in "
                f"{self.prior_n_iter_} L-BFGS iterations; it is used as it is.",
                ConvergenceWarning,
            )
        return prior

    def _initial_basis(self, X, Y, base, starts, n_basis):
        """The initial basis, or with ``basis_rank`` the factors ``[U; V]``."""
        rank = self.basis_rank
        if self.init == "random":
            if rank is not None:
                return random_factors(n_basis, X.shape[1], Y.shape[1], rank, X.dtype,
                                      self.random_state)
            return random_basis(
                n_basis, X.shape[1], Y.shape[1], X.dtype, self.random_state
            )
        # The top directions of the maps of a sample of the clusters (all of them
        # up to _INIT_MAX_ROWS rows).
        rows, starts = sampled_clusters(starts, _INIT_MAX_ROWS)
        X, residual = X[rows], Y[rows] if base is None else Y[rows] - base[rows]
        mean_sq = float(np.einsum("ij,ij->", X, X)) / X.shape[0]
        ridge = self.alpha + _INIT_RELATIVE_RIDGE * max(mean_sq, 1e-12)
        factors = cluster_ridge_factors(X, residual, starts, ridge)
        if rank is not None:
            return low_rank_map_directions(X, factors, starts, n_basis, rank,
                                           self.random_state)
        return top_map_directions(X, factors, starts, n_basis, self.random_state)

    def _basis_parameters(self):
        """The fitted basis as the solver's parameter array (``[U; V]`` factored)."""
        if self.basis_ is not None:
            return self.basis_
        return np.concatenate([self.basis_left_, self.basis_right_], axis=1)

    def _chunk_starts(self, starts, n_basis, n_targets, itemsize, rank=None):
        """Cluster offsets of the chunks (:func:`._parallel.cluster_chunks`)."""
        # Per row, in the data's dtype: the design, the weighted gradient rows and
        # their copies (4 K p), the predictions, residuals and row gradients (6 p),
        # Z Z^T (K^2); in float64, the coefficient step's statistics and
        # temporaries (2 K^2 + 6 K).
        width = 4 * n_basis * n_targets
        if rank is not None:
            # Factored: X U, its products with V^T V and e V^T, the two weighted
            # gradient rows (5 K r) instead of the design and its gradient rows.
            width = 5 * n_basis * rank
        row_bytes = (itemsize * (width + n_basis**2 + 6 * n_targets)
                     + 8 * (2 * n_basis**2 + 6 * n_basis))
        return cluster_chunks(starts, row_bytes, self.n_jobs)

    def _fit_clusters(self, X, Y, starts):
        _check_magnitudes(X, Y)
        n_clusters = len(starts) - 1
        n_basis = self._check_params(X.shape[1], Y.shape[1], n_clusters)
        prior = self._fit_prior(X, Y, starts)
        base = None if prior is None else X @ prior
        basis = self._initial_basis(X, Y, base, starts, n_basis)
        converged = self._solve(X, Y, base, starts, basis, self.max_iter)
        if not converged and self.tol > 0:
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                f"iterations: the last one decreased the objective by more than "
                f"tol={self.tol} (relative). Increase max_iter, or raise tol.",
                ConvergenceWarning,
            )
        self.prior_, self.n_basis_ = prior, n_basis
        # n_neighbors of each cluster added by add_clusters (0: it has rows).
        self._answer_neighbors = np.zeros(n_clusters, dtype=np.int64)
        self.target_means_ = cluster_means(Y, starts)

    def _solve(self, X, Y, base, starts, basis, max_iter, solver=None):
        """Run the solver (``self.solver`` unless ``solver`` is given) from ``basis``
        (coefficients solved from scratch) and store ``basis_``, ``coefficients_``,
        ``n_iter_``, ``loss_curve_``, ``objective_``; returns whether it
        converged."""
        n_basis = basis.shape[0]
        # A factored basis is passed as [U; V], of d + p rows per basis map.
        rank = basis.shape[2] if basis.shape[1] == X.shape[1] + Y.shape[1] else None
        coef = np.zeros((len(starts) - 1, n_basis), dtype=X.dtype)
        chunk_starts = self._chunk_starts(starts, n_basis, Y.shape[1], X.itemsize,
                                          rank)
        laplacian = None
        # With smoothness the coefficient step holds the statistics of all rows at
        # once (BasisObjective._coupled_call): the chunks above bound only each
        # chunk's design and temporaries, not that.
        if self.smoothness > 0:  # the answer graph of the clusters solved for
            graph = answer_graph(cluster_means(Y, starts), self.smoothness_neighbors)
            laplacian = smoothness_laplacian(graph, np.diff(starts), self.smoothness)
        with parallel_chunks(self.n_jobs, len(chunk_starts) - 1) as run:
            objective = (BasisObjective if rank is None else LowRankObjective)(
                X, Y, base, starts, ClusterLoss(self.cosine_weight), self.alpha,
                chunk_starts, run, laplacian=laplacian,
                **({"sparsity": self.sparsity} if self.sparsity else {}),
            )
            if self.sparsity:
                # The L1 term fixes the gauge: unit-norm basis matrices, never
                # re-orthonormalised (that would mix the coefficients).
                objective = UnitNormObjective(objective)
            basis, coef, value, n_iter, loss_curve, converged = fit_basis(
                objective, basis, coef, solver=solver or self.solver, lr=self.lr,
                max_iter=max_iter, tol=self.tol,
                reorth_interval=self.reorth_interval, verbose=self.verbose,
            )
            # The same maps in the preferred gauge: J, a function of the maps, is
            # the value the solver ended with.
            basis, coef = objective.normalize(basis, coef)
            self.objective_ = value
        self.basis_left_ = self.basis_right_ = None
        if rank is not None:
            self.basis_left_, self.basis_right_ = (
                np.ascontiguousarray(f) for f in split_factors(basis, X.shape[1])
            )
            basis = None
        self.basis_, self.coefficients_ = basis, coef
        self.n_iter_, self.loss_curve_ = n_iter, loss_curve
        return converged

    def _partial_fit_clusters(self, X, Y, starts, old_index, touched):
        """One solver iteration on all rows so far, from the current basis.

        ``n_basis_`` and the solver stay as fitted; a prior learned from rows
        follows them (:meth:`_update_prior`). The coefficients of
        every cluster with rows are solved against the current basis (from scratch,
        as at the start of :meth:`fit`), the basis takes one gradient step on the
        objective of all rows so far (``solver="gd"``'s step: length ``lr / L``,
        halved until the objective decreases, so it cannot trade the fit of the
        known clusters for the new ones), and the coefficients are solved again
        against the new basis. A gradient step, whatever ``solver``: L-BFGS has no
        curvature pairs at a first iteration and lengthens its gradient step by
        further passes over all rows, which cost more than they gave (on the
        bundled demo half of ``partial_fit``'s time, for 0.1 point of Recall@1).
        """
        n_clusters = len(starts) - 1
        answers = spread_rows(self.target_means_, old_index, n_clusters)
        self.target_means_ = fill_cluster_means(Y, starts, answers)
        row_starts, has_rows = non_empty_starts(starts)
        self._update_prior(X, Y, row_starts)
        base = None if self.prior_ is None else X @ self.prior_
        self._solve(X, Y, base, row_starts, self._basis_parameters(), max_iter=1,
                    solver="gd")
        fitted_coef = self.coefficients_
        self.coefficients_ = np.zeros((n_clusters, self.n_basis_), dtype=X.dtype)
        self.coefficients_[has_rows] = fitted_coef
        # Clusters known by their answer only borrow again from the current maps.
        self._answer_neighbors = spread_rows(
            self._answer_neighbors, old_index, n_clusters
        )
        self._answer_neighbors[has_rows] = 0
        for n_neighbors in np.unique(self._answer_neighbors[~has_rows]):
            cold = self._answer_neighbors == n_neighbors
            weights = answer_neighbour_weights(
                self.target_means_[cold], self.target_means_[has_rows], n_neighbors
            )
            self.coefficients_[cold] = weights @ fitted_coef

    def _update_prior(self, X, Y, starts):
        """A prior learned from the rows follows all rows so far, warm-started.

        ``"shared"``: the ridge map of all rows at the fitted strength
        ``prior_alpha_`` (not searched again). ``"contrastive"``: that ridge map
        refined by at most ``_PARTIAL_FIT_PRIOR_MAX_ITER`` L-BFGS iterations
        started from the current prior. The identity, a given array and no prior
        learn nothing from rows and are kept.
        """
        if self.prior_choice_ not in ("shared", "contrastive"):
            return
        ridge, _ = ridge_prior(X, Y, starts, self.prior_alpha_)
        if self.prior_choice_ == "shared":
            self.prior_ = ridge
        else:
            self.prior_, self.prior_n_iter_, _ = contrastive_map(
                X, Y, ridge, init=self.prior_, max_iter=_PARTIAL_FIT_PRIOR_MAX_ITER
            )

    def _add_answer_clusters(self, old_index, new_index, answers, weights, fitted,
                             n_neighbors):
        r"""Coefficients: the neighbour-weighted mean of the neighbours' coefficients,
        so the map is :math:`P + \sum_j w_j (W_j - P)`. Centroid: the answer itself
        when ``n_features == n_targets``, otherwise its least-squares preimage through
        the prior :math:`P` (an error when there is no prior)."""
        n_clusters = len(old_index) + len(new_index)
        self._set_answer_centroids(
            old_index, new_index, answers,
            None if self.prior_ is None else [self.prior_] * len(new_index),
        )
        self.target_means_ = spread_rows(self.target_means_, old_index, n_clusters)
        self.target_means_[new_index] = answers
        coefficients = spread_rows(self.coefficients_, old_index, n_clusters)
        coefficients[new_index] = weights @ self.coefficients_[fitted]
        self.coefficients_ = coefficients
        self._answer_neighbors = spread_rows(
            self._answer_neighbors, old_index, n_clusters
        )
        self._answer_neighbors[new_index] = n_neighbors

    def _predict_coefficient_rows(self, X, coef_rows):
        base = None if self.prior_ is None else X @ self.prior_
        coef_rows = coef_rows.astype(X.dtype, copy=False)
        if self.basis_ is None:  # factored
            left = self.basis_left_.astype(X.dtype, copy=False)
            right = self.basis_right_.astype(X.dtype, copy=False)
            return factored_design(X, left, right).predict(coef_rows, base)
        Z = design(X, basis_matrix(self.basis_), self.n_basis_)
        return predict_from_design(Z, coef_rows, base)

    def _predict_hard(self, X, clusters):
        return self._predict_coefficient_rows(X, self.coefficients_[clusters])

    def _predict_row_values(self):
        # The design row (K p), x P and the prediction (2 p), the coefficient row
        # and its cast (2 K).
        K, p = self.n_basis_, self.n_targets_
        if self.basis_ is None:  # factored: X U and its coefficient-weighted copy
            return 2 * K * self.basis_left_.shape[2] + 2 * p + 2 * K
        return K * p + 2 * p + 2 * K

    def _predict_soft(self, X, weights):
        return self._predict_coefficient_rows(X, weights @ self.coefficients_)
