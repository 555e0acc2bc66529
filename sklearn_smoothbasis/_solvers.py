"""Array kernels of the smoothing-basis model: objective, coefficient step, solvers.

Notation (that of ``docs/tutorial.rst``): rows are sorted by cluster,
``starts[i]:starts[i+1]`` are the rows of cluster ``i``; ``basis`` has shape
``(K, d, p)``, ``coef`` ``(N, K)``; cluster ``i`` predicts
``x @ (P + sum_k coef[i, k] * basis[k])`` where ``x @ P`` is the precomputed ``base``
(``None`` when there is no prior). The objective is

    J(basis, coef) = 1/N sum_i 1/n_i [ sum_{r in i} loss_r + s * ||W_i - P||_F^2 ]

with ``||W_i - P||_F^2 = coef_i^T Gram coef_i`` and ``Gram = <basis_k, basis_l>_F``, so
``J`` depends on the maps ``W_i`` only: re-orthonormalising the basis (and mapping the
coefficients along) leaves it unchanged.

Nothing here loops in Python over clusters: each pass works on contiguous chunks of
clusters with one matmul ``X_chunk @ basis`` and batched ``K x K`` solves.
"""

from collections import deque

import numpy as np
from joblib import delayed
from scipy.linalg import get_blas_funcs
from scipy.sparse import csr_matrix

from ._linalg import cluster_means, cluster_starts, sampled_clusters
from ._line_search import ARMIJO, backtrack_rows
from ._loss import _TINY_NORM
from ._parallel import run_in_turn
from ._smoothness import (
    penalty_basis_factor,
    penalty_value,
    solve_coupled,
)
from ._sparse_coefficients import l1_norms, l1_quadratic_minimizer, proximal_newton

# Newton refinement of the coefficients (cosine_weight > 0): at most this many steps
# per outer evaluation, each with a per-cluster backtracking line search.
_MAX_NEWTON_STEPS = 10
_MAX_NEWTON_HALVINGS = 8
# With sparsity the proximal steps also serve the squared error (one exact step
# there) and converge linearly where the active set settles late: a few more.
_MAX_PROXIMAL_STEPS = 20
# and stop at a smaller predicted decrease: the decrease is quadratic in the
# distance to the solution, so 1e-9 would leave subgradient errors near 1e-4.
_PROXIMAL_RTOL = 1e-13
_NEWTON_RTOL = 1e-9
_MAX_HALVINGS = 20
# The first (gradient) step of L-BFGS ends where the slope along it has fallen to this
# fraction of its start, after at most _MAX_LINE_STEPS more evaluations (_line_minimum).
_LINE_SLOPE_RATIO = 0.1
# The curvature along the first L-BFGS direction is estimated on the clusters of at
# most this many rows, evenly spaced (BasisObjective.curvature_along).
_CURVATURE_MAX_ROWS = 2000
_MAX_LINE_STEPS = 6


def _batched_solve(A, b):
    """Solve the symmetric positive semi-definite systems ``A[i] x[i] = b[i]``.

    A jitter relative to each system's trace makes singular systems (a direction
    unused by a cluster) return a small, finite solution instead of failing.
    """
    K = A.shape[-1]
    scale = np.trace(A, axis1=-2, axis2=-1) / K
    eps = max(1e3 * np.finfo(A.dtype).eps, 1e-10)
    jitter = eps * np.where(scale > 0, scale, 1.0)
    A = A + jitter[:, None, None] * np.eye(K, dtype=A.dtype)
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.einsum("ikl,il->ik", np.linalg.pinv(A, hermitian=True), b)


def orthonormalize(basis, coef=None):
    """Return an orthonormal basis of the same span, and coefficients for the same maps.

    ``basis`` ``(K, d, p)`` is treated as K vectors of length ``d * p`` (Frobenius inner
    product). With ``basis = R^T Q`` (QR of its transpose, ``diag(R) > 0``),
    ``coef @ basis == (coef @ R^T) @ Q``.
    """
    K = basis.shape[0]
    Q, R = np.linalg.qr(basis.reshape(K, -1).T)
    signs = np.where(np.diag(R) < 0, -1.0, 1.0).astype(basis.dtype)
    Q = Q * signs
    R = R * signs[:, None]
    new_basis = np.ascontiguousarray(Q.T).reshape(basis.shape)
    if coef is None:
        return new_basis
    return new_basis, coef @ R.T


def design(X, basis_matrix, n_basis):
    """``Z[r, k] = x_r @ basis[k]`` for all rows at once: shape ``(n, K, p)``."""
    Z = X @ basis_matrix
    return Z.reshape(X.shape[0], n_basis, -1)


def basis_matrix(basis):
    """``[basis_1 ... basis_K]`` as one ``d x (K p)`` matrix, for one matmul per "
    "pass."""
    K, d, p = basis.shape
    return np.ascontiguousarray(basis.transpose(1, 0, 2)).reshape(d, K * p)


def predict_from_design(Z, coef_rows, base):
    """``base + sum_k coef_rows[:, k] * Z[:, k]``."""
    pred = np.einsum("rk,rkp->rp", coef_rows, Z)
    if base is not None:
        pred += base
    return pred


