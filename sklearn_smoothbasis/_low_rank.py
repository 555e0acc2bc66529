"""Array kernels of the low-rank (factored) smoothing basis: ``G_k = U_k V_k^T``.

Notation of :mod:`._solvers`; each basis map is ``G_k = U_k V_k^T`` of rank ``r`` with
``U`` of shape ``(K, d, r)`` and ``V`` ``(K, p, r)``. The solver's parameter array is
both factors stacked along the row axis, ``theta = [U; V]`` of shape
``(K, d + p, r)``, so :func:`._solvers.fit_basis` runs on it unchanged. No array of
``K d p`` values is formed: with ``a_rk = x_r U_k`` (all ``K r`` of them one matmul
``A = X [U_1 ... U_K]``) and ``Vmat = [V_1 ... V_K]^T`` (``K r x p``),

- prediction: ``x_r P + sum_k c_k a_rk V_k^T = x_r P + [c_1 a_r1 ... c_K a_rK] Vmat``;
- the coefficient step's statistics: ``Z_r e = [a_rk . (V_k^T e)]_k`` and
  ``(Z_r Z_r^T)_kl = a_rk^T (V_k^T V_l) a_rl`` (one ``K r x K r`` Gram of ``Vmat``);
- the gradient, with ``g_r = dJ / dpred_r``: ``dJ/dU_k = X^T [c_k (g V_k)]`` and
  ``dJ/dV_k = g^T [c_k (X U_k)]``; the alpha penalty's Gram is
  ``<G_k, G_l>_F = sum((U_k^T U_l) * (V_k^T V_l))``.

A row costs ``O(K r (d + p) + K^2 r^2)`` instead of ``O(K d p + K^2 p)``.

The factors have a gauge: ``U_k M, V_k M^-T`` give the same ``G_k``, and ``G_k / s``
with coefficients ``s c_k`` the same maps. :func:`canonical_factors` fixes it:
``U_k = L sqrt(S)``, ``V_k = R sqrt(S)`` from the SVD ``G_k = L S R^T`` (so
``U_k^T U_k = V_k^T V_k = S``, balanced) and ``||G_k||_F = 1``. It does not
orthonormalise the span of the ``G_k`` (mixing them would raise their rank).
"""

import numpy as np
from joblib import delayed
from sklearn.utils import check_random_state

from ._init import n_usable_directions, top_map_weights
from ._linalg import thin_svd
from ._solvers import BasisObjective, _ChunkCoefficientProblem

# The init truncates each initial direction (one d x p map at a time) by an exact
# SVD up to this many values, by a randomized range finder (oversampling, power
# iterations) above.
_EXACT_SVD_MAX_VALUES = 2**22
_OVERSAMPLES = 10
_POWER_ITERATIONS = 4


def split_factors(theta, n_features):
    """``U`` ``(K, d, r)`` and ``V`` ``(K, p, r)`` from ``theta = [U; V]`` (views)."""
    return theta[:, :n_features], theta[:, n_features:]


def left_matrix(U):
    """``[U_1 ... U_K]``: shape ``(d, K r)``, so that ``X @ it`` is ``A``."""
    K, d, r = U.shape
    return np.ascontiguousarray(U.transpose(1, 0, 2)).reshape(d, K * r)


def right_matrix(V):
    """``[V_1 ... V_K]^T``: shape ``(K r, p)``, row ``(k, s)`` is ``V_k[:, s]``."""
    K, p, r = V.shape
    return np.ascontiguousarray(V.transpose(0, 2, 1)).reshape(K * r, p)


def cross_grams(F):
    """``F_k^T F_l`` for all pairs: shape ``(K, K, r, r)``, one ``(K r)^2`` matmul."""
    K, n, r = F.shape
    flat = np.ascontiguousarray(F.transpose(1, 0, 2)).reshape(n, K * r)
    return (flat.T @ flat).reshape(K, r, K, r).transpose(0, 2, 1, 3)


