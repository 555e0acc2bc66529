"""Reference transcription of the seed proposal's ``train_smoothing_basis``.

This module is the *benchmark anchor*: a faithful, deliberately unimproved
transcription of the pseudo-code in ``SMOOTHING_BASIS_PROJECTION.md`` (v0.2,
section "Algorithm: Alternating Optimization").  It is **not** part of the
``sklearn_smoothbasis`` package and must **not** be fixed: the benchmarks
compare the package against exactly what the proposal would do.  Everything
known to be wrong with the proposal is kept on purpose:

- Python loops over clusters and over basis matrices (``sum(alpha[i, k] *
  G[k] for k in range(K))``, one ``compute_gradient`` call per cluster);
- the "simplified" cosine gradient ``-Q.T @ normalize(A) / n`` (the gradient
  of a linear reward, not of ``1 - cos``);
- initialisation from the gradients at per-cluster closed-form solutions,
  Gram-Schmidt over the gradients of the *first K clusters in input order*;
- ``solve_for_alpha`` by ``np.linalg.lstsq`` on an explicit
  ``(n_i * p) x K`` design built per cluster (an MSE-only alpha step, even when
  the loss has a cosine term);
- a fixed learning rate ``lr`` on the raw summed basis gradient;
- re-orthogonalisation (Gram-Schmidt) at every iteration with
  ``iteration % 10 == 0`` without re-solving alpha afterwards;
- the "max tangent gradient" and loss diagnostics every ``log_interval``
  iterations (each tangent entry recomputes a full cluster gradient, i.e.
  K gradient evaluations per cluster, exactly as the generator in the
  proposal does).

Helpers the proposal uses but does not define, filled in minimally
------------------------------------------------------------------
``compute_initial_W(Q, A)``
    ``pinv(Q) @ A`` -- the proposal's "current approach (pseudoinverse)".
``reorthogonalize(G)``
    the proposal's own ``extract_orthogonal_basis(G, K)`` applied to all K
    current elements (classical-order Gram-Schmidt, unit Frobenius norm).
``compute_loss(alpha_i, G, cluster)``
    the proposal's ``L_i = (1 - lam) * MSE_i + lam * (1 - mean cos_i)`` with
    ``MSE_i`` the mean over rows of the squared row error ``||q W - a||^2``
    (the normalisation matching ``compute_gradient``'s ``2 Q^T (QW - A) / n``)
    and ``lam = cosine_weight``.
``log_interval``
    undefined in the proposal (a free variable).  It is a keyword parameter
    here.  ``log_interval=None`` (the default, used by the benchmarks) skips
    the diagnostic block entirely: nothing extra is computed and nothing is
    printed.  An integer ``m`` runs the proposal's block (tangent gradient +
    total loss + ``print``) whenever ``iteration % m == 0``, at its full cost.

Every deviation from the pseudo-code, listed
--------------------------------------------
1. Signature: ``train_smoothing_basis(clusters, K, num_iterations, lr, *,
   cosine_weight=0.5, log_interval=None, callback=None)``.  The proposal's
   ``compute_gradient`` has ``cosine_weight=0.5`` as its default and every call
   in the pseudo-code uses that default; here the value is a parameter and it
   is passed to *every* ``compute_gradient`` call and to ``compute_loss``
   (evident intent: one lambda for the whole objective).  **Benchmarks should
   use ``cosine_weight=0.5``** -- the value the pseudo-code actually runs with,
   together with its own simplified gradient.
2. Initial gradients: the proposal calls ``compute_gradient(W_init[i],
   clusters[i])`` (passing the ``(Q_i, A_i)`` tuple as ``Q``) at
   initialisation but ``compute_gradient(W_i, Q_i, A_i)`` in the loop.  The
   evident intent, transcribed here, is ``compute_gradient(W_init[i],
   *clusters[i])``.
3. Degenerate initialisation.  ``pinv(Q_i) @ A_i`` is the exact MSE minimiser
   of cluster i, so its MSE gradient vanishes (to rounding) for every cluster,
   whatever n_i.  With ``cosine_weight=0`` all K gradients therefore have norm
   ~1e-14 < 1e-8, Gram-Schmidt returns fewer than K (typically zero) elements
   and the pseudo-code later crashes with an ``IndexError`` on ``G[k]`` (or
   ``np.column_stack`` of an empty list).  The same happens if the first K
   gradients are linearly dependent.  As the single, explicit fallback, this
   transcription raises :class:`SeedDegenerateInit` when fewer than K
   directions survive, so a benchmark can report "seed fails" instead of
   crashing.  The same check is applied after each ``reorthogonalize`` (where
   the proposal would also go on to index a short list).
4. ``callback(iteration, alpha, G)``: optional hook called at the very end of
   every iteration (after the basis step, re-orthogonalisation and logging)
   with the live ``alpha`` array and ``G`` list -- exactly what the function
   would return if ``num_iterations`` were ``iteration + 1``.  It is not in
   the proposal; it exists so a benchmark can record held-out error over
   iterations.  Its time is the caller's to exclude (e.g. accumulate
   ``perf_counter`` around the callback's own body and subtract it); the
   callback must not mutate its arguments.  Note the proposal's quirk it
   exposes: at iterations with ``iteration % 10 == 0`` the basis has just been
   re-orthogonalised but alpha has not been re-solved, so ``(alpha, G)`` does
   not represent the fitted maps until the next iteration's alpha step.
5. Return value: ``(alpha, G)`` as in the proposal -- ``alpha`` is N x K,
   ``G`` a list of K arrays of shape d x p.  Faithfully, the returned alpha is
   the one solved at the start of the last iteration, i.e. *before* the last
   basis update (it is not re-solved after the loop).
6. Targets may have p != d columns (the proposal writes d x d; nothing in the
   pseudo-code depends on p == d).
7. ``predict_known_cluster`` and the ``__main__`` planted benchmark are
   additions; they are not in the proposal.

Planted benchmark (``__main__``)
-------------------------------
d=64, K=4, N=100 clusters of 5-10 training rows, noise 0.1, 10 fresh held-out
rows per cluster; prints the held-out relative error
``||Yhat - Y||_F^2 / ||Y||_F^2`` against the noisy fresh Y (noise floor about
0.64 / 4.64 = 0.14 here) and against the noise-free signal.  Default
``--lr 1e-2``: every fixed lr in [1e-3, 0.3] ends at the same fixed point by
iteration 300 (1e-2 reaches it by ~50), lr <= 3e-4 has not converged by 300,
lr = 0.5 is unstable on some seeds and lr >= 0.7 oscillates/diverges.  The
fixed lr is specific to this data scale (kept unscaled, as in the proposal).

Run ``python benchmarks/seed_reference.py --help`` for options.
"""

