"""Cost of one solver iteration against the floor of two unavoidable matrix products.

Every evaluation of the smoothing-basis objective must compute the design
``X @ [G_1 ... G_K]`` (n x d times d x K p) and the basis gradient
``X.T @ [a_1 * D ... a_K * D]`` (d x n times n x K p); everything else (coefficient
solves, loss, L-BFGS direction, line search) is overhead on top of those two products.
This script times them (random operands of the same shapes and dtype, best of the
repeats) and one iteration of ``SmoothingBasisRegressor(n_basis=K,
cosine_weight=lam, tol=0, max_iter=m, random_state=0)`` (other parameters at their
defaults), measured as

    per iteration = (t(fit, max_iter=m2) - t(fit, max_iter=m1)) / (m2 - m1)

so that validation, initialisation and the final evaluation cancel. m1, m2 = 5, 25 for
N=100 clusters and 2, 6 for N=1000 (one float64 evaluation there costs ~2 s; with
``--quick``: N=100 only, K=8 only, m1, m2 = 2, 6, one repeat). The number of
``BasisObjective.__call__`` calls (evaluations; each line-search trial is one) is
counted with a wrapper, so the table also gives evaluations per iteration and the
cost of one evaluation against the floor. Ratio goal: iteration / floor <= 1.5.

Data: d = p = 384, N clusters of 5-10 rows, planted basis of K orthogonal maps
(``_bench_utils.planted_rows``, built directly in the benchmark dtype). The fits, the
floor and the repeats are interleaved (best of 3; 2 at N=1000). Times are CPU seconds
of the process with one BLAS thread (``_bench_utils.cpu_timed``): the wall time of an
idle machine, and nearly unmoved by the load of a shared one.

    python benchmarks/per_iteration.py [--quick] [--output FILE]
"""

import functools
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis import SmoothingBasisRegressor, _solvers

from _bench_utils import (
    command_line,
    cpu_timed,
    load_average,
    markdown_table,
    parser,
    planted_rows,
    report,
    text_table,
)

D = 384
COSINE_WEIGHTS = [0.0, 0.5]

_calls = [0]
_original_call = _solvers.BasisObjective.__call__


@functools.wraps(_original_call)
def _counting_call(self, *args, **kwargs):
    _calls[0] += 1
    return _original_call(self, *args, **kwargs)


_solvers.BasisObjective.__call__ = _counting_call


def floor_time(X, K, repeats):
    """Best time of ``X @ B`` plus best time of ``X.T @ W`` (B: d x K p, W: n x K p)."""
    rng = np.random.default_rng(1)
    n, d = X.shape
    B = rng.standard_normal((d, K * D)).astype(X.dtype)
    W = rng.standard_normal((n, K * D)).astype(X.dtype)
    t_design = min(cpu_timed(np.matmul, X, B)[0] for _ in range(repeats))
    t_grad = min(cpu_timed(np.matmul, X.T, W)[0] for _ in range(repeats))
    return t_design, t_grad


def fit_time(X, Y, g, K, lam, m):
    est = SmoothingBasisRegressor(n_basis=K, cosine_weight=lam, tol=0, max_iter=m,
                                  random_state=0)
    before = _calls[0]
    seconds, _ = cpu_timed(est.fit, X, Y, groups=g)
    return seconds, _calls[0] - before, est.n_iter_


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    load_start = load_average()
    configs = []
    for dtype in (np.float64, np.float32):
        for N in ([100] if args.quick else [100, 1000]):
            for K in ([8] if args.quick else [8, 16]):
                configs.append((dtype, N, K))
    rows = []
    for dtype, N, K in configs:
        X, Y, g, _, _ = planted_rows(N, (5, 10), D, K, dtype=dtype, random_state=0)
        if args.quick:
            m1, m2, repeats = 2, 6, 1
        elif N >= 1000:
            m1, m2, repeats = 2, 6, 2
        else:
            m1, m2, repeats = 5, 25, 3
        fit_time(X, Y, g, K, 0.0, 1)  # warm-up
        for lam in COSINE_WEIGHTS:
            t1s, t2s, fl_d, fl_g = [], [], [], []
            for _ in range(repeats):
                td, tg = floor_time(X, K, 3)
                fl_d.append(td)
                fl_g.append(tg)
                t1, c1, n1 = fit_time(X, Y, g, K, lam, m1)
                t2, c2, n2 = fit_time(X, Y, g, K, lam, m2)
                t1s.append(t1)
                t2s.append(t2)
            floor = min(fl_d) + min(fl_g)
            ok = n1 == m1 and n2 == m2
            per_iter = (min(t2s) - min(t1s)) / (m2 - m1)
            evals = (c2 - c1) / (m2 - m1)
            row = [
                np.dtype(dtype).name,
                N,
                X.shape[0],
                K,
                lam,
                f"{min(fl_d) * 1e3:.1f}",
                f"{min(fl_g) * 1e3:.1f}",
                f"{per_iter * 1e3:.1f}",
                f"{evals:.2f}",
                f"{per_iter / floor:.2f}",
                f"{per_iter / evals / floor:.2f}",
                f"{m1}->{m2}" + ("" if ok else f" (stopped at {n1}/{n2})"),
            ]
            rows.append(row)
            print(text_table(HEADERS, [row]).splitlines()[-1], flush=True)
    print("\n" + text_table(HEADERS, rows))
    notes = (
        "Floor = best time of `X @ B` (n x d times d x Kp) plus best time of `X.T @ W` "
        "(d x n times n x Kp), same dtype, same run. Iteration = (t(max_iter=m2) - "
        "t(max_iter=m1)) / (m2 - m1) of `SmoothingBasisRegressor(n_basis=K, "
        "cosine_weight=lam, tol=0, random_state=0)`, best of the interleaved repeats, "
        "CPU seconds of one BLAS thread; "
        "evaluations = calls of `BasisObjective.__call__` per iteration (line-search "
        "trials included). Goal: iteration / floor <= 1.5."
    )
    report(
        args.output,
        "per-iteration",
        "One solver iteration against the matmul floor",
        markdown_table(HEADERS, rows),
        quick=args.quick,
        command=command_line(),
        load_start=load_start,
        notes=notes,
    )


HEADERS = ["dtype", "N", "n rows", "K", "cosine_weight", "X @ B (ms)", "X.T @ W (ms)",
           "iteration (ms)", "evaluations / iteration", "iteration / floor",
           "evaluation / floor", "m1->m2"]


if __name__ == "__main__":
    main()
