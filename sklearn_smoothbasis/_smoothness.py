r"""Answer-similarity smoothness: the answer graph, its penalty, the coupled solve.

Clusters whose answers are near get similar maps. With :math:`S` the answer graph
(:func:`answer_graph`), :math:`n_i` the rows of cluster :math:`i` and
:math:`\mu` = ``smoothness``, the objective of the basis model gains

.. math::

    \frac{\mu}{N} \sum_{i < j} S_{ij} \frac{1/n_i + 1/n_j}{2}
        \lVert W_i - W_j \rVert_F^2
    = \frac{1}{N} \operatorname{tr}(C^\top L C\, \mathrm{Gram}),

with :math:`W_i - W_j = \sum_k (C_{ik} - C_{jk}) G_k`, ``Gram`` the Frobenius Gram
matrix of the basis and :math:`L` (:func:`smoothness_laplacian`) :math:`\mu` times
the graph Laplacian of the edge weights :math:`S_{ij}(1/n_i + 1/n_j)/2`. The factor
:math:`1/n` is ``alpha``'s convention (a penalty added to a cluster's *summed* row
loss): the pull toward the neighbours weakens as a cluster gets rows.

The penalty couples the clusters' coefficients, so the coefficient step is solved
jointly (:func:`solve_coupled`): Gauss-Newton on
:math:`F(C) = \sum_i f_i(c_i) + \operatorname{tr}(C^\top L C\,\mathrm{Gram})`, each
step's system :math:`(\operatorname{blockdiag}(H_i) + 2 L \otimes \mathrm{Gram})\,
\delta = -\nabla F` solved by conjugate gradients preconditioned by its diagonal
blocks (:func:`block_jacobi_cg`), at :math:`O(N K^2 + \mathrm{nnz}(L) K)` per product.
"""

import numpy as np
from joblib import delayed
from scipy.sparse import csr_matrix, diags

from ._linalg import unit_rows
from ._line_search import ARMIJO

# Conjugate gradients: relative residual and iteration cap of one system.
_CG_RTOL = 1e-10
_CG_MAX_ITER = 500
# Gauss-Newton on the coupled objective (cosine term): steps and halvings.
_MAX_STEPS = 10
_MAX_HALVINGS = 8
# Rows of the cosine similarity computed at once when building the graph.
_GRAPH_BLOCK = 1024


def answer_graph(target_means, n_neighbors):
    r"""Symmetric cosine k-nearest-neighbour graph of the clusters' answers.

    :math:`S_{ij} = \max(\cos(t_i, t_j), 0)` when :math:`j` is one of the
    ``n_neighbors`` answers of largest cosine to :math:`t_i` (itself excluded) or
    :math:`i` one of :math:`t_j`'s, 0 otherwise. A cluster whose answer is
    duplicated has the duplicate as a neighbour of weight 1; a zero answer has
    cosine 0 with every answer and is isolated.

    Parameters
    ----------
    target_means : ndarray of shape (n_clusters, n_targets)
        The clusters' answers (mean targets).
    n_neighbors : int
        Neighbours of each cluster (at most ``n_clusters - 1`` are used).

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_clusters, n_clusters)
        Symmetric, non-negative, zero diagonal, float64.

    Examples
    --------
    >>> import numpy as np
    >>> answers = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    >>> answer_graph(answers, 1).toarray().round(3)
    array([[0.   , 0.995, 0.   ],
           [0.995, 0.   , 0.1  ],
           [0.   , 0.1  , 0.   ]])
    """
    n_clusters = target_means.shape[0]
    k = min(int(n_neighbors), n_clusters - 1)
    if k < 1:
        return csr_matrix((n_clusters, n_clusters))
    unit = unit_rows(np.asarray(target_means, dtype=np.float64))
    rows, cols, weights = [], [], []
    for start in range(0, n_clusters, _GRAPH_BLOCK):
        block = np.arange(start, min(start + _GRAPH_BLOCK, n_clusters))
        similarity = unit[block] @ unit.T
        similarity[np.arange(len(block)), block] = -np.inf  # not its own neighbour
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        rows.append(np.repeat(block, k))
        cols.append(nearest.ravel())
        weights.append(np.take_along_axis(similarity, nearest, axis=1).ravel())
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    weights = np.maximum(np.concatenate(weights), 0.0)
    knn = csr_matrix((weights, (rows, cols)), shape=(n_clusters, n_clusters))
    graph = knn.maximum(knn.T).tocsr()
    graph.eliminate_zeros()
    return graph


