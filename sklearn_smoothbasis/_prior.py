r"""The shared prior map: ridge strength by leave-one-out, contrastive refinement.

The prior of :class:`~sklearn_smoothbasis.SmoothingBasisRegressor` is one ridge map
fitted on all rows, shrunk toward a centre :math:`M` (the identity when questions and
answers share one embedding space, zero otherwise):

.. math::

    P_\alpha = M + \operatorname{argmin}_W \lVert X W - (Y - X M)\rVert_F^2
    + \alpha \lVert W\rVert_F^2 .

How far to trust the shared map against the centre depends on the data: where questions
and answers are close already (zero-shot retrieval works), a large :math:`\alpha` keeps
the prior near the identity; where they are far apart (short intent labels as answers),
a small :math:`\alpha` lets it move. ``prior_alpha="auto"`` chooses :math:`\alpha` as
:class:`~sklearn.linear_model.RidgeCV` does, from exact leave-one-out predictions
computed for every candidate at once from one eigendecomposition of :math:`X^\top X`:

.. math::

    \hat z_{-r} = z_r - \frac{z_r - x_r (X^\top X + \alpha I)^{-1} X^\top Z}
    {1 - x_r (X^\top X + \alpha I)^{-1} x_r^\top}, \qquad Z = Y - X M,

scored by retrieval rather than squared error: the mean reciprocal rank of each row's
own target among all distinct targets, by cosine (the squared error prefers small
:math:`\alpha` everywhere, retrieval does not). Only rows whose cluster keeps other rows
when they are left out are scored: they are new questions of a known cluster, what the
model is used for. With one row per cluster there is no such row and :math:`\alpha`
falls back to 1.

Cost: :math:`O(n d^2 + d^3)` for the eigendecomposition, then per candidate
:math:`O(m d p + m u p)` for :math:`m \le 1000` scored rows and :math:`u` distinct
targets, ranked against at most 11,000 of them (the scored rows' own and 10,000
others, evenly spaced). With one answer per cluster :math:`u` is the number of
clusters; with a distinct target per row (general regression) it is :math:`n`.

``prior="contrastive"`` then refines the ridge map for retrieval
(:func:`contrastive_map`): the squared error rewards a prediction near its answer,
retrieval rewards it for being nearer its answer than every other one, which a softmax
cross-entropy over the cosines to all distinct answers
(:class:`~sklearn_smoothbasis._loss.ContrastiveLoss`) measures; a penalty keeps the
map near the ridge map. It learns from rows that share an answer, and is skipped when
none do.
"""

import numpy as np
from scipy.optimize import minimize
from sklearn.utils import Bunch, gen_batches
from sklearn.utils._chunking import get_chunk_n_rows

from ._linalg import linear_map, unit_rows
from ._loss import ContrastiveLoss
from ._ranking import ranks_of_targets, target_indices

# Candidates of prior_alpha="auto", in units of the mean squared norm of the rows of X.
PRIOR_ALPHA_GRID = np.logspace(-1, 3, 9)
# prior_alpha="auto" without a cluster of two rows to score.
FALLBACK_PRIOR_ALPHA = 1.0
# Rows scored at most (evenly spaced over the eligible ones), and distinct targets
# ranked against at most (their own plus evenly spaced others): bound time and memory.
_MAX_SCORED_ROWS = 1000
_MAX_CANDIDATES = 10_000
# prior="contrastive": softmax temperature of the cosines, penalty toward the ridge map
# (in units of the mean squared norm of the rows of X), L-BFGS iterations and tolerance
# on the largest gradient entry (scipy's default).
_CONTRASTIVE_TEMPERATURE = 0.05
_CONTRASTIVE_PENALTY = 1e-3
_CONTRASTIVE_MAX_ITER = 500
_CONTRASTIVE_GTOL = 1e-5
# Rows in the contrastive loss at most (evenly spaced); their targets are ranked
# against at most _MAX_CANDIDATES others, as in the choice of prior_alpha.
_MAX_CONTRASTIVE_ROWS = 10_000
# prior="auto": the candidates, in the order that breaks ties (the simpler first), and
# the number of folds of the held-out criterion.
PRIOR_CANDIDATES = ("identity", "shared", "contrastive")
PRIOR_FOLDS = 10
# prior="auto": the held-out criterion refits the contrastive map about twenty times,
# each evaluation costing rows x distinct targets x n_targets; above this many rows x
# distinct targets (e.g. 2,000 questions of 1,000 answers) it is not run and the
# contrastive map is taken, the criterion's choice on every split of the largest real
# set measured (clinc150, 450 x 150; docs/benchmarks.md, "The prior chosen by the
# data"), where the simpler priors win only on sets of at most 150 questions.
CRITERION_MAX_COST = 2_000_000


