"""Sparse coefficients: the L1 penalty of ``sparsity`` and the gauge it needs.

With ``sparsity = t > 0`` cluster ``i`` minimises the composite objective

    F_i(c) = f_i(c) + t ||c||_1,
    f_i(c) = 1/n_i [ sum_{r in i} loss_r + s c^T Gram c ]

(``f_i`` the smooth objective of :class:`._solvers._ChunkCoefficientProblem`; the L1
term is not divided by ``n_i``: the Lasso's convention on the cluster's mean loss).
:func:`proximal_newton` solves it by proximal Gauss-Newton steps: a quadratic model
``q(z) = grad.(z - c) + 1/2 (z - c)^T H (z - c)`` of ``f_i`` at ``c`` (exact for the
squared error, the Gauss-Newton Hessian for the cosine term), its L1-regularised
minimiser by an exact active-set search (:func:`l1_quadratic_minimizer`), and a
backtracking line search on ``F_i`` itself, all batched over the clusters of a chunk.

The L1 term is not invariant to the basis's scale (``G_k`` doubled and ``C[:, k]``
halved leaves every map unchanged and halves its L1 norm), so the basis is held at
unit Frobenius norm as in dictionary learning: :class:`UnitNormObjective` evaluates
``J`` at ``G_k / ||G_k||`` and projects the gradient accordingly.
"""

import numpy as np

from ._line_search import backtrack_rows

# The active-set solve of the L1-regularised quadratic model: at most this many steps
# (each adds or removes at least one coordinate of the support, or stops) plus 4 K.
_MAX_ACTIVE_SET_STEPS = 20
# Optimality conditions of the model are checked to this relative tolerance.
_ACTIVE_SET_RTOL = 1e-9


def l1_quadratic_minimizer(hess, grad, coef, sparsity):
    r"""Minimise ``grad_i.(z - c_i) + 1/2 (z - c_i)^T H_i (z - c_i) + t ||z||_1``.

    For every cluster ``i`` at once, exactly, by the feature-sign search of Lee,
    Battle, Raina and Ng ("Efficient sparse coding algorithms", NIPS 2006),
    warm-started at ``z = c_i``. With ``b = H c - g`` the model is
    :math:`\tfrac12 z^\top H z - b^\top z + t\lVert z\rVert_1` and its
    optimality conditions, with :math:`r = H z - b`, are

    .. math::

        r_k = -t\,\mathrm{sign}(z_k) \ \text{where } z_k \ne 0, \qquad
        \lvert r_k\rvert \le t \ \text{where } z_k = 0 .

    Each step: where the first holds, the zero coordinate violating the second most
    joins the support with the sign :math:`-\mathrm{sign}(r_k)` (where none does,
    the cluster is solved); then the model restricted to the support and signs,
    a linear system :math:`H_{AA} z_A = b_A - t\,\theta_A`, is solved, and of the
    points on the segment to its solution where a coordinate changes sign (that
    coordinate set to exactly zero) and the solution itself, the one of least
    model value is taken. The model decreases strictly at every step, so no
    support is visited twice and the search ends in finitely many steps (a step
    that does not decrease it, in rounding, ends the cluster's search). Everything
    is vectorised over the clusters: the batched ``K x K`` solves cost
    :math:`O(K^3)` per cluster and step, whatever the conditioning of ``H``.

    Parameters
    ----------
    hess : ndarray of shape (m, K, K)
        Symmetric positive semi-definite model Hessians.
    grad : ndarray of shape (m, K)
        Gradients of the smooth part at ``coef``.
    coef : ndarray of shape (m, K)
        The expansion points.
    sparsity : float
        :math:`t > 0`.

    Returns
    -------
    ndarray of shape (m, K)
        The minimisers, in float64; coordinates at zero are exactly zero.

    Examples
    --------
    >>> import numpy as np
    >>> hess = np.array([[[2.0, 0.0], [0.0, 2.0]]])
    >>> grad = np.array([[-3.0, 0.5]])  # the unpenalised minimiser is (1.5, -0.25)
    >>> l1_quadratic_minimizer(hess, grad, np.zeros((1, 2)), 1.0).tolist()
    [[1.0, 0.0]]
    """
    m, K = coef.shape
    hess = np.asarray(hess, dtype=np.float64)
    z = np.array(coef, dtype=np.float64)
    linear = np.einsum("ikl,il->ik", hess, z) - grad
    scale = sparsity + np.abs(linear).max(axis=1)
    tol = (_ACTIVE_SET_RTOL * scale)[:, None]
    rows = np.arange(m)
    done = np.zeros(m, dtype=bool)
    for _ in range(_MAX_ACTIVE_SET_STEPS + 4 * K):
        residual = np.einsum("ikl,il->ik", hess, z) - linear
        support = z != 0
        signs = np.sign(z)
        off = np.any(support & (np.abs(residual + sparsity * signs) > tol), axis=1)
        excess = np.where(support, -np.inf, np.abs(residual) - sparsity)
        best = np.argmax(excess, axis=1)
        add = ~off & (excess[rows, best] > tol[:, 0])
        done |= ~off & ~add
        if done.all():
            break
        signs[add, best[add]] = -np.sign(residual[add, best[add]])
        support[add, best[add]] = True
        both = support[:, :, None] & support[:, None, :]
        system = np.where(both, hess, np.eye(K))
        rhs = np.where(support, linear - sparsity * signs, 0.0)
        solved = np.where(support, _solve(system, rhs), 0.0)
        # Candidates: where a coordinate crosses zero on the way, and the end.
        direction = solved - z
        crossing = z * solved < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(crossing, z / (z - solved), 1.0)
        points = z[:, None, :] + fraction[:, :, None] * direction[:, None, :]
        points[:, np.arange(K), np.arange(K)] = np.where(
            crossing, 0.0, points[:, np.arange(K), np.arange(K)])
        points = np.concatenate([points, solved[:, None, :]], axis=1)
        with np.errstate(invalid="ignore", over="ignore"):
            values = _model_values(hess, linear, points, sparsity)
        values = np.where(np.isfinite(values), values, np.inf)
        choice = np.argmin(values, axis=1)
        current = _model_values(hess, linear, z[:, None, :], sparsity)[:, 0]
        # Where no coordinate changes sign on the way and the solution keeps the
        # signs chosen, it is the exact minimiser of the model on the face the
        # search is on, at least as good as z there: taken without comparing
        # values, which near the solution differ by less than their rounding.
        consistent = ~crossing.any(axis=1) & np.all(
            ~support | (np.sign(solved) == signs), axis=1)
        improved = ~done & (consistent | (values[rows, choice] < current))
        step = np.where(consistent[:, None], solved, points[rows, choice])
        z[improved] = step[improved]
        done |= ~improved
    return z