import argparse
import time

import numpy as np


class SeedDegenerateInit(RuntimeError):
    """The proposal's Gram-Schmidt produced fewer than K basis elements.

    Raised (deviation 3 of the module docstring) where the proposal's
    pseudo-code would go on with a short basis list and crash on ``G[k]``.
    Typical cause: ``cosine_weight=0`` with the pinv initialisation, whose
    per-cluster MSE gradients are all zero.
    """


# ---------------------------------------------------------------------------
# Helpers given verbatim in the proposal
# ---------------------------------------------------------------------------


def solve_for_alpha(Q_i, A_i, basis):
    """Least-squares coefficients of one cluster (verbatim from the proposal).

    Builds the ``(n_i * p) x K`` design ``P[:, k] = vec(Q_i @ G_k)`` and calls
    ``np.linalg.lstsq(P, vec(A_i))``.  MSE-only, whatever the loss.
    """
    K = len(basis)  # noqa: F841  (unused, as in the proposal)

    # Project each basis through Q_i
    # P[:, k] = vec(Q_i @ G_k)
    P = np.column_stack([(Q_i @ G_k).ravel() for G_k in basis])

    # Least squares: P @ alpha ~ vec(A_i)
    alpha, residuals, rank, s = np.linalg.lstsq(P, A_i.ravel(), rcond=None)

    return alpha