def ridge_loo_predictions(X, Z, alphas, rows):
    """Leave-one-out ridge predictions of ``Z[rows]`` from ``X``, for each alpha.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs of all rows.
    Z : ndarray of shape (n_samples, n_targets)
        Targets of all rows.
    alphas : sequence of float
        Ridge strengths, each positive.
    rows : ndarray of int
        Rows to predict, each from the ridge map fitted on all other rows.

    Yields
    ------
    ndarray of shape (len(rows), n_targets)
        The predictions for one alpha, in the order of ``alphas``, in float64.
    """
    # The two products over all rows run in the input's precision; the rest is small.
    eigenvalues, eigenvectors = np.linalg.eigh((X.T @ X).astype(np.float64))
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    rotated_cross = eigenvectors.T @ (X.T @ Z).astype(np.float64)
    rotated_rows = X[rows].astype(np.float64) @ eigenvectors
    Z_rows = Z[rows].astype(np.float64)
    for alpha in alphas:
        inverse = 1.0 / (eigenvalues + alpha)
        leverage = (rotated_rows**2) @ inverse
        fitted = (rotated_rows * inverse) @ rotated_cross
        yield Z_rows - (Z_rows - fitted) / (1.0 - leverage)[:, None]


def _distinct_rows(Y):
    """The distinct rows of ``Y``, dropping repeats of the previous row first (cheap
    when rows are sorted by cluster and a cluster shares one target)."""
    repeats = np.zeros(len(Y), dtype=bool)
    repeats[1:] = np.all(Y[1:] == Y[:-1], axis=1)
    return np.unique(Y[~repeats], axis=0)


def _evenly_spaced(indices, at_most):
    """``indices`` itself, or ``at_most`` of them evenly spaced."""
    if indices.size <= at_most:
        return indices
    return indices[np.linspace(0, indices.size - 1, at_most).astype(int)]


def _bounded_candidates(Y, scored, distinct=None):
    """Distinct rows of ``Y``: those of the ``scored`` rows plus at most
    :data:`_MAX_CANDIDATES` others, evenly spaced (all of them when fewer).
    ``distinct``: ``_distinct_rows(Y)`` when the caller has it already."""
    targets = _distinct_rows(Y) if distinct is None else distinct
    if len(targets) > _MAX_CANDIDATES:
        others = targets[_evenly_spaced(np.arange(len(targets)), _MAX_CANDIDATES)]
        targets = np.unique(np.vstack([Y[scored], others]), axis=0)
    return targets