def smoothness_laplacian(graph, counts, smoothness):
    r"""``smoothness`` times the Laplacian of the edge weights
    :math:`S_{ij} (1/n_i + 1/n_j) / 2`.

    Parameters
    ----------
    graph : scipy.sparse matrix of shape (n_clusters, n_clusters)
        Symmetric answer graph :math:`S` (:func:`answer_graph`).
    counts : ndarray of shape (n_clusters,)
        Rows of each cluster (all positive).
    smoothness : float
        :math:`\mu`.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_clusters, n_clusters)
        :math:`L = \mu (D - A)`, with :math:`A` the scaled edge weights and
        :math:`D` their row sums: symmetric positive semi-definite, and
        :math:`\operatorname{tr}(C^\top L C\,\mathrm{Gram}) = \mu \sum_{i<j}
        A_{ij} \lVert W_i - W_j\rVert_F^2`.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse import csr_matrix
    >>> graph = csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> smoothness_laplacian(graph, np.array([1, 3]), 2.0).toarray().round(3)
    array([[ 1.333, -1.333],
           [-1.333,  1.333]])
    """
    inverse = 1.0 / np.asarray(counts, dtype=np.float64)
    graph = csr_matrix(graph, dtype=np.float64)
    rows = np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr))
    weights = graph.data * (inverse[rows] + inverse[graph.indices]) / 2
    adjacency = csr_matrix((weights, graph.indices, graph.indptr), shape=graph.shape)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return (smoothness * (diags(degree) - adjacency)).tocsr()


def penalty_value(laplacian, coef, gram):
    r""":math:`\operatorname{tr}(C^\top L C\,\mathrm{Gram})` in float64."""
    coef = coef.astype(np.float64, copy=False)
    return float(np.einsum("ik,ik->", laplacian @ coef, coef @ gram))


def penalty_coef_gradient(laplacian, coef, gram):
    r""":math:`2 L C\,\mathrm{Gram}`, the penalty's gradient in the coefficients."""
    return 2.0 * ((laplacian @ coef.astype(np.float64, copy=False)) @ gram)


def penalty_basis_factor(laplacian, coef):
    r""":math:`2 C^\top L C`: the penalty's gradient in the flattened basis
    :math:`B` (``K x d p``, ``Gram = B B^T``) is this matrix times :math:`B`."""
    coef = coef.astype(np.float64, copy=False)
    return 2.0 * (coef.T @ (laplacian @ coef))


def _regularised_blocks(blocks):
    """``blocks`` plus the relative jitter of ``_solvers._batched_solve``: a
    direction no cluster uses gets a small, finite step instead of a singular
    system."""
    K = blocks.shape[-1]
    scale = np.trace(blocks, axis1=-2, axis2=-1) / K
    eps = max(1e3 * np.finfo(np.float64).eps, 1e-10)
    jitter = eps * np.where(scale > 0, scale, 1.0)
    return blocks + jitter[:, None, None] * np.eye(K)


def block_jacobi_cg(blocks, laplacian, gram, rhs, coupling=2.0, *, rtol=_CG_RTOL,
                    max_iter=_CG_MAX_ITER):
    r"""Solve :math:`(\operatorname{blockdiag}(H_i) + c\, L \otimes \mathrm{Gram})\,
    x = b` by conjugate gradients preconditioned with its diagonal blocks.

    The product with the matrix costs :math:`O(N K^2 + \mathrm{nnz}(L) K)`: the
    batched blocks, then :math:`c\, (L X)\,\mathrm{Gram}`; the preconditioner
    applies the inverses of the blocks :math:`H_i + c L_{ii} \mathrm{Gram}`,
    :math:`O(N K^2)`. The blocks get the relative jitter of the package's batched
    solves, so the system is positive definite. Stops at a residual of ``rtol``
    times that of :math:`x = 0`, or after ``max_iter`` iterations (every iterate is
    a descent direction for the quadratic, so an early stop still is one).

    Parameters
    ----------
    blocks : ndarray of shape (N, K, K)
        Symmetric positive semi-definite :math:`H_i`.
    laplacian : scipy.sparse matrix of shape (N, N)
        Symmetric positive semi-definite :math:`L`.
    gram : ndarray of shape (K, K)
    rhs : ndarray of shape (N, K)
    coupling : float, default=2.0
        :math:`c`.
    rtol : float, default=1e-10
    max_iter : int, default=500

    Returns
    -------
    x : ndarray of shape (N, K)
    n_iter : int

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse import csr_matrix
    >>> blocks = np.stack([np.eye(2), 2 * np.eye(2)])
    >>> lap = csr_matrix(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    >>> x, _ = block_jacobi_cg(blocks, lap, np.eye(2), np.ones((2, 2)))
    >>> x.round(4)  # [[1 + 2, -2], [-2, 2 + 2]] x = 1 per column
    array([[0.75 , 0.75 ],
           [0.625, 0.625]])
    """
    blocks = _regularised_blocks(blocks)
    diagonal = laplacian.diagonal()
    inverse = np.linalg.inv(blocks + coupling * diagonal[:, None, None] * gram)

    def product(v):
        return np.einsum("ikl,il->ik", blocks, v) + coupling * ((laplacian @ v) @ gram)

    def precondition(r):
        return np.einsum("ikl,il->ik", inverse, r)

    x = np.zeros_like(rhs)
    residual = rhs.copy()
    target = rtol * np.linalg.norm(rhs)
    z = precondition(residual)
    direction = z.copy()
    rz = float(np.vdot(residual, z))
    n_iter = 0
    while n_iter < max_iter and np.linalg.norm(residual) > target:
        n_iter += 1
        q = product(direction)
        curvature = float(np.vdot(direction, q))
        if curvature <= 0:  # rounding at the solution: nothing left to gain
            break
        step = rz / curvature
        x += step * direction
        residual -= step * q
        z = precondition(residual)
        rz_new = float(np.vdot(residual, z))
        direction = z + (rz_new / rz) * direction
        rz = rz_new
    return x, n_iter