def factor_gram(U, V, UU=None, VV=None):
    """``<G_k, G_l>_F = sum((U_k^T U_l) * (V_k^T V_l))``: shape ``(K, K)``
    (``UU``, ``VV``: the :func:`cross_grams` of ``U`` and ``V`` if known)."""
    UU = cross_grams(U) if UU is None else UU
    VV = cross_grams(V) if VV is None else VV
    return np.einsum("klst,klst->kl", UU, VV)


class FactoredDesign:
    """The design ``Z_r[k] = x_r U_k V_k^T`` of a chunk, never formed.

    Implements :class:`._solvers.DenseDesign`'s three operations from ``A``
    (``m x K x r``, the rows times the left factors) and ``Vmat`` (``K r x p``).
    """

    def __init__(self, A, Vmat, VV=None):
        self.A, self.Vmat, self.dtype = A, Vmat, A.dtype
        K, r = A.shape[1:]
        VV = Vmat @ Vmat.T if VV is None else VV  # (K r, K r)
        self._VV = VV.reshape(K, r, K * r)

    def predict(self, coef_rows, base):
        m, K, r = self.A.shape
        pred = (coef_rows[:, :, None] * self.A).reshape(m, K * r) @ self.Vmat
        if base is not None:
            pred += base
        return pred

    def times(self, E):
        """``Z_r E_r = [a_rk . (V_k^T E_r)]_k`` for ``E`` ``(m, p, j)``: shape
        ``(m, K, j)``."""
        m, K, r = self.A.shape
        out = np.empty((m, K, E.shape[2]), dtype=np.result_type(self.A, E))
        for j in range(E.shape[2]):
            F = (E[:, :, j] @ self.Vmat.T).reshape(m, K, r)
            out[:, :, j] = np.einsum("rks,rks->rk", F, self.A)
        return out

    def gram(self):
        """``(Z_r Z_r^T)_kl = a_rk^T (V_k^T V_l) a_rl``: shape ``(m, K, K)``."""
        m, K, r = self.A.shape
        out = np.empty((m, K, K), dtype=self.dtype)
        for k in range(K):
            T = (self.A[:, k, :] @ self._VV[k]).reshape(m, K, r)
            out[:, k, :] = np.einsum("rls,rls->rl", T, self.A)
        return out


def factored_design(X, U, V):
    """The :class:`FactoredDesign` of rows ``X`` for factors ``U``, ``V``."""
    K, _, r = U.shape
    A = (X @ left_matrix(U)).reshape(X.shape[0], K, r)
    return FactoredDesign(A, right_matrix(V))


def _factored_chunk_pass(X, Y, base, counts, Umat, Vmat, VV, coef, gram, loss, alpha,
                         n_clusters, typical_value, solve, need_grad):
    """One chunk of clusters: coefficient step (optional), objective, the gradients
    ``X^T [c_k (g V_k)]`` (``d x K r``) and ``g^T [c_k (X U_k)]`` (``p x K r``)."""
    K = coef.shape[1]
    m, r = X.shape[0], Umat.shape[1] // K
    A = (X @ Umat).reshape(m, K, r)
    problem = _ChunkCoefficientProblem(
        FactoredDesign(A, Vmat, VV), base, Y, counts, gram, loss, alpha, typical_value,
        coef.astype(X.dtype, copy=False),
    )
    if solve:
        problem.solve()
    coef = problem.coef
    values, row_grad = problem.final()
    del problem
    grad = None
    if need_grad:
        row_cluster = np.repeat(np.arange(len(counts)), counts)
        row_scale = (1.0 / (n_clusters * counts))[row_cluster]
        coef_rows = (coef[row_cluster] * row_scale[:, None].astype(X.dtype))[:, :, None]
        weighted = (row_grad @ Vmat.T).reshape(m, K, r) * coef_rows
        grad_U = X.T @ weighted.reshape(m, K * r)
        grad_V = row_grad.T @ (A * coef_rows).reshape(m, K * r)
        grad = (grad_U, grad_V)
    return coef, values, grad