def frobenius_inner(A, B):
    """Frobenius inner product ``trace(A^T B)`` (verbatim from the proposal)."""
    return np.sum(A * B)


def extract_orthogonal_basis(gradients, K):
    """Gram-Schmidt over ``gradients[:K]`` (verbatim from the proposal).

    Only the first K inputs are used; directions whose residual norm is
    ``<= 1e-8`` are silently dropped, so the result can hold fewer than K
    elements (see :class:`SeedDegenerateInit`).
    """
    basis = []
    for g in gradients[:K]:
        # Orthogonalize against existing basis
        g_orth = g.copy()
        for b in basis:
            g_orth -= frobenius_inner(g_orth, b) * b
        # Normalize
        norm = np.sqrt(frobenius_inner(g_orth, g_orth))
        if norm > 1e-8:
            basis.append(g_orth / norm)
    return basis


def compute_gradient(W, Q, A, cosine_weight=0.5):
    """Proposal's gradient of the MSE + cosine loss (verbatim, incl. its bug).

    ``(1 - lam) * 2 Q^T (QW - A) / n  +  lam * (-Q^T normalize(A) / n)``.  The
    cosine part is the proposal's "simplified" term, which does not depend on
    W and is not the gradient of ``1 - cos``; ``pred_norm`` is computed and
    unused, as in the proposal.
    """
    pred = Q @ W

    # MSE gradient
    grad_mse = 2 * Q.T @ (pred - A) / len(Q)

    # Cosine gradient (simplified)
    pred_norm = pred / (  # noqa: F841  (unused, as in the proposal)
        np.linalg.norm(pred, axis=1, keepdims=True) + 1e-8)
    A_norm = A / (np.linalg.norm(A, axis=1, keepdims=True) + 1e-8)
    grad_cos = -Q.T @ A_norm / len(Q)  # Simplified; full version more complex

    return (1 - cosine_weight) * grad_mse + cosine_weight * grad_cos


# ---------------------------------------------------------------------------
# Helpers the proposal uses but does not define (minimal fills)
# ---------------------------------------------------------------------------


def compute_initial_W(Q, A):
    """Per-cluster initial map: ``pinv(Q) @ A``.

    Fill for an undefined helper: the proposal's "current approach
    (pseudoinverse)", ``W = pinv(Q) @ A``.
    """
    return np.linalg.pinv(Q) @ A


def reorthogonalize(G):
    """Re-orthonormalise the basis with the proposal's own Gram-Schmidt.

    Fill for an undefined helper: ``extract_orthogonal_basis(G, len(G))``,
    i.e. Gram-Schmidt over all K current elements in order.  alpha is not
    re-solved afterwards (the proposal does not).
    """
    return extract_orthogonal_basis(G, len(G))


def compute_loss(alpha_i, G, cluster, cosine_weight=0.5):
    """Proposal's per-cluster loss ``L_i``.

    Fill for an undefined helper, from the proposal's objective::

        L_i = (1 - lam) * mean_r ||q_r W_i - a_r||^2 + lam * (1 - mean_r cos_r)

    with ``W_i = sum_k alpha_i[k] G[k]`` and ``lam = cosine_weight``.  The
    cosine uses the same ``+ 1e-8`` guard on the norms as ``compute_gradient``.
    """
    Q, A = cluster
    K = len(G)
    W = sum(alpha_i[k] * G[k] for k in range(K))
    pred = Q @ W
    mse = np.mean(np.sum((pred - A) ** 2, axis=1))
    pred_norm = pred / (np.linalg.norm(pred, axis=1, keepdims=True) + 1e-8)
    A_norm = A / (np.linalg.norm(A, axis=1, keepdims=True) + 1e-8)
    cos = np.mean(np.sum(pred_norm * A_norm, axis=1))
    return (1 - cosine_weight) * mse + cosine_weight * (1 - cos)