def _gather(run, problems, method, coef, bounds):
    """``method`` of each chunk problem on its clusters' rows of ``coef``,
    concatenated (tuples of outputs concatenated output by output)."""
    results = run([
        delayed(getattr(problem, method))(coef[c0:c1])
        for problem, c0, c1 in zip(problems, bounds[:-1], bounds[1:])
    ])
    if isinstance(results[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*results))
    return np.concatenate(results)


def solve_coupled(problems, bounds, laplacian, gram, run, *, cosine, cold_start,
                  scale, rtol):
    r"""Coefficients minimising
    :math:`F(C) = \sum_i f_i(c_i) + \operatorname{tr}(C^\top L C\,\mathrm{Gram})`.

    ``problems`` are prepared chunk problems (``_solvers._ChunkCoefficientProblem``
    after ``prepare``): their ``evaluate`` gives each :math:`f_i`, gradient and
    Gauss-Newton Hessian, their ``values`` each :math:`f_i`, from the rows'
    statistics, and ``least_squares_system`` the squared-error-only system.
    Squared error only (``cosine`` False): :math:`F` is quadratic and one
    conjugate-gradient solve of its Newton system from the start is its minimum.
    With the cosine term: on a cold start first the minimiser of the squared
    error plus the penalties (as the independent solve does), then Gauss-Newton
    steps with a backtracking (Armijo) line search on :math:`F`; a step is
    taken only if it decreases :math:`F`, which therefore never increases (as
    computed from the statistics; the caller checks the exact values).

    Parameters
    ----------
    problems : list
        Prepared chunk problems, in cluster order.
    bounds : ndarray
        Cluster offsets of the chunks.
    laplacian : scipy.sparse matrix of shape (N, N)
        :func:`smoothness_laplacian`.
    gram : ndarray of shape (K, K)
        Float64 Gram matrix of the basis.
    run : callable
        Runs ``joblib.delayed`` tasks (one per chunk); their results in order.
    cosine : bool
        Whether the loss has a cosine term.
    cold_start : bool
        Whether the start is all zeros.
    scale : float
        Typical size of :math:`F`; steps predicting a decrease below ``rtol``
        times ``max(|F|, scale)`` are not taken.
    rtol : float

    Returns
    -------
    ndarray of shape (N, K)
        Float64 coefficients.
    """
    coef = np.concatenate([problem.start for problem in problems])

    def total(values, coef):
        return float(values.sum()) + penalty_value(laplacian, coef, gram)

    value = total(_gather(run, problems, "values", coef, bounds), coef)
    if not cosine or cold_start:
        hess, grad = _gather(run, problems, "least_squares_system", coef, bounds)
        # The squared-error system is halved (as the independent solve's): so is
        # the coupling.
        grad = grad + 0.5 * penalty_coef_gradient(laplacian, coef, gram)
        step, _ = block_jacobi_cg(hess, laplacian, gram, -grad, coupling=1.0)
        trial = coef + step
        trial_value = total(_gather(run, problems, "values", trial, bounds), trial)
        if trial_value <= value:
            coef, value = trial, trial_value
    if not cosine:
        return coef
    for _ in range(_MAX_STEPS):
        values, grad, hess = _gather(run, problems, "evaluate", coef, bounds)
        value = total(values, coef)
        grad = grad + penalty_coef_gradient(laplacian, coef, gram)
        direction, _ = block_jacobi_cg(hess, laplacian, gram, -grad)
        slope = float(np.vdot(grad, direction))
        if not slope < -rtol * max(abs(value), scale):
            break
        length = 1.0
        for _ in range(_MAX_HALVINGS):
            trial = coef + length * direction
            trial_value = total(_gather(run, problems, "values", trial, bounds), trial)
            if trial_value <= value + ARMIJO * length * slope:
                break
            length *= 0.5
        else:
            break  # no decrease found at this precision
        coef = trial
    return coef
