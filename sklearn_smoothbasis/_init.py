"""Initial bases: top singular directions of per-cluster maps, or random.

Every per-cluster map used here has the factored form ``M_i = X_i^T B_i`` (``B_i`` has
one row per row of cluster ``i``), as ridge solutions do
(:func:`~sklearn_smoothbasis._linalg.cluster_ridge_factors`). The best
rank-K basis in Frobenius norm (Eckart-Young) is spanned by the top right singular
vectors of the ``N x (d p)`` matrix whose rows are ``vec(M_i)``; it is computed from the
factors without forming the ``N`` maps: exactly through an ``N x N`` Gram matrix when
the rows are few, by randomized subspace iteration otherwise.
"""

import numpy as np
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._chunking import get_chunk_n_rows

from ._linalg import cluster_sums
from ._solvers import orthonormalize

# Up to this many rows the Gram matrix of the maps is formed exactly (an n x n kernel).
_EXACT_GRAM_MAX_ROWS = 4000
_OVERSAMPLES = 5
_POWER_ITERATIONS = 2


def _batches(X, values_per_row, itemsize=None):
    """Batches of rows whose ``values_per_row`` working values each (of ``itemsize``
    bytes, the item size of ``X`` by default) fit in ``working_memory``."""
    row_bytes = (itemsize or X.itemsize) * values_per_row
    return gen_batches(X.shape[0], get_chunk_n_rows(row_bytes, max_n_rows=X.shape[0]))


def _maps_times(X, B, starts, labels, U):
    """``sum_i U[i, j] X_i^T B_i`` for each column j: shape ``(q, d, p)``."""
    q = U.shape[1]
    out = np.zeros((X.shape[1], q * B.shape[1]), dtype=X.dtype)
    # Per row: its weights (q), the weighted factors (q p) and a copy for the product.
    for rows in _batches(X, q + 2 * q * B.shape[1]):
        weighted = U[labels[rows]][:, :, None] * B[rows][:, None, :]
        out += X[rows].T @ weighted.reshape(weighted.shape[0], -1)
    return out.reshape(X.shape[1], q, -1).transpose(1, 0, 2)


def _inner_with_maps(X, B, starts, V):
    """``<X_i^T B_i, V_j>_F`` for all clusters i and matrices j: shape ``(N, q)``."""
    q = V.shape[0]
    V_mat = np.ascontiguousarray(V.transpose(1, 0, 2)).reshape(X.shape[1], -1)
    per_row = np.empty((X.shape[0], q), dtype=np.float64)
    # Per row: X V (q p) and the einsum's result (q).
    for rows in _batches(X, q * B.shape[1] + q):
        XV = (X[rows] @ V_mat).reshape(-1, q, B.shape[1])
        per_row[rows] = np.einsum("rjp,rp->rj", XV, B[rows])
    return cluster_sums(per_row, starts)


def _map_gram(X, B, starts, labels):
    """``<X_i^T B_i, X_j^T B_j>_F`` for all pairs of clusters, ``(N, N)``, float64.

    Summed over blocks of rows of the ``n x n`` kernel ``(X X^T) * (B B^T)``, each
    block within ``working_memory``; the ``N x N`` result is the only array that
    does not shrink with it.
    """
    n = X.shape[0]
    gram = np.zeros((len(starts) - 1, len(starts) - 1))
    # Per row of a block: X_r X^T and B_r B^T and their float64 copies and product
    # (5 n values of at most 8 bytes), and the row's cluster sums (N).
    for rows in _batches(X, 5 * n + len(starts), itemsize=8):
        kernel = (X[rows] @ X.T).astype(np.float64) * (B[rows] @ B.T).astype(np.float64)
        np.add.at(gram, labels[rows], cluster_sums(kernel, starts, axis=1))
    return gram


def top_map_weights(X, B, starts, labels, n_components, rng):
    """Cluster weights ``U`` (``N x n_components``) of the top directions of the maps:
    direction ``j`` is ``sum_i U[i, j] X_i^T B_i``, of squared norm ``eigval[j]``
    (descending, clipped at 0). Returns ``(U, eigval)``."""
    n_clusters = len(starts) - 1
    if X.shape[0] <= _EXACT_GRAM_MAX_ROWS:
        gram = _map_gram(X, B, starts, labels)
        eigval, U = np.linalg.eigh(gram)
    else:
        q = min(n_clusters, n_components + _OVERSAMPLES)
        U = rng.standard_normal((n_clusters, q))
        for _ in range(_POWER_ITERATIONS):
            U = np.linalg.qr(
                _inner_with_maps(
                    X, B, starts, _maps_times(X, B, starts, labels, U.astype(X.dtype))
                )
            )[0]
        small = _inner_with_maps(
            X, B, starts, _maps_times(X, B, starts, labels, U.astype(X.dtype))
        )
        eigval, rot = np.linalg.eigh(U.T @ small)
        U = U @ rot
    order = np.argsort(eigval)[::-1][:n_components]
    return U[:, order], np.maximum(eigval[order], 0.0)


def n_usable_directions(eigval):
    """How many leading directions have a singular value that is not negligible."""
    if not eigval.size:
        return 0
    return int(np.sum(eigval > 1e-10 * max(eigval[0], np.finfo(np.float64).tiny)))


def top_map_directions(X, B, starts, n_components, random_state):
    """Top right singular vectors of the stacked maps ``vec(X_i^T B_i)``.

    Returns an orthonormal basis of shape ``(n_components, d, p)``. Directions with a
    negligible singular value (for instance vanishing maps) are replaced by
    random directions orthogonal to the others, so the result always has full rank.
    """
    labels = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    rng = check_random_state(random_state)
    U, eigval = top_map_weights(X, B, starts, labels, n_components, rng)
    basis = _maps_times(X, B, starts, labels, U.astype(X.dtype))
    n_usable = n_usable_directions(eigval)
    if n_usable < n_components:
        filler = rng.standard_normal((n_components - n_usable,) + basis.shape[1:])
        basis = np.concatenate([basis[:n_usable], filler.astype(X.dtype)])
    return orthonormalize(basis)


def random_basis(n_components, n_features, n_targets, dtype, random_state):
    """An orthonormal basis drawn from the standard normal distribution."""
    rng = check_random_state(random_state)
    basis = rng.standard_normal((n_components, n_features, n_targets)).astype(dtype)
    return orthonormalize(basis)