def select_prior_alpha(X, Y, starts, toward_identity, distinct=None):
    """Ridge strength of the shared prior with the best leave-one-out retrieval.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows sorted by cluster; cluster ``i`` owns rows ``starts[i]:starts[i+1]``.
    Y : ndarray of shape (n_samples, n_targets)
        Targets.
    starts : ndarray of shape (n_clusters + 1,)
        Row offsets of the clusters.
    toward_identity : bool
        Whether the ridge map is shrunk toward the identity (square maps) instead
        of toward zero.
    distinct : ndarray, default=None
        The distinct rows of ``Y`` in lexicographic order (``np.unique(Y,
        axis=0)``) when the caller has them; found here otherwise.

    Returns
    -------
    alpha : float
        The candidate of :data:`PRIOR_ALPHA_GRID` (times the mean squared row norm)
        with the highest mean reciprocal rank, the smallest one if tied;
        :data:`FALLBACK_PRIOR_ALPHA` when no cluster has two rows.
    """
    counts = np.diff(starts)
    scored = np.flatnonzero(np.repeat(counts >= 2, counts))
    mean_sq = float(np.einsum("ij,ij->", X, X, dtype=np.float64)) / X.shape[0]
    if scored.size == 0 or mean_sq == 0.0:
        return FALLBACK_PRIOR_ALPHA
    scored = _evenly_spaced(scored, _MAX_SCORED_ROWS)
    alphas = PRIOR_ALPHA_GRID * mean_sq
    Z = Y - X if toward_identity else Y
    offset = X[scored] if toward_identity else 0
    targets = _bounded_candidates(Y, scored, distinct)
    own_target = target_indices(Y[scored], targets)
    mean_reciprocal_ranks = []
    for Z_loo in ridge_loo_predictions(X, Z, alphas, scored):
        predicted = (offset + Z_loo).astype(X.dtype)
        ranks = ranks_of_targets(predicted, targets, own_target)
        mean_reciprocal_ranks.append(np.mean(1.0 / ranks))
    return float(alphas[int(np.argmax(mean_reciprocal_ranks))])


def ridge_prior(X, Y, starts, alpha="auto", *, distinct=None):
    r"""The shared ridge map :math:`P_\alpha`, toward the identity when square.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows sorted by cluster; cluster ``i`` owns rows ``starts[i]:starts[i+1]``.
    Y : ndarray of shape (n_samples, n_targets)
        Targets.
    starts : ndarray of shape (n_clusters + 1,)
        Row offsets of the clusters.
    alpha : float or "auto", default="auto"
        Ridge strength; ``"auto"``: :func:`select_prior_alpha`.
    distinct : ndarray, default=None
        Passed to :func:`select_prior_alpha`.

    Returns
    -------
    prior : ndarray of shape (n_features, n_targets)
        The map, shrunk toward the identity when ``n_features == n_targets``
        (questions and answers in one space), toward zero otherwise.
    alpha : float
        The strength used.
    """
    square = X.shape[1] == Y.shape[1]
    if isinstance(alpha, str) and alpha == "auto":
        alpha = select_prior_alpha(X, Y, starts, toward_identity=square,
                                   distinct=distinct)
    center = np.eye(X.shape[1], dtype=X.dtype) if square else None
    return linear_map(X, Y, "ridge", float(alpha), center=center), float(alpha)