class LowRankObjective(BasisObjective):
    """:class:`._solvers.BasisObjective` of the factored basis ``theta = [U; V]``.

    Same parameters; ``J``, the coefficients and the gradient (in ``theta``) of the
    maps ``P + sum_k c_ik U_k V_k^T``, computed without forming any ``G_k``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.laplacian is not None or self.sparsity:
            raise ValueError(
                "basis_rank cannot yet be combined with smoothness > 0 or "
                "sparsity > 0: their coefficient solves are written for dense basis "
                "maps only."
            )

    def lipschitz(self, coef, basis=None):
        """Lipschitz estimate of the gradient in ``theta``: that of the dense basis
        gradient times ``max_k ||U_k||_2^2 + max_k ||V_k||_2^2`` (the Hessian in
        ``U`` with ``V`` fixed is the dense one composed with ``V``, and the other
        way round)."""
        dense = super().lipschitz(coef)
        if basis is None:
            return dense
        U, V = split_factors(basis.astype(np.float64), self.X.shape[1])
        scale = (np.max(np.linalg.norm(U, ord=2, axis=(1, 2))) ** 2
                 + np.max(np.linalg.norm(V, ord=2, axis=(1, 2))) ** 2)
        return max(dense * scale, np.finfo(np.float64).tiny)

    def curvature_along(self, coef, direction):
        """Not estimated in the factors (the maps are not linear in them): the
        solver's first step keeps ``lr / L``."""
        return None

    def normalize(self, basis, coef):
        """The same maps with the factors in the canonical gauge
        (:func:`canonical_factors`)."""
        return canonical_factors(basis, self.X.shape[1], coef)

    def __call__(self, basis, coef, *, solve=True, need_grad=True):
        """Return ``(J, coef, grad)`` at ``theta = basis``; with ``solve`` the
        coefficients are re-optimised."""
        d = self.X.shape[1]
        U, V = split_factors(basis, d)
        K, p, r = V.shape
        Umat, Vmat = left_matrix(U), right_matrix(V)
        # V_k^T V_l for all pairs: one (K r)^2 matmul, shared by the chunks' designs.
        VVmat = Vmat @ Vmat.T
        UU = cross_grams(U)
        VV = VVmat.reshape(K, r, K, r).transpose(0, 2, 1, 3)
        gram = factor_gram(U, V, UU, VV)
        tasks = []
        for c0, c1 in zip(self.chunk_starts[:-1], self.chunk_starts[1:]):
            r0, r1 = self.starts[c0], self.starts[c1]
            base = None if self.base is None else self.base[r0:r1]
            tasks.append(delayed(_factored_chunk_pass)(
                self.X[r0:r1], self.Y[r0:r1], base, self.counts[c0:c1], Umat, Vmat,
                VVmat, coef[c0:c1], gram, self.loss, self.alpha, self.n_clusters,
                self.typical_value, solve, need_grad,
            ))
        results = self.run(tasks)
        coef = np.concatenate([res[0] for res in results])
        values = np.concatenate([res[1] for res in results])
        value = float(values.sum()) / self.n_clusters
        if not need_grad:
            return value, coef, None
        grad_U, grad_V = results[0][2]
        for res in results[1:]:
            grad_U = grad_U + res[2][0]
            grad_V = grad_V + res[2][1]
        grad_U = grad_U.reshape(d, K, r).transpose(1, 0, 2)
        grad_V = grad_V.reshape(p, K, r).transpose(1, 0, 2)
        if self.alpha > 0:
            # d/dG_k of the penalty is sum_l M_kl G_l, M = 2 alpha/N C^T diag(1/n) C:
            # through U_k (times V_k) and V_k (times U_k).
            M = ((2 * self.alpha / self.n_clusters) * (
                coef.T @ (coef / self.counts[:, None].astype(coef.dtype))
            )).astype(basis.dtype)
            grad_U = grad_U + np.einsum("kl,lds,lkst->kdt", M, U, VV, optimize=True)
            grad_V = grad_V + np.einsum("kl,lps,lkst->kpt", M, V, UU, optimize=True)
        grad = np.ascontiguousarray(np.concatenate([grad_U, grad_V], axis=1))
        return value, coef, grad.astype(basis.dtype, copy=False)