def _check_basis(G, K, where):
    """Deviation 3: raise instead of continuing with a short basis."""
    if len(G) < K:
        raise SeedDegenerateInit(
            f"seed {where}: Gram-Schmidt kept {len(G)} of K={K} basis elements "
            "(the rest had residual Frobenius norm <= 1e-8). With the proposal's "
            "pinv initialisation this happens whenever cosine_weight=0, because "
            "every per-cluster MSE gradient is zero at pinv(Q_i) @ A_i."
        )


# ---------------------------------------------------------------------------
# The algorithm
# ---------------------------------------------------------------------------


def train_smoothing_basis(
    clusters, K, num_iterations, lr, *, cosine_weight=0.5, log_interval=None,
    callback=None,
):
    """Transcription of the proposal's ``train_smoothing_basis``.

    Parameters
    ----------
    clusters : list of (Q_i, A_i)
        Per-cluster question (n_i x d) and answer (n_i x p) arrays.
    K : int
        Number of basis directions.
    num_iterations : int
        Number of alternating iterations.
    lr : float
        Fixed learning rate of the basis gradient step (no scaling).
    cosine_weight : float, default=0.5
        ``lam`` of the proposal's loss, passed to every gradient/loss call.
        0.5 is what the pseudo-code runs with.  0 makes the initialisation
        degenerate (raises :class:`SeedDegenerateInit`).
    log_interval : int or None, default=None
        None: no diagnostics computed, nothing printed.  An int: run the
        proposal's tangent-gradient + loss block and print it every
        ``log_interval`` iterations.
    callback : callable or None, default=None
        ``callback(iteration, alpha, G)`` at the end of each iteration; its
        time is the caller's to exclude.  Must not mutate its arguments.

    Returns
    -------
    alpha : ndarray of shape (N, K)
    G : list of K ndarrays of shape (d, p)
    """
    d = clusters[0][0].shape[1]  # noqa: F841  (embedding dimension, unused)
    N = len(clusters)

    # Initialize: compute per-cluster solutions, extract basis from gradients
    W_init = [compute_initial_W(Q, A) for Q, A in clusters]
    all_grads = [
        compute_gradient(W_init[i], *clusters[i], cosine_weight=cosine_weight)
        for i in range(N)
    ]
    G = extract_orthogonal_basis(all_grads, K)
    _check_basis(G, K, "initialisation")

    # Initialize coefficients via least squares
    alpha = np.zeros((N, K))
    for i in range(N):
        alpha[i] = solve_for_alpha(clusters[i][0], clusters[i][1], G)

    # Alternating optimization
    for iteration in range(num_iterations):

        # Step 1: Fix basis, solve for coefficients (closed form)
        for i, (Q_i, A_i) in enumerate(clusters):
            alpha[i] = solve_for_alpha(Q_i, A_i, G)

        # Step 2: Fix coefficients, update basis via gradient
        total_grad = [np.zeros_like(G[k]) for k in range(K)]
        for i, (Q_i, A_i) in enumerate(clusters):
            W_i = sum(alpha[i, k] * G[k] for k in range(K))
            grad_W = compute_gradient(W_i, Q_i, A_i, cosine_weight=cosine_weight)

            # Accumulate gradient for each basis element
            for k in range(K):
                total_grad[k] += alpha[i, k] * grad_W

        # Update basis
        for k in range(K):
            G[k] -= lr * total_grad[k]

        # Re-orthogonalize basis periodically
        if iteration % 10 == 0:
            G = reorthogonalize(G)
            _check_basis(G, K, f"re-orthogonalisation at iteration {iteration}")

        # Check convergence: gradient projected onto tangent plane ~ 0
        if log_interval is not None and iteration % log_interval == 0:
            max_tangent_grad = max(
                abs(frobenius_inner(compute_gradient(
                    sum(alpha[i, k] * G[k] for k in range(K)),
                    clusters[i][0], clusters[i][1], cosine_weight=cosine_weight,
                ), G[k]))
                for i in range(N) for k in range(K)
            )
            total_loss = sum(
                compute_loss(alpha[i], G, clusters[i], cosine_weight=cosine_weight)
                for i in range(N)
            )
            print(f"Iter {iteration}: loss={total_loss:.6f}, "
                  f"max_tangent_grad={max_tangent_grad:.6f}")

        if callback is not None:
            callback(iteration, alpha, G)

    return alpha, G