def contrastive_map(X, Y, anchor, *, temperature=_CONTRASTIVE_TEMPERATURE,
                    penalty=_CONTRASTIVE_PENALTY, max_iter=_CONTRASTIVE_MAX_ITER,
                    init=None, target_ids=None):
    r"""Refine a map so each row's prediction is nearer its own target than the others.

    Minimises, from :math:`W = P` (``anchor``),

    .. math::

        \ell_\tau(X W) + \mu\, m \lVert W - P \rVert_F^2 ,

    where :math:`\ell_\tau` is :class:`~sklearn_smoothbasis._loss.ContrastiveLoss`
    over the distinct non-zero rows of ``Y``, :math:`\mu` = ``penalty`` and :math:`m`
    the mean squared norm of the rows of ``X`` (so scaling ``X`` by :math:`c` scales
    the solution by :math:`1/c` when the anchor scales so too), by L-BFGS.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    Y : ndarray of shape (n_samples, n_targets)
        Targets; rows sharing a target (one answer per cluster) share a class.
    anchor : ndarray of shape (n_features, n_targets)
        Starting point and centre of the penalty (the ridge prior).
    temperature, penalty : float
        :math:`\tau` and :math:`\mu`.
    max_iter : int
        L-BFGS iterations at most.
    init : ndarray of shape (n_features, n_targets), default=None
        Starting point of L-BFGS; ``anchor`` when None. A start near the solution
        (the map fitted on nearly the same rows) saves iterations.
    target_ids : ndarray of int of shape (n_samples,), default=None
        When the caller has them: the index of each row's target among the
        distinct rows of a larger set in lexicographic order (the inverse of
        ``np.unique(Y_all, axis=0)`` for rows of ``Y_all``), which spares finding
        the distinct rows of ``Y`` again; the result is the same.

    Returns
    -------
    W : ndarray of shape (n_features, n_targets)
        The refined map, in the dtype of ``X``. ``anchor`` itself when no two rows
        share a target (one row per cluster, or a distinct target per row: nothing
        shows which differences between questions leave the answer unchanged, and
        the loss would only memorise the training pairs), or when ``Y`` has fewer
        than two distinct non-zero rows (nothing to contrast).
    n_iter : int
        L-BFGS iterations run.
    converged : bool
        Whether the largest gradient entry fell below the tolerance.

    Notes
    -----
    Rows with a zero target (no direction) are left out. Time and memory are
    bounded: at most 10,000 rows enter the loss (evenly spaced), each ranked
    against at most 10,000 distinct targets besides those rows' own (evenly
    spaced); the similarities are computed in chunks of rows that fit in
    ``sklearn.get_config()["working_memory"]``. One evaluation then costs
    :math:`O(n d p + m u p)` for the :math:`m \le 10^4` rows and
    :math:`u \le 2 \cdot 10^4` candidates.
    """
    directed = np.flatnonzero(np.einsum("ij,ij->i", Y, Y) > 0)
    if target_ids is None:
        distinct, directed_ids = _distinct_rows(Y[directed]), None
    else:  # the distinct rows, in the same order, from the integer ids
        _, first, directed_ids = np.unique(
            target_ids[directed], return_index=True, return_inverse=True
        )
        distinct = Y[directed[first]]
    if len(distinct) == directed.size:  # no two rows share a target
        return anchor, 0, True
    positions = _evenly_spaced(np.arange(directed.size), _MAX_CONTRASTIVE_ROWS)
    rows = directed[positions]
    targets = _bounded_candidates(Y[directed], positions, distinct)
    if len(targets) < 2:
        return anchor, 0, True
    X_rows = X[rows]
    if directed_ids is not None and targets is distinct:
        target_index = directed_ids.ravel()[positions]
    else:
        target_index = target_indices(Y[rows], targets)
    unit_targets = unit_rows(targets).astype(X.dtype)
    loss = ContrastiveLoss(temperature)
    weight = penalty * float(np.einsum("ij,ij->", X, X, dtype=np.float64)) / X.shape[0]
    anchor64 = anchor.astype(np.float64)
    shape = anchor.shape
    # Per row: its similarities and softmax (2 u) and its prediction and gradient (2 p).
    row_bytes = X.itemsize * (2 * len(targets) + 2 * shape[1])
    chunks = list(
        gen_batches(len(rows), get_chunk_n_rows(row_bytes, max_n_rows=len(rows)))
    )

    def objective(flat):
        W = flat.reshape(shape).astype(X.dtype)
        value, grad = 0.0, np.zeros(shape)
        for chunk in chunks:
            # the loss is a mean over rows
            share = (chunk.stop - chunk.start) / len(rows)
            chunk_value, grad_pred = loss.value_and_gradient(
                X_rows[chunk] @ W, unit_targets, target_index[chunk])
            value += share * chunk_value
            grad += share * (X_rows[chunk].T @ grad_pred)
        difference = flat.reshape(shape) - anchor64
        value += weight * float(np.vdot(difference, difference))
        grad += 2.0 * weight * difference
        return value, grad.ravel()

    result = minimize(
        objective,
        (anchor64 if init is None else init.astype(np.float64)).ravel(),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": _CONTRASTIVE_GTOL},
    )
    return (
        result.x.reshape(shape).astype(X.dtype),
        int(result.nit),
        bool(result.success),
    )