class DenseDesign:
    """The design ``Z`` (``m x K x p``) of one chunk, as the coefficient step reads it.

    The coefficient step touches the design through three operations only:
    :meth:`predict` (``base + Z_r^T c_r``), :meth:`times` (``Z_r E_r`` for a few
    vectors ``E_r`` of length ``p`` per row) and :meth:`gram` (``Z_r Z_r^T``). A
    factored basis implements them without
    forming ``Z`` (``FactoredDesign`` of ``_low_rank``).
    """

    def __init__(self, Z):
        self.Z, self.dtype = Z, Z.dtype

    def predict(self, coef_rows, base):
        return predict_from_design(self.Z, coef_rows, base)

    def times(self, E):
        """``Z_r E_r`` for ``E`` of shape ``(m, p, j)``: shape ``(m, K, j)``."""
        return np.matmul(self.Z, E)

    def gram(self):
        """``Z_r Z_r^T``: shape ``(m, K, K)``."""
        return np.matmul(self.Z, self.Z.transpose(0, 2, 1))


class _ChunkCoefficientProblem:
    """The coefficient sub-problems of the clusters of one chunk, for a fixed basis.

    Cluster ``i`` minimises ``f_i(c) = 1/n_i (sum_r loss_r + s c^T Gram c)``; all
    clusters of the chunk are handled together with batched ``K x K`` algebra.

    The design ``Z`` (``m x K x p``) is read a fixed number of times, however many
    steps the solve takes: once for the predictions at the starting coefficients
    ``c0`` (``pred0 = base + Z^T c0``, residual ``e0 = pred0 - y``), once for the
    statistics of each row that every quantity of the solve is a function of,

        ZZ_r = Z_r Z_r^T,   Ze_r = Z_r e0_r,   Zp_r = Z_r pred0_r,

    and once for the predictions at the solution. With ``delta = c - c0`` and
    ``u_r = ZZ_r delta``, a row's squared error is ``|e0_r|^2 + 2 delta.Ze_r +
    delta.u_r``, its squared prediction norm ``|pred0_r|^2 + 2 delta.Zp_r +
    delta.u_r`` and its prediction's inner product with ``y_r``
    ``pred0_r.y_r + delta.(Zp_r - Ze_r)``, exactly: the least-squares step and the
    Gauss-Newton steps of the cosine term then cost ``O(m K^2)`` each instead of
    ``O(m K p)``. Written in ``delta`` (not ``c``), the squared error is a small
    correction to the current one, so it keeps its relative precision near a good
    fit. The statistics are in float64 whatever the data's dtype.

    With ``sparsity = t > 0`` each cluster minimises ``f_i(c) + t ||c||_1``
    instead (every value here then includes the L1 term; gradients and Hessians
    are those of ``f_i``), by the proximal Gauss-Newton steps of
    :func:`._sparse_coefficients.proximal_newton`.

    Whatever the steps do in rounding, :meth:`solve` keeps, for every cluster, the
    starting coefficients unless the new ones have an exact objective (computed
    from the predictions themselves) at most as large: it never increases any
    ``f_i``.
    """

    def __init__(self, Z, base, Y, counts, gram, loss, alpha, typical_value, coef,
                 sparsity=0.0):
        # Z: the design array, or an object with DenseDesign's methods.
        self.design = Z if hasattr(Z, "gram") else DenseDesign(Z)
        self.base, self.Y = base, Y
        self.sparsity = float(sparsity)
        self.typical_value = typical_value
        self.counts = counts
        self.starts = cluster_starts(counts)
        self.row_cluster = np.repeat(np.arange(len(counts)), counts)
        self.gram, self.loss = gram.astype(np.float64), loss
        # The penalty s ||W_i - P||^2 is added to the *sum* of the cluster's row
        # losses (a ridge of strength s), so relative to its mean it is s / n_i.
        self.shrink = alpha / counts.astype(np.float64)
        self.coef = coef
        self._mean_operator = None
        self.pred = self._predict(coef)
        self.rows = None

    def _predict(self, coef):
        return self.design.predict(coef[self.row_cluster], self.base)

    def _cluster_mean(self, a):
        """Mean over the rows of each cluster (first axis)."""
        return cluster_means(a, self.starts)

    def _weighted_cluster_mean(self, weights, a):
        """``1/n_i sum_{r in i} weights_r a_r`` (``weights`` None: all ones) for rows
        ``a_r`` of any shape: one sparse product, no temporary the size of ``a``."""
        m = a.shape[0]
        if self._mean_operator is None:
            mean_weights = 1.0 / self.counts[self.row_cluster]
            self._mean_operator = csr_matrix(
                (mean_weights, np.arange(m), self.starts), shape=(len(self.counts), m)
            )
        operator = self._mean_operator
        if weights is not None:
            operator = operator.copy()
            operator.data *= weights
        return (operator @ a.reshape(m, -1)).reshape((-1,) + a.shape[1:])

    def _mean_outer(self, v):
        """``1/n_i sum_{r in i} v_r v_r^T`` for every cluster: one batched product of
        the clusters' rows, zero-padded to the largest cluster (or, where padding
        would more than double the rows, from the outer products of the rows)."""
        n_clusters, K = len(self.counts), v.shape[1]
        largest = int(self.counts.max())
        if n_clusters * largest > 2 * v.shape[0]:
            return self._weighted_cluster_mean(None, v[:, :, None] * v[:, None, :])
        if largest * n_clusters == v.shape[0]:  # all clusters of one size
            padded = v.reshape(n_clusters, largest, K)
        else:
            padded = np.zeros((n_clusters * largest, K))
            position = np.arange(v.shape[0]) - self.starts[self.row_cluster]
            padded[self.row_cluster * largest + position] = v
            padded = padded.reshape(n_clusters, largest, K)
        return np.matmul(padded.transpose(0, 2, 1), padded) / self.counts[:, None, None]

    def _penalty(self, coef):
        penalty = self.shrink * np.einsum("ik,kl,il->i", coef, self.gram, coef)
        if self.sparsity:
            penalty += self.sparsity * l1_norms(coef)
        return penalty

    def _exact_values(self, pred, coef):
        """``f_i`` from the predictions themselves; also the row losses and
        gradients behind it."""
        rows, row_grad = self.loss.row_values_and_gradients(pred, self.Y)
        values = self._cluster_mean(rows.astype(np.float64, copy=False))
        return values + self._penalty(coef.astype(np.float64)), row_grad

    # -- the statistics of each row, and f_i, its gradient and curvature from them --

    def _statistics(self):
        design, pred0 = self.design, self.pred
        residual = pred0 - self.Y
        if self.loss.cosine_weight > 0:
            both = design.times(np.stack([residual, pred0], axis=2))
            self.Ze = both[:, :, 0].astype(np.float64)
            self.Zp = both[:, :, 1].astype(np.float64)
            self.pp0 = np.einsum("ij,ij->i", pred0, pred0, dtype=np.float64)
            self.py0 = np.einsum("ij,ij->i", pred0, self.Y, dtype=np.float64)
            self.y_norm = np.sqrt(np.einsum("ij,ij->i", self.Y, self.Y,
                                            dtype=np.float64))
        else:
            self.Ze = design.times(residual[:, :, None])[:, :, 0].astype(np.float64)
        self.ee0 = np.einsum("ij,ij->i", residual, residual, dtype=np.float64)
        self.ZZ = design.gram().astype(np.float64)

    def _rows(self, delta, *, derivatives):
        """Row losses at ``c0 + delta`` from the statistics; with ``derivatives``
        also their gradients in coefficient space and the curvature weights."""
        lam = self.loss.cosine_weight
        delta_rows = delta[self.row_cluster]
        u = np.matmul(self.ZZ, delta_rows[:, :, None])[:, :, 0]
        quadratic = np.einsum("rk,rk->r", delta_rows, u)
        squared_error = np.maximum(
            self.ee0 + 2 * np.einsum("rk,rk->r", delta_rows, self.Ze) + quadratic, 0.0
        )
        rows = (1.0 - lam) * squared_error
        if derivatives:
            grad = (2.0 * (1.0 - lam)) * (self.Ze + u)
        if lam == 0:
            return (rows, grad, None, None) if derivatives else rows
        pred_sq = np.maximum(
            self.pp0 + 2 * np.einsum("rk,rk->r", delta_rows, self.Zp) + quadratic, 0.0
        )
        pred_y = self.py0 + np.einsum("rk,rk->r", delta_rows, self.Zp - self.Ze)
        pred_norm = np.sqrt(pred_sq)
        defined = (pred_norm > _TINY_NORM) & (self.y_norm > _TINY_NORM)
        safe_pred = np.where(defined, pred_norm, 1.0)
        safe_y = np.where(defined, self.y_norm, 1.0)
        cos = np.where(defined, pred_y / (safe_pred * safe_y), 0.0)
        rows += lam * (1.0 - cos)
        if not derivatives:
            return rows
        # d cos / dc = Z y / (|pred| |y|) - cos Z pred / |pred|^2
        Z_pred = self.Zp + u
        grad -= (np.where(defined, lam / (safe_pred * safe_y), 0.0)[:, None]
                 * (self.Zp - self.Ze))
        grad += (lam * cos / safe_pred**2)[:, None] * Z_pred
        # Curvature model of ClusterLoss.curvature: isotropic ZZ - radial v v^T with
        # v = Z pred / |pred|, radial = lam / |pred|^2.
        radial = np.where(pred_norm > _TINY_NORM,
                          lam / np.maximum(pred_norm, _TINY_NORM) ** 2, 0.0)
        v = Z_pred * (np.sqrt(radial) / np.maximum(pred_norm, _TINY_NORM))[:, None]
        return rows, grad, radial, v

    def _values(self, delta):
        """``f_i(c0 + delta)`` for every cluster of the chunk, from the statistics."""
        rows = self._rows(delta, derivatives=False)
        return self._cluster_mean(rows) + self._penalty(self.start + delta)

    def _evaluate(self, delta):
        """``f_i``, their gradients and Gauss-Newton Hessians at ``c0 + delta``."""
        rows, row_grad, radial, v = self._rows(delta, derivatives=True)
        coef = self.start + delta
        values = self._cluster_mean(rows) + self._penalty(coef)
        grad = self._weighted_cluster_mean(None, row_grad)
        grad += 2 * self.shrink[:, None] * (coef @ self.gram)
        isotropic = 2.0 * (1.0 - self.loss.cosine_weight)
        if radial is None:
            hess = isotropic * self._mean_ZZ
        else:
            hess = isotropic * self._mean_ZZ
            hess += self._weighted_cluster_mean(radial, self.ZZ)
            hess -= self._mean_outer(v)
        hess += 2 * self.shrink[:, None, None] * self.gram
        return values, grad, hess

    def prepare(self):
        """Compute the statistics of each row at the current coefficients ``c0``."""
        self._statistics()
        self.start = self.coef.astype(np.float64)
        self._mean_ZZ = self._weighted_cluster_mean(None, self.ZZ)

    def values(self, coef):
        """``f_i(coef)`` from the statistics (after :meth:`prepare`)."""
        return self._values(coef - self.start)

    def evaluate(self, coef):
        """``f_i(coef)``, their gradients and Gauss-Newton Hessians, from the
        statistics (after :meth:`prepare`)."""
        return self._evaluate(coef - self.start)

    def least_squares_system(self, coef):
        """Half the Hessian and gradient, at ``coef``, of the squared error (weight
        1) plus the alpha penalty: its minimiser is ``coef`` minus their solve."""
        target = self._weighted_cluster_mean(None, self.Ze) + self.shrink[:, None] * (
            coef @ self.gram)
        if coef is not self.start and np.any(coef != self.start):
            target += self._weighted_cluster_mean(None, np.matmul(
                self.ZZ, (coef - self.start)[self.row_cluster][:, :, None])[:, :, 0])
        return self._mean_ZZ + self.shrink[:, None, None] * self.gram, target

    def _least_squares_step(self):
        """``delta`` minimising the squared-error part plus the alpha penalty."""
        hess, target = self.least_squares_system(self.start)
        return -_batched_solve(hess, target)

    def _newton(self, delta):
        """Damped Gauss-Newton steps on the full (cosine) loss, batched over
        clusters."""
        values, grad, hess = self._evaluate(delta)
        # Below a few hundred ulps of f_i the predicted decrease is rounding noise.
        rtol = max(_NEWTON_RTOL, 100 * np.finfo(self.design.dtype).eps)
        for step in range(_MAX_NEWTON_STEPS):
            if step:
                values, grad, hess = self._evaluate(delta)
            direction = -_batched_solve(hess, grad)
            slope = np.einsum("ik,ik->i", grad, direction)
            # Stop where the model's predicted decrease is negligible next to f_i
            # (or, for clusters fitted exactly, next to a typical f of all clusters,
            # the same in every chunk so that chunking does not change the result).
            scale = np.maximum(np.abs(values), 1e-6 * self.typical_value)
            active = slope < -rtol * scale
            if not active.any():
                break
            delta = backtrack_rows(
                self._values, delta, values, slope, active,
                lambda length, delta=delta: delta + length[:, None] * direction,
                max_halvings=_MAX_NEWTON_HALVINGS,
            )
        return delta

    def _sparse_solve(self):
        """``delta`` of the proximal Gauss-Newton steps on ``f_i + t ||c||_1``,
        from the start or, on a cold start with a cosine term, from the minimiser
        of the squared error's L1-regularised model (as :meth:`solve` starts from
        the least-squares solution)."""
        coef = self.start
        if self.loss.cosine_weight > 0 and not self.coef.any():
            hess, grad = self.least_squares_system(coef)  # both halved
            step = l1_quadratic_minimizer(2 * hess, 2 * grad, coef, self.sparsity)
            better = self._values(step - self.start) <= self._values(coef - self.start)
            coef = np.where(better[:, None], step, coef)
        coef = proximal_newton(
            self._evaluate, self._values, self.start, coef, self.sparsity,
            rtol=max(_PROXIMAL_RTOL, 100 * np.finfo(self.design.dtype).eps),
            typical_value=self.typical_value, max_steps=_MAX_PROXIMAL_STEPS,
            max_halvings=_MAX_NEWTON_HALVINGS, armijo=ARMIJO,
        )
        return coef - self.start

    def solve(self):
        """Coefficients that never increase any ``f_i`` compared with the start.

        Squared error only: the exact least-squares solution. With a cosine term:
        Gauss-Newton steps from the start, or from the least-squares solution on a
        cold start (all coefficients zero). With ``sparsity``: proximal
        Gauss-Newton steps (:meth:`_sparse_solve`).
        """
        self.prepare()
        delta = np.zeros_like(self.start)
        if self.sparsity:
            delta = self._sparse_solve()
        elif self.loss.cosine_weight == 0 or not self.coef.any():
            step = self._least_squares_step()
            better = self._values(step) <= self._values(delta)
            delta = np.where(better[:, None], step, delta)
        if self.loss.cosine_weight > 0 and not self.sparsity:
            delta = self._newton(delta)
        del self.ZZ, self._mean_ZZ  # the largest arrays: m K^2 values
        rows = self.loss.row_values(self.pred, self.Y).astype(np.float64, copy=False)
        start_values = self._cluster_mean(rows) + self._penalty(self.start)
        coef = (self.start + delta).astype(self.coef.dtype)
        pred = self._predict(coef)
        values, row_grad = self._exact_values(pred, coef)
        # Values computed from predictions in the data's dtype are exact to a few
        # ulps: the coefficients solved are kept unless worse by more than that.
        rounding = 16 * np.finfo(self.design.dtype).eps * np.abs(start_values)
        worse = values > start_values + rounding
        if worse.any():  # where the steps lost to rounding: keep the start
            coef[worse] = self.coef[worse]
            pred[worse[self.row_cluster]] = self.pred[worse[self.row_cluster]]
            values, row_grad = self._exact_values(pred, coef)
        self.coef, self.pred = coef, pred
        self._final = (values, row_grad)
        return coef

    def final(self):
        """Values and row gradients at the current coefficients."""
        if getattr(self, "_final", None) is None:
            self._final = self._exact_values(self.pred, self.coef)
        return self._final