def predict_known_cluster(alpha, G, X, groups):
    """Predict ``x_r W_{g(r)}`` for rows whose cluster is known.

    Not in the proposal.  ``groups`` holds integer cluster indices into the
    rows of ``alpha`` (the order of ``clusters`` given to
    :func:`train_smoothing_basis`).  Computes ``Z = X @ G_k`` for all k and
    combines with ``alpha[groups]``; never forms the W_i.
    """
    X = np.asarray(X, dtype=float)
    groups = np.asarray(groups)
    Z = X @ np.asarray(G)  # (K, n, p): Z[k] = X @ G_k
    return np.einsum("nk,knp->np", alpha[groups], Z)


# ---------------------------------------------------------------------------
# Planted benchmark
# ---------------------------------------------------------------------------


def make_planted(d=64, K=4, N=100, n_min=5, n_max=10, n_test=10, noise=0.1,
                 seed=0):
    """Planted problem: ``Y = X W_true[g] + noise * N(0, 1)``.

    True basis: K standard-normal d x d matrices, each scaled to unit
    Frobenius norm; coefficients standard normal (N x K); X standard normal;
    n_i uniform on {n_min..n_max} training rows and ``n_test`` fresh held-out
    rows per cluster, with independent noise.
    """
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((K, d, d))
    B /= np.linalg.norm(B, axis=(1, 2), keepdims=True)
    coef = rng.standard_normal((N, K))
    W_true = np.einsum("nk,kde->nde", coef, B)

    def draw(sizes):
        g = np.repeat(np.arange(N), sizes)
        X = rng.standard_normal((len(g), d))
        S = np.einsum("nd,nde->ne", X, W_true[g])
        return X, S + noise * rng.standard_normal(S.shape), S, g

    X, Y, _, g = draw(rng.integers(n_min, n_max + 1, size=N))
    Xt, Yt, St, gt = draw(np.full(N, n_test))
    clusters = [(X[g == i], Y[g == i]) for i in range(N)]
    return clusters, (Xt, Yt, St, gt)


def _rel_err(Yhat, Y):
    return float(np.sum((Yhat - Y) ** 2) / np.sum(Y ** 2))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--K", type=int, default=4)
    p.add_argument("--N", type=int, default=100)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--cosine-weight", type=float, default=0.5)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-interval", type=int, default=None)
    a = p.parse_args(argv)

    clusters, (Xt, Yt, St, gt) = make_planted(
        d=a.d, K=a.K, N=a.N, noise=a.noise, seed=a.seed)
    t0 = time.perf_counter()
    try:
        alpha, G = train_smoothing_basis(
            clusters, a.K, a.iterations, a.lr, cosine_weight=a.cosine_weight,
            log_interval=a.log_interval)
    except SeedDegenerateInit as exc:
        print(f"seed failed: {exc}")
        return 1
    secs = time.perf_counter() - t0
    Yhat = predict_known_cluster(alpha, G, Xt, gt)
    print(f"d={a.d} K={a.K} N={a.N} lr={a.lr} cosine_weight={a.cosine_weight} "
          f"iterations={a.iterations}")
    print(f"held-out relative error (noisy Y):     {_rel_err(Yhat, Yt):.4f}")
    print(f"held-out relative error (noise-free):  {_rel_err(Yhat, St):.4f}")
    print(f"seconds: {secs:.2f}  ({1e3 * secs / max(a.iterations, 1):.1f} ms/iter)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