def held_out_folds(starts, n_folds=PRIOR_FOLDS):
    """Rows held out by each fold of the prior's criterion.

    The rows whose cluster has other rows (at most 1000, evenly spaced) are dealt to
    ``n_folds`` folds in turn, in cluster order: every fold holds out about
    ``1 / n_folds`` of them, and a cluster of at most ``n_folds`` rows loses at most
    one row per fold, so each held-out row is predicted, as in leave-one-out, by a map
    fitted without it but with the rest of its cluster.

    Parameters
    ----------
    starts : ndarray of shape (n_clusters + 1,)
        Row offsets of the clusters (rows sorted by cluster).
    n_folds : int, default=PRIOR_FOLDS
        Number of folds.

    Returns
    -------
    folds : list of ndarray of int
        The held-out rows of each non-empty fold; empty when no cluster has two rows.
    """
    counts = np.diff(starts)
    scored = _evenly_spaced(
        np.flatnonzero(np.repeat(counts >= 2, counts)), _MAX_SCORED_ROWS
    )
    folds = [scored[k::n_folds] for k in range(n_folds)]
    return [fold for fold in folds if fold.size]


def _size_correction(counts):
    r"""Weight :math:`f(n)` of the size correction of a row of a cluster of ``counts``
    rows: :math:`\log\frac{n}{n-1} / \log\frac{n-1}{n-2}` for :math:`n \ge 3`
    (a score linear in the log of the number of the cluster's rows), 0 for
    :math:`n \le 2` (leaving out two rows leaves none)."""
    n = np.maximum(counts.astype(np.float64), 3.0)
    return np.where(counts >= 3, np.log(n / (n - 1)) / np.log((n - 1) / (n - 2)), 0.0)