def _chunk_pass(X, Y, base, counts, basis_mat, coef, gram, loss, alpha, n_clusters,
                typical_value, solve, need_grad, sparsity=0.0):
    """One chunk of clusters: coefficient step (optional), objective, basis gradient."""
    K = coef.shape[1]
    Z = design(X, basis_mat, K)
    problem = _ChunkCoefficientProblem(
        Z, base, Y, counts, gram, loss, alpha, typical_value,
        coef.astype(X.dtype, copy=False), sparsity,
    )
    if solve:
        problem.solve()
    coef = problem.coef
    values, row_grad = problem.final()
    del Z, problem
    grad = None
    if need_grad:
        # d J / d pred_r = row_grad_r / (N n_i), then X^T [a_1 * dpred ... a_K * dpred].
        row_cluster = np.repeat(np.arange(len(counts)), counts)
        row_scale = (1.0 / (n_clusters * counts))[row_cluster]
        coef_rows = coef[row_cluster] * row_scale[:, None].astype(X.dtype)
        weighted = coef_rows[:, :, None] * row_grad[:, None, :]
        grad = X.T @ weighted.reshape(X.shape[0], -1)
    return coef, values, grad


def _prepare_chunk(X, Y, base, counts, basis_mat, coef, gram, loss, alpha,
                   typical_value):
    """One chunk's coefficient problem with its rows' statistics computed at
    ``coef``, and its exact values ``f_i`` there; the design and the predictions
    (``m K p`` and ``m p`` values) are dropped, the statistics (``m K^2``) kept."""
    Z = design(X, basis_mat, coef.shape[1])
    problem = _ChunkCoefficientProblem(
        Z, base, Y, counts, gram, loss, alpha, typical_value,
        coef.astype(X.dtype, copy=False),
    )
    rows = loss.row_values(problem.pred, Y).astype(np.float64, copy=False)
    problem.prepare()
    values = problem._cluster_mean(rows) + problem._penalty(problem.start)
    problem.design = problem.pred = None
    return problem, values