def canonical_factors(theta, n_features, coef=None):
    """The same maps with each ``G_k = U_k V_k^T`` of unit Frobenius norm and
    balanced factors ``U_k = L sqrt(S)``, ``V_k = R sqrt(S)`` (``G_k = L S R^T``).

    ``coef[:, k]`` is multiplied by the norm removed from ``G_k``, so
    ``sum_k coef[:, k] G_k`` is unchanged. Costs ``O(K (d + p) r^2)``. Returns
    ``theta`` (and ``coef`` when given).
    """
    U, V = split_factors(theta.astype(np.float64), n_features)
    Qu, Ru = np.linalg.qr(U)
    Qv, Rv = np.linalg.qr(V)
    L, S, Rt = np.linalg.svd(Ru @ Rv.transpose(0, 2, 1))
    norms = np.sqrt(np.sum(S * S, axis=1))
    norms = np.where(norms > 0, norms, 1.0)
    root = np.sqrt(S / norms[:, None])[:, None, :]
    U = np.matmul(Qu, L) * root
    V = np.matmul(Qv, Rt.transpose(0, 2, 1)) * root
    new_theta = np.concatenate([U, V], axis=1).astype(theta.dtype)
    if coef is None:
        return new_theta
    return new_theta, (coef * norms.astype(coef.dtype))


def _top_singular_triplets(X, W, rank, rng):
    """Best rank-``rank`` factors ``L S R^T`` of ``M = X^T W`` (``d x p``): by an
    exact SVD of ``M`` up to ``_EXACT_SVD_MAX_VALUES`` values, above from products
    with ``X`` and ``W`` only (randomized range finder, exact when
    ``rank + _OVERSAMPLES >= min(d, p)``)."""
    d, p = X.shape[1], W.shape[1]
    if d * p <= _EXACT_SVD_MAX_VALUES:
        L, S, Rt = thin_svd((X.T @ W).astype(np.float64), overwrite=True)
        return L[:, :rank], S[:rank], Rt[:rank].T
    q = min(rank + _OVERSAMPLES, d, p)
    Y = X.T @ (W @ rng.standard_normal((p, q)).astype(X.dtype))
    for _ in range(_POWER_ITERATIONS):
        Q = np.linalg.qr(Y)[0]
        Q = np.linalg.qr(W.T @ (X @ Q))[0]
        Y = X.T @ (W @ Q)
    Q = np.linalg.qr(Y)[0]
    small = (X @ Q).T @ W  # Q^T M, q x p
    L, S, Rt = thin_svd(small.astype(np.float64), overwrite=True)
    return Q.astype(np.float64) @ L[:, :rank], S[:rank], Rt[:rank].T


def low_rank_map_directions(X, B, starts, n_components, rank, random_state):
    """The ``"svd"`` init, factored: the top directions of the per-cluster maps
    ``X_i^T B_i`` (those of :func:`._init.top_map_directions`), each truncated to
    its best rank ``rank`` (Eckart-Young), in the canonical gauge; one ``d x p``
    direction at a time (none for very large ``d p``: :func:`_top_singular_triplets`).
    Directions with a negligible singular value get random factors.
    Returns ``theta`` of shape ``(n_components, d + p, rank)``."""
    labels = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    rng = check_random_state(random_state)
    weights, eigval = top_map_weights(X, B, starts, labels, n_components, rng)
    n_usable = n_usable_directions(eigval)
    d, p = X.shape[1], B.shape[1]
    theta = np.empty((n_components, d + p, rank))
    for k in range(n_usable):
        W = weights[labels, k][:, None].astype(X.dtype) * B
        L, S, R = _top_singular_triplets(X, W, rank, rng)
        theta[k] = np.concatenate([L * np.sqrt(S), R * np.sqrt(S)])
    theta[n_usable:] = rng.standard_normal((n_components - n_usable, d + p, rank))
    return canonical_factors(theta.astype(X.dtype), d)


def random_factors(n_components, n_features, n_targets, rank, dtype, random_state):
    """Standard normal factors, in the canonical gauge."""
    rng = check_random_state(random_state)
    theta = rng.standard_normal((n_components, n_features + n_targets, rank))
    return canonical_factors(theta.astype(dtype), n_features)