def select_prior(X, Y, starts, alpha="auto", *, n_folds=PRIOR_FOLDS):
    r"""The prior of ``prior="auto"``: the candidate with the best held-out retrieval.

    The candidates are the identity (only when ``n_features == n_targets``), the
    shared ridge map :math:`P_\alpha` (:func:`ridge_prior`) and its contrastive
    refinement (:func:`contrastive_map`; only when some rows share a target). Each is
    refitted without the rows of each fold of :func:`held_out_folds` (the ridge
    strength fixed at the one chosen on all rows) and scored by the reciprocal rank
    :math:`q_1(r)` of each held-out row's own target among all distinct targets, by
    cosine of its prediction :math:`x_r P`; the identity needs no fit, its score is
    exact.

    A held-out row's cluster keeps :math:`n - 1` of its :math:`n` rows, and a
    refitted map learns less about it than the final map, fitted on all :math:`n`,
    learns about a new question of that cluster: the bias that makes
    cross-validation prefer the maps that learn least from a cluster's paraphrases
    (the contrastive one most). It is corrected by scoring each row a second time,
    with another row of its cluster also left out (:math:`q_2(r)`, :math:`n - 2`
    rows kept), and extrapolating one row further on the log of the rows kept:

    .. math::

        s = \operatorname{mean}_r \Big[q_1(r) + f(n_r)\,\big(q_1(r) - q_2(r)\big)\Big],
        \qquad f(n) = \log\frac{n}{n-1} \Big/ \log\frac{n-1}{n-2},

        f = 0 \text{ for clusters of two rows.}

    The identity, which does not learn, is not changed by it.

    The choice is the simplest candidate (in the order identity, shared,
    contrastive) whose score is within one standard error of the best score
    (:func:`simplest_within_one_standard_error`): a richer prior must earn its
    place by more than the criterion's own noise.

    The criterion costs about twenty refits of the contrastive map, each
    evaluation :math:`O(n u p)` for :math:`n` rows and :math:`u` distinct targets,
    which grows as the square of the data. Above :data:`CRITERION_MAX_COST` rows
    times distinct targets it is not run: the contrastive map is taken (the ridge
    map when no two rows share a target), what the criterion chose on every split
    of the largest real set measured; ``scores`` is then empty.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows sorted by cluster; cluster ``i`` owns rows ``starts[i]:starts[i+1]``.
    Y : ndarray of shape (n_samples, n_targets)
        Targets.
    starts : ndarray of shape (n_clusters + 1,)
        Row offsets of the clusters.
    alpha : float or "auto", default="auto"
        Ridge strength of the shared map (:func:`ridge_prior`).
    n_folds : int, default=PRIOR_FOLDS
        Folds of the criterion.

    Returns
    -------
    Bunch
        ``choice`` (name of the chosen candidate), ``prior`` (its map), ``alpha``
        (ridge strength, None for the identity), ``n_iter`` and ``converged``
        (L-BFGS of the contrastive map, None unless chosen), ``scores`` (candidate
        name to its score :math:`s`; empty, and ``choice="shared"``, when no cluster
        has two rows: nothing to hold out, and the contrastive map would be the
        ridge map; empty, and ``choice="contrastive"``, above
        :data:`CRITERION_MAX_COST`) and ``standard_errors`` (candidate name to the
        standard error of its paired difference from the best candidate; empty with
        ``scores``).
    """
    square = X.shape[1] == Y.shape[1]
    center = np.eye(X.shape[1], dtype=X.dtype) if square else None
    # The distinct targets and each row's among them, found once for the ridge
    # strength and all the refits.
    distinct, target_ids = np.unique(Y, axis=0, return_inverse=True)
    target_ids = target_ids.ravel()
    ridge, alpha = ridge_prior(X, Y, starts, alpha, distinct=distinct)
    contrastive, n_iter, converged = contrastive_map(
        X, Y, ridge, target_ids=target_ids
    )
    maps = {"identity": center, "shared": ridge, "contrastive": contrastive}
    candidates = [name for name in PRIOR_CANDIDATES if maps[name] is not None]
    if n_iter == 0:  # no two rows share a target: the contrastive map is the ridge map
        candidates.remove("contrastive")
    folds = held_out_folds(starts, n_folds)
    scores, standard_errors = {}, {}
    affordable = len(X) * (int(target_ids.max()) + 1) <= CRITERION_MAX_COST
    if not affordable:
        choice = "contrastive" if "contrastive" in candidates else "shared"
    elif folds and len(candidates) > 1:
        counts = np.diff(starts)
        cluster_start = np.repeat(starts[:-1], counts)
        cluster_size = np.repeat(counts, counts)
        held_out = np.concatenate(folds)
        # The row after each held-out one in its cluster (cyclically): the second one
        # left out of the size correction.
        start, size = cluster_start[held_out], cluster_size[held_out]
        partner = start + (held_out - start + 1) % size
        partner = np.split(partner, np.cumsum([fold.size for fold in folds])[:-1])
        targets = _bounded_candidates(Y, held_out)
        own_target = target_indices(Y[held_out], targets)
        predictions = {
            (name, left_out): [] for name in candidates for left_out in (1, 2)
        }
        for fold, fold_partner in zip(folds, partner):
            for left_out, dropped in [
                (1, fold),
                (2, np.concatenate([fold, fold_partner])),
            ]:
                kept = np.ones(len(X), dtype=bool)
                kept[dropped] = False
                fold_maps = _fold_maps(
                    X[kept],
                    Y[kept],
                    target_ids[kept],
                    alpha,
                    center,
                    ridge,
                    contrastive if "contrastive" in candidates else None,
                )
                for name in candidates:
                    predictions[name, left_out].append(X[fold] @ fold_maps[name])
        weight = _size_correction(size)
        row_scores = {}
        for name in candidates:
            q1, q2 = (
                1.0
                / ranks_of_targets(
                    np.vstack(predictions[name, left_out]), targets, own_target
                )
                for left_out in (1, 2)
            )
            row_scores[name] = q1 + weight * (q1 - q2)
            scores[name] = float(np.mean(row_scores[name]))
        choice, standard_errors = simplest_within_one_standard_error(row_scores)
    else:
        choice = "shared"
    return Bunch(
        choice=choice, prior=maps[choice], scores=scores,
        standard_errors=standard_errors,
        alpha=None if choice == "identity" else alpha,
        n_iter=n_iter if choice == "contrastive" else None,
        converged=converged if choice == "contrastive" else None,
    )