class BasisObjective:
    """Evaluates ``J``, the optimal coefficients and the basis gradient over chunks.

    Parameters
    ----------
    X, Y : ndarray of shape (n, d) and (n, p)
        Rows sorted by cluster.
    base : ndarray of shape (n, p) or None
        ``X @ P`` for the prior map ``P``.
    starts : ndarray of shape (N + 1,)
        Row offsets of the clusters.
    loss : ClusterLoss
    alpha : float
    chunk_starts : ndarray
        Cluster offsets of the chunks (``0 = chunk_starts[0] < ... = N``).
    run : callable, default=None
        Runs an iterable of ``joblib.delayed`` tasks and returns their results in
        order (a ``joblib.Parallel``); None runs them in turn.
    laplacian : scipy.sparse matrix of shape (N, N) or None, default=None
        The smoothness penalty's :math:`L`
        (:func:`._smoothness.smoothness_laplacian`): ``J`` gains
        ``tr(coef^T L coef Gram) / N`` and the coefficient step is solved jointly
        over all clusters (:meth:`_coupled_call`). None: no penalty, each
        cluster's coefficients solved independently per chunk.
    sparsity : float, default=0.0
        L1 penalty ``t`` on each cluster's coefficients: ``J`` becomes the mean of
        ``f_i + t ||c_i||_1``. The basis gradient is unchanged (the L1 term does
        not depend on the basis, and the coefficients are optimal for it). Not
        with ``laplacian`` (the estimator refuses the combination).
    """

    def __init__(self, X, Y, base, starts, loss, alpha, chunk_starts, run=None,
                 laplacian=None, sparsity=0.0):
        self.laplacian = laplacian
        self.sparsity = sparsity
        self.X, self.Y, self.base = X, Y, base
        self.starts = starts
        self.counts = np.diff(starts)
        self.n_clusters = len(self.counts)
        self.loss, self.alpha = loss, alpha
        self.chunk_starts = chunk_starts
        self.run = run_in_turn if run is None else run
        row_sq = np.einsum("ij,ij->i", X, X).astype(np.float64)
        self._curvature = cluster_means(row_sq * loss.curvature_scale(Y), starts)
        # The mean cluster loss of the prior alone (all coefficients zero).
        prior_rows = loss.row_values(np.zeros_like(Y) if base is None else base, Y)
        self.typical_value = float(np.mean(cluster_means(prior_rows, starts)))

    def lipschitz(self, coef, basis=None):
        """Lipschitz constant of the basis gradient, ``coef`` fixed, estimated from
        :meth:`ClusterLoss.curvature_scale` (an upper bound for the squared error);
        it does not depend on ``basis``."""
        coef = coef.astype(np.float64)
        data = np.dot(np.einsum("ik,ik->i", coef, coef), self._curvature)
        penalty = (
            2 * self.alpha * np.linalg.norm(coef.T @ (coef / self.counts[:, None]), 2)
        )
        if self.laplacian is not None:
            penalty += np.linalg.norm(penalty_basis_factor(self.laplacian, coef), 2)
        return max((data + penalty) / self.n_clusters, np.finfo(np.float64).tiny)

    def curvature_along(self, coef, direction):
        r"""Estimate of the curvature of ``J`` along ``direction``, ``coef`` fixed.

        With :math:`z_r = x_r \sum_k c_{ik} D_k` the change of row :math:`r`'s
        prediction along the direction :math:`D` and :math:`w_r` the curvature of
        its loss (:meth:`ClusterLoss.curvature_scale`: exact for the squared
        error, an estimate for the cosine term),

        .. math::

            \kappa = \frac{1}{N} \sum_i \frac{1}{n_i} \Big[\sum_{r \in i}
                w_r \lVert z_r \rVert^2 + 2 s\, c_i^\top G_D\, c_i\Big],
            \qquad (G_D)_{kl} = \langle D_k, D_l \rangle_F,

        the data term's mean over clusters taken over the clusters of at most
        :data:`_CURVATURE_MAX_ROWS` rows evenly spaced (all of them below): one
        product of those rows with the direction. Where :math:`L`
        (:meth:`lipschitz`) bounds the curvature in every direction, this is the
        one along ``direction``. None with the smoothness penalty (not
        estimated: the solver keeps ``lr / L``).
        """
        if self.laplacian is not None:
            return None
        K = direction.shape[0]
        rows, sample_starts = sampled_clusters(self.starts, _CURVATURE_MAX_ROWS)
        X, Y = self.X[rows], self.Y[rows]
        sample = (slice(None) if isinstance(rows, slice)
                  else np.searchsorted(self.starts, rows[sample_starts[:-1]],
                                       side="right") - 1)
        counts = np.diff(sample_starts)
        coef_rows = np.repeat(coef[sample], counts, axis=0).astype(X.dtype)
        change = predict_from_design(
            design(X, basis_matrix(direction.astype(X.dtype, copy=False)), K),
            coef_rows, None,
        )
        rows_curvature = self.loss.curvature_scale(Y) * np.einsum(
            "ij,ij->i", change, change, dtype=np.float64)
        data = float(np.mean(cluster_means(rows_curvature, sample_starts)))
        flat = direction.reshape(K, -1).astype(np.float64)
        coef64 = coef.astype(np.float64)
        penalty = 2 * self.alpha * float(np.mean(
            np.einsum("ik,kl,il->i", coef64, flat @ flat.T, coef64) / self.counts))
        return data + penalty

    @staticmethod
    def normalize(basis, coef):
        """The same maps in the gauge the solver prefers: an orthonormal basis."""
        return orthonormalize(basis, coef)

    def __call__(self, basis, coef, *, solve=True, need_grad=True):
        """Return ``(J, coef, grad)``; with ``solve`` the coefficients are "
        "re-optimised."""
        if self.laplacian is not None:
            return self._coupled_call(basis, coef, solve=solve, need_grad=need_grad)
        K = basis.shape[0]
        flat = basis.reshape(K, -1)
        gram = flat @ flat.T
        mat = basis_matrix(basis)
        tasks = []  # joblib.delayed calls: (function, args, kwargs)
        for c0, c1 in zip(self.chunk_starts[:-1], self.chunk_starts[1:]):
            r0, r1 = self.starts[c0], self.starts[c1]
            base = None if self.base is None else self.base[r0:r1]
            tasks.append(delayed(_chunk_pass)(
                self.X[r0:r1], self.Y[r0:r1], base, self.counts[c0:c1], mat,
                coef[c0:c1], gram, self.loss, self.alpha, self.n_clusters,
                self.typical_value, solve, need_grad, self.sparsity,
            ))
        results = self.run(tasks)
        coef = np.concatenate([r[0] for r in results])
        # One sum over all clusters, whatever the chunks.
        value = float(np.concatenate([r[1] for r in results]).sum()) / self.n_clusters
        if not need_grad:
            return value, coef, None
        grad_mat = results[0][2]
        for r in results[1:]:
            grad_mat = grad_mat + r[2]
        grad = np.ascontiguousarray(
            grad_mat.reshape(basis.shape[1], K, -1).transpose(1, 0, 2)
        )
        if self.alpha > 0:
            penalty = (2 * self.alpha / self.n_clusters) * (
                coef.T @ (coef / self.counts[:, None].astype(coef.dtype))
            )
            grad += (penalty.astype(basis.dtype) @ flat).reshape(basis.shape)
        return value, coef, grad

    def _chunk_tasks(self, function, coef, *args):
        """One ``joblib.delayed`` call of ``function`` per chunk, on its rows and
        its clusters' rows of ``coef``, followed by ``args``."""
        tasks = []
        for c0, c1 in zip(self.chunk_starts[:-1], self.chunk_starts[1:]):
            r0, r1 = self.starts[c0], self.starts[c1]
            base = None if self.base is None else self.base[r0:r1]
            tasks.append(delayed(function)(
                self.X[r0:r1], self.Y[r0:r1], base, self.counts[c0:c1], *args[:1],
                coef[c0:c1], *args[1:],
            ))
        return tasks

    def _coupled_call(self, basis, coef, *, solve, need_grad):
        """:meth:`__call__` with the smoothness penalty: the coefficients of all
        clusters solved jointly.

        A first pass over the chunks computes each row's statistics
        (:meth:`_ChunkCoefficientProblem.prepare`) and keeps them, the designs
        dropped; :func:`._smoothness.solve_coupled` solves the coupled problem from
        them; a second pass recomputes the designs for the exact values and the
        basis gradient (:func:`_chunk_pass` without a solve). Memory: the
        statistics of *all* rows are held at once between the passes, ``8 (K^2 +
        2 K + 5)`` bytes per row besides the data (``K^2``: ``Z_r Z_r^T``), while
        ``working_memory`` bounds only each chunk's design and temporaries. The
        coefficients are kept at the start unless the joint objective, computed
        exactly from the predictions, is at most as large: it never increases.
        """
        K = basis.shape[0]
        flat = basis.reshape(K, -1)
        gram = flat @ flat.T
        gram64 = gram.astype(np.float64)
        mat = basis_matrix(basis)
        dtype = self.X.dtype
        if solve:
            prepared = self.run(self._chunk_tasks(
                _prepare_chunk, coef, mat, gram, self.loss, self.alpha,
                self.typical_value,
            ))
            problems = [r[0] for r in prepared]
            start_value = (float(np.concatenate([r[1] for r in prepared]).sum())
                           + penalty_value(self.laplacian, coef, gram64))
            del prepared
            rtol = max(_NEWTON_RTOL, 100 * np.finfo(dtype).eps)
            new_coef = solve_coupled(
                problems, self.chunk_starts, self.laplacian, gram64, self.run,
                cosine=self.loss.cosine_weight > 0, cold_start=not coef.any(),
                scale=1e-6 * self.typical_value * self.n_clusters, rtol=rtol,
            ).astype(coef.dtype)
            del problems
        else:
            new_coef = coef
        value, grad = self._coupled_pass(basis, new_coef, mat, gram, gram64, need_grad)
        if solve:
            # Exact values from predictions in the data's dtype: keep the start
            # unless the solved coefficients are at most a few ulps worse.
            rounding = 16 * np.finfo(dtype).eps * abs(start_value)
            if value * self.n_clusters > start_value + rounding:
                new_coef = coef
                value, grad = self._coupled_pass(basis, coef, mat, gram, gram64,
                                                 need_grad)
        return value, new_coef, grad

    def _coupled_pass(self, basis, coef, mat, gram, gram64, need_grad):
        """``J`` (with the smoothness penalty) and its basis gradient at fixed
        coefficients: one pass over the chunks."""
        results = self.run(self._chunk_tasks(
            _chunk_pass, coef, mat, gram, self.loss, self.alpha, self.n_clusters,
            self.typical_value, False, need_grad,
        ))
        value = (float(np.concatenate([r[1] for r in results]).sum())
                 + penalty_value(self.laplacian, coef, gram64)) / self.n_clusters
        if not need_grad:
            return value, None
        grad_mat = results[0][2]
        for r in results[1:]:
            grad_mat = grad_mat + r[2]
        grad = np.ascontiguousarray(
            grad_mat.reshape(basis.shape[1], basis.shape[0], -1).transpose(1, 0, 2)
        )
        coef64 = coef.astype(np.float64)
        factor = penalty_basis_factor(self.laplacian, coef64)
        if self.alpha > 0:
            factor += (2 * self.alpha) * (coef64.T @ (coef64 / self.counts[:, None]))
        factor /= self.n_clusters
        flat = basis.reshape(basis.shape[0], -1)
        grad += (factor.astype(basis.dtype) @ flat).reshape(basis.shape)
        return value, grad