def _solve(system, rhs):
    """``system[i]^{-1} rhs[i]``; where a system is singular (an unused direction),
    all are solved with a jitter relative to their trace."""
    try:
        return np.linalg.solve(system, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        K = system.shape[-1]
        trace = np.einsum("ikk->i", system) / K
        eps = max(1e3 * np.finfo(np.float64).eps, 1e-10)
        jitter = eps * np.where(trace > 0, trace, 1.0)
        return np.linalg.solve(system + jitter[:, None, None] * np.eye(K),
                               rhs[..., None])[..., 0]


def _model_values(hess, linear, points, sparsity):
    """``1/2 z^T H z - b.z + t ||z||_1`` at ``points`` of shape (m, n, K)."""
    quadratic = np.einsum("ink,ikl,inl->in", points, hess, points)
    return (0.5 * quadratic - np.einsum("ink,ik->in", points, linear)
            + sparsity * np.abs(points).sum(axis=2))


def l1_norms(coef):
    """``||c_i||_1`` of every row, in float64."""
    return np.abs(coef).sum(axis=1, dtype=np.float64)


def proximal_newton(evaluate, values, start, coef, sparsity, *, rtol, typical_value,
                    max_steps, max_halvings, armijo):
    r"""Proximal Gauss-Newton steps on ``F_i = f_i + t ||c||_1``, batched over clusters.

    Each step minimises the L1-regularised quadratic model of ``f_i`` at the
    current ``c`` (:func:`l1_quadratic_minimizer`) to ``z``, and backtracks along
    ``c + a (z - c)`` (``a = 1, 1/2, ...``) until

    .. math::

        F_i(c + a (z - c)) \le F_i(c) + \sigma a \Delta_i, \qquad
        \Delta_i = g_i.(z - c) + t (\lVert z\rVert_1 - \lVert c\rVert_1),

    the sufficient decrease of the composite objective (Lee, Sun and Saunders,
    "Proximal Newton-type methods", SIAM J. Optim. 2014); :math:`\Delta_i \le 0`,
    zero only at a minimiser of ``F_i``. A cluster stops when
    :math:`-\Delta_i` is below ``rtol`` times ``max(|F_i|, 1e-6 typical_value)``. A
    full step takes ``z`` itself, so its zeros are exact.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(delta) -> (F, grad, hess)`` at ``start + delta``: ``F`` with the
        L1 term, ``grad`` and ``hess`` those of the smooth part ``f``.
    values : callable
        ``values(delta) -> F`` at ``start + delta``.
    start : ndarray of shape (m, K)
        The point the statistics were taken at.
    coef : ndarray of shape (m, K)
        Starting coefficients.
    sparsity : float
    rtol, typical_value : float
        The stopping rule above.
    max_steps, max_halvings : int
    armijo : float
        :math:`\sigma`.

    Returns
    -------
    ndarray of shape (m, K)
        The coefficients, in float64.
    """
    coef = np.array(coef, dtype=np.float64)
    for _ in range(max_steps):
        current, grad, hess = evaluate(coef - start)
        target = l1_quadratic_minimizer(hess, grad, coef, sparsity)
        direction = target - coef
        decrease = (np.einsum("ik,ik->i", grad, direction)
                    + sparsity * (l1_norms(target) - l1_norms(coef)))
        scale = np.maximum(np.abs(current), 1e-6 * typical_value)
        active = decrease < -rtol * scale
        if not active.any():
            break
        # A full step takes the model's minimiser itself, so its zeros are exact.
        coef = backtrack_rows(
            lambda points: values(points - start), coef, current, decrease, active,
            lambda length, coef=coef, target=target, direction=direction: np.where(
                (length == 1.0)[:, None], target, coef + length[:, None] * direction),
            max_halvings=max_halvings, armijo=armijo,
        )
    return coef


class UnitNormObjective:
    r"""``J`` of a basis held at unit Frobenius norm: the gauge of the L1 penalty.

    Wraps a :class:`._solvers.BasisObjective`: called with any basis :math:`B` it
    returns the objective, coefficients and gradient of
    :math:`\tilde J(B) = J(B_1/\lVert B_1\rVert, \dots, B_K/\lVert B_K\rVert)`, whose
    gradient is

    .. math::

        \nabla_{B_k} \tilde J = \frac{1}{\lVert B_k\rVert}
            \big(\nabla_{G_k} J - \langle \nabla_{G_k} J, G_k\rangle_F\, G_k\big),
        \qquad G_k = B_k / \lVert B_k\rVert,

    the gradient at :math:`G` with its radial part (which would only rescale
    :math:`G_k`) removed. The solvers then run unchanged on :math:`B`; the fitted
    basis is :math:`G`, and the coefficients returned are those of :math:`G`.

    Parameters
    ----------
    objective : BasisObjective
    """

    def __init__(self, objective):
        self.objective = objective

    @staticmethod
    def unit_norm(basis):
        """``basis[k] / ||basis[k]||_F`` and the norms."""
        norms = np.sqrt(np.einsum("kdp,kdp->k", basis, basis, dtype=np.float64))
        norms = np.maximum(norms, np.finfo(basis.dtype).tiny)
        return basis / norms.astype(basis.dtype)[:, None, None], norms

    def normalize(self, basis, coef):
        """The gauge of the L1 term: each basis map rescaled to unit norm (``J``
        is evaluated there anyway, so nothing changes); the coefficients are
        those of the unit-norm basis already."""
        return self.unit_norm(basis)[0], coef

    def lipschitz(self, coef, basis=None):
        """The wrapped objective's estimate (the gradient at unit norm is the
        projected one, no larger)."""
        return self.objective.lipschitz(coef, basis)

    def curvature_along(self, coef, direction):
        """Not estimated at unit norm (the normalisation bends the line): the
        solver's first step keeps ``lr / L``."""
        return None

    def __call__(self, basis, coef, *, solve=True, need_grad=True):
        """``(J, coef, grad)`` at the normalised basis, gradient with respect to
        ``basis``."""
        unit, norms = self.unit_norm(basis)
        value, coef, grad = self.objective(unit, coef, solve=solve,
                                           need_grad=need_grad)
        if grad is None:
            return value, coef, None
        radial = np.einsum("kdp,kdp->k", grad, unit, dtype=np.float64)
        grad = grad - radial.astype(grad.dtype)[:, None, None] * unit
        grad /= norms.astype(grad.dtype)[:, None, None]
        return value, coef, grad