def simplest_within_one_standard_error(row_scores):
    r"""The one-standard-error rule: the simplest candidate not clearly worse than
    the best.

    With :math:`s_c(r)` the score of candidate :math:`c` on held-out row :math:`r`
    (:math:`m` rows, the same for every candidate) and :math:`b` the candidate of
    best mean score, candidate :math:`c` is within one standard error of it when
    the mean of the paired differences :math:`\delta_c(r) = s_b(r) - s_c(r)` is at
    most their standard error:

    .. math::

        \bar\delta_c \le \frac{\operatorname{sd}(\delta_c)}{\sqrt m}.

    The first such candidate in the order of ``row_scores`` (simplest first) is
    chosen (the one-standard-error rule of Breiman et al., *Classification and
    Regression Trees*, 1984, and Hastie et al., *The Elements of Statistical
    Learning*, section 7.10): a richer candidate wins only by more than the
    criterion's noise. The difference is paired (every candidate is scored on
    the same rows), so what the rows share cancels and the noise measured is that
    of the comparison.

    Parameters
    ----------
    row_scores : dict of str to ndarray of shape (m,)
        Each candidate's score per held-out row, simplest candidate first.

    Returns
    -------
    choice : str
        The chosen candidate.
    standard_errors : dict of str to float
        Each candidate's :math:`\operatorname{sd}(\delta_c) / \sqrt m` (0 for
        the best, and for every candidate when :math:`m = 1`).

    Examples
    --------
    >>> import numpy as np
    >>> rows = {"simple": np.array([0.5, 1.0, 0.5, 1.0]),
    ...         "rich": np.array([1.0, 1.0, 0.5, 0.5])}
    >>> simplest_within_one_standard_error(rows)[0]  # equal means: the simpler
    'simple'
    >>> rows["rich"] = np.array([1.0, 1.0, 1.0, 1.0])
    >>> simplest_within_one_standard_error(rows)[0]  # better on every row
    'rich'
    """
    names = list(row_scores)
    best = max(names, key=lambda name: float(np.mean(row_scores[name])))
    standard_errors, choice = {}, None
    for name in names:
        difference = row_scores[best] - row_scores[name]
        m = difference.size
        standard_errors[name] = (
            float(np.std(difference, ddof=1) / np.sqrt(m)) if m > 1 else 0.0
        )
        if choice is None and np.mean(difference) <= standard_errors[name]:
            choice = name
    return choice, standard_errors


def _fold_maps(X, Y, target_ids, alpha, center, ridge, contrastive):
    """The candidates refitted on the rows of a fold: the identity (``center``), the
    ridge map of strength ``alpha`` and, unless ``contrastive`` is None, its
    contrastive refinement, started from ``contrastive`` (the map of all rows) moved
    as the fold's ridge map moved from ``ridge``; ``target_ids``: the rows' targets
    among the distinct targets of all rows (:func:`contrastive_map`)."""
    maps = {
        "identity": center,
        "shared": linear_map(X, Y, "ridge", alpha, center=center),
    }
    if contrastive is not None:
        start = contrastive + (maps["shared"] - ridge)
        maps["contrastive"] = contrastive_map(
            X, Y, maps["shared"], init=start, target_ids=target_ids
        )[0]
    return maps