def _lbfgs_direction(grad, pairs):
    """Two-loop recursion: ``-H grad`` from the stored ``(s, y, 1/(y.s), y.y)`` pairs.

    The vectors are in the basis's dtype (float32 data: float32 vectors, half the
    memory traffic) and updated in place by BLAS ``axpy``: the basis has ``K d p``
    entries, so every extra pass over a vector costs as much as the arithmetic.
    """
    q = np.array(grad, dtype=pairs[-1][0].dtype).ravel()
    axpy = get_blas_funcs("axpy", (q,))
    alphas = []
    for s, y, rho, _ in reversed(pairs):
        a = rho * float(np.dot(s, q))
        alphas.append(a)
        q = axpy(y, q, a=-a)
    s, y, rho, yy = pairs[-1]
    q *= q.dtype.type(1.0 / (rho * yy))  # s.y / y.y
    for (s, y, rho, _), a in zip(pairs, reversed(alphas)):
        q = axpy(s, q, a=a - rho * float(np.dot(y, q)))
    return np.negative(q, out=q).reshape(grad.shape)


def _line_minimum(objective, basis, direction, slope, trial, value, coef, grad,
                  length):
    """From ``trial = basis + length * direction``, search the line ``basis + t *
    direction`` for the minimum of the objective.

    The search looks for a zero of the slope ``phi'(t) = grad(basis + t
    direction) . direction`` (``slope`` at ``t = 0``, negative): by secants
    through the last two negative slopes (a curvature from gradients, precise
    however short the first step, which values alone would not give; ten times
    further where the slope has not grown) until a slope is positive, then by
    secants between the longest ``t`` of negative slope and the shortest of
    positive slope, kept in the middle eight tenths of that bracket. It stops
    where the slope of the lowest point found has fallen to
    ``_LINE_SLOPE_RATIO`` of ``slope``, or after ``_MAX_LINE_STEPS`` evaluations.

    Returns
    -------
    trial, value, coef, grad, length
        The lowest point found (at most ``value``), its objective, coefficients,
        gradient and ``t``.
    """
    best = (trial, value, coef, grad, length)
    best_slope = float(np.vdot(grad, direction))
    previous, lower, upper = None, (0.0, slope), None
    if best_slope < 0:
        previous, lower = lower, (length, best_slope)
    else:
        upper = (length, best_slope)
    for _ in range(_MAX_LINE_STEPS):
        if abs(best_slope) <= _LINE_SLOPE_RATIO * abs(slope):
            break
        (t_low, s_low) = lower
        if upper is None:
            t_prev, s_prev = previous
            curvature = (s_low - s_prev) / (t_low - t_prev)
            t = t_low - s_low / curvature if curvature > 0 else 10 * t_low
            t = min(t, 1e6 * t_low)
        else:
            t_up, s_up = upper
            t = t_low - s_low * (t_up - t_low) / (s_up - s_low)
            width = t_up - t_low
            t = min(max(t, t_low + 0.1 * width), t_up - 0.1 * width)
        point = basis + np.asarray(t, dtype=basis.dtype) * direction
        point_value, point_coef, point_grad = objective(point, best[2])
        point_slope = float(np.vdot(point_grad, direction))
        if point_slope < 0:
            previous, lower = lower, (t, point_slope)
        else:
            upper = (t, point_slope)
        if point_value < best[1]:
            best = (point, point_value, point_coef, point_grad, t)
            best_slope = point_slope
    return best


def fit_basis(objective, basis, coef, *, solver, lr, max_iter, tol, reorth_interval,
              memory=5, verbose=0):
    """Minimise ``J`` over the basis, coefficients always re-solved (alternating).

    ``solver="gd"`` takes the proposal's gradient steps on the basis, of length
    ``lr / L`` with ``L`` the Lipschitz bound of :meth:`BasisObjective.lipschitz`, and
    puts the basis in its preferred gauge every ``reorth_interval`` iterations
    (``objective.normalize``: re-orthonormalising a dense basis, balancing a factored
    one; the maps are unchanged). ``solver="lbfgs"`` takes
    L-BFGS steps on the basis with the coefficients eliminated (each evaluation solves
    them); where it has no usable curvature pair yet (the objective need not be
    convex) it takes a gradient step, expanded while the objective keeps decreasing.
    Both backtrack until the objective decreases (Armijo), so ``J`` never
    increases. Stops when the relative decrease of ``J`` over one iteration is below
    ``tol``, or when no decrease can be found.

    Returns
    -------
    basis, coef, value, n_iter, loss_curve, converged
        ``value`` is ``J`` at the returned basis and coefficients.
    """
    value, coef, grad = objective(basis, coef)
    pairs = deque(maxlen=memory)
    loss_curve = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if not np.any(grad):  # stationary: nothing left to do
            converged, n_iter = True, n_iter - 1
            break
        step_length = lr / objective.lipschitz(coef, basis)
        quasi_newton = solver == "lbfgs" and bool(pairs)
        if quasi_newton:
            direction = _lbfgs_direction(grad, pairs).astype(basis.dtype, copy=False)
            length = 1.0
            slope = float(np.vdot(grad, direction))
        if not quasi_newton or slope >= 0:  # no (descent) curvature model: gradient
            pairs.clear()
            quasi_newton = False
            direction, length = -grad, step_length
            slope = float(np.vdot(grad, direction))
            if solver == "lbfgs":
                # L bounds the curvature in every direction, often thousands of
                # times above the one along the gradient: start at the minimum of
                # the quadratic with that curvature, where the objective can tell.
                curvature = objective.curvature_along(coef, direction)
                if curvature is not None and curvature > 0:
                    step_length = length = -slope / curvature
        for _ in range(_MAX_HALVINGS):
            trial = basis + np.asarray(length, dtype=basis.dtype) * direction
            new_value, new_coef, new_grad = objective(trial, coef)
            if new_value <= value + ARMIJO * length * slope:
                break
            length *= 0.5
        else:
            converged = True  # no decrease can be found at this precision
            n_iter -= 1
            break
        if solver == "lbfgs" and not quasi_newton and length == step_length:
            # L is only an upper bound and the objective need not be convex, so
            # without curvature pairs L-BFGS would crawl: move on along the
            # gradient toward the minimum of the objective on that line.
            trial, new_value, new_coef, new_grad, length = _line_minimum(
                objective, basis, direction, slope, trial, new_value, new_coef,
                new_grad, length,
            )
        if solver == "lbfgs":
            s = (trial - basis).ravel()
            y = (new_grad - grad).ravel()
            # in float64 whatever the dtype: the curvature test needs the precision
            sy = float(np.einsum("i,i->", s, y, dtype=np.float64))
            yy = float(np.einsum("i,i->", y, y, dtype=np.float64))
            ss = float(np.einsum("i,i->", s, s, dtype=np.float64))
            if sy > 1e-10 * np.sqrt(ss * yy):
                pairs.append((s, y, 1.0 / sy, yy))
        decrease = (value - new_value) / max(abs(value), np.finfo(np.float64).tiny)
        basis, coef, value, grad = trial, new_coef, new_value, new_grad
        if solver == "gd" and reorth_interval and n_iter % reorth_interval == 0:
            basis, coef = objective.normalize(basis, coef)
            value, coef, grad = objective(basis, coef, solve=False)
        loss_curve.append(value)
        if verbose:
            print(f"Iteration {n_iter}, loss = {value:.8g}")
        if decrease < tol:
            converged = True
            break
    return basis, coef, value, n_iter, loss_curve, converged
