"""n_jobs=2 against n_jobs=1 on the headline fit (d = 384, K = 8, N = 1000 clusters).

``SmoothingBasisRegressor(n_basis=8, max_iter=M, random_state=0, n_jobs=j)`` (other
parameters at their defaults) on float64 planted data: 1000 clusters of 5-10 rows,
d = p = 384 (``_bench_utils.planted_rows``). The estimator splits the clusters into
at least ``n_jobs`` chunks whose working arrays fit in scikit-learn's
``working_memory`` and runs the chunks on ``n_jobs`` threads (BLAS limited to one
thread per job meanwhile). At the default working_memory (1024 MiB) this problem is
one chunk with n_jobs=1 and two with n_jobs=2; rows with
``sklearn.config_context(working_memory=...)`` set small enough to make about 8
chunks show what more, smaller chunks cost (the number actually made is reported).

Rows, timed interleaved (best of the repeats):
- n_jobs=1, default working_memory (1 chunk), BLAS 1 thread and BLAS 2 threads
  (``threadpoolctl.threadpool_limits``);
- n_jobs=1, ~8 chunks, BLAS 1 thread and 2 threads;
- n_jobs=2, default working_memory (2 chunks) and ~8 chunks, BLAS 2 threads: what a
  user gets on 2 cores. The estimator limits BLAS to 1 thread per job while the
  chunks run in parallel; the initialisation runs before that, on the 2 BLAS
  threads.
The fitted coefficients of every run are compared with the first (they agree up to
the rounding of sums over chunks). ``--quick``: N = 300 clusters, max_iter 2, one
repeat.

    python benchmarks/parallel.py [--max-iter M] [--quick] [--output FILE]
"""

import math
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_smoothbasis import SmoothingBasisRegressor
from sklearn_smoothbasis._linalg import cluster_starts

from _bench_utils import (
    command_line,
    load_average,
    markdown_table,
    parser,
    planted_rows,
    report,
    text_table,
    timed,
)

N, QUICK_N, D, K = 1000, 300, 384, 8
TARGET_CHUNKS = 8


def working_memory_for(n_rows, itemsize, chunks):
    """MiB of working memory that makes about ``chunks`` chunks (the estimator's sizing:
    ``itemsize * (4 K p + K^2 + 4 p)`` bytes per row)."""
    row_bytes = itemsize * (4 * K * D + K**2 + 4 * D)
    return math.ceil(n_rows / chunks) * row_bytes / 2**20


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--max-iter", type=int, default=None,
                   help="default 10 (2 with --quick)")
    args = p.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    load_start = load_average()
    max_iter = args.max_iter or (2 if args.quick else 10)
    repeats = 1 if args.quick else 2
    n_clusters = QUICK_N if args.quick else N
    X, Y, g, _, _ = planted_rows(n_clusters, (5, 10), D, K, dtype=np.float64,
                                 random_state=0)
    small_wm = working_memory_for(X.shape[0], X.itemsize, TARGET_CHUNKS)

    def n_chunks(n_jobs, wm):
        starts = cluster_starts(np.bincount(g))
        with sklearn.config_context(working_memory=wm):
            model = SmoothingBasisRegressor(n_jobs=n_jobs)
            return len(model._chunk_starts(starts, K, D, X.itemsize)) - 1

    default_wm = sklearn.get_config()["working_memory"]
    parallel_label = "n_jobs=2, BLAS 2 threads (1 per job in the parallel section)"
    configs = [  # label, n_jobs, working memory, BLAS threads
        ("n_jobs=1, BLAS 1 thread", 1, default_wm, 1),
        ("n_jobs=1, BLAS 2 threads", 1, default_wm, 2),
        ("n_jobs=1, BLAS 1 thread", 1, small_wm, 1),
        ("n_jobs=1, BLAS 2 threads", 1, small_wm, 2),
        (parallel_label, 2, default_wm, 2),
        (parallel_label, 2, small_wm, 2),
    ]

    def fit(n_jobs, wm, blas):
        est = SmoothingBasisRegressor(n_basis=K, max_iter=max_iter, random_state=0,
                                      n_jobs=n_jobs)
        with (sklearn.config_context(working_memory=wm),
              threadpool_limits(limits=blas, user_api="blas")):
            return timed(est.fit, X, Y, groups=g)

    fit(1, default_wm, 1)  # warm-up
    times = {i: [] for i in range(len(configs))}
    results = {}
    for rep in range(repeats):
        for i, (label, n_jobs, wm, blas) in enumerate(configs):
            seconds, est = fit(n_jobs, wm, blas)
            times[i].append(seconds)
            results[i] = est
            print(
                f"repeat {rep + 1}: {label}, working_memory {wm:.0f} MiB: "
                f"{seconds:.2f} s, "
                f"{est.n_iter_} iterations",
                flush=True,
            )
    ref = results[0].coefficients_
    base = min(times[4])
    headers = [
        "configuration",
        "working_memory (MiB)",
        "chunks",
        "iterations",
        "fit time (s)",
        "time / time(n_jobs=2)",
        "max abs difference of coefficients from the first row",
    ]
    rows = []
    for i, (label, n_jobs, wm, blas) in enumerate(configs):
        est = results[i]
        diff = float(np.max(np.abs(est.coefficients_ - ref)))
        rows.append([label, f"{wm:.0f}", n_chunks(n_jobs, wm), est.n_iter_,
                     f"{min(times[i]):.2f}",
                     f"{min(times[i]) / base:.2f}", f"{diff:.1e}"])
    print("\n" + text_table(headers, rows))
    notes = (
        f"`SmoothingBasisRegressor(n_basis={K}, max_iter={max_iter}, random_state=0, "
        f"n_jobs=...)` on {X.shape[0]} float64 rows ({n_clusters} clusters of 5-10, "
        f"d = p = {D}); "
        f"best of {repeats} interleaved repeats. The estimator parallelises over "
        "chunks of clusters, at least n_jobs of them: at the default working_memory "
        "this fit is one chunk with n_jobs=1 and two with n_jobs=2; "
        f"`sklearn.config_context(working_memory={small_wm:.0f})` (MiB) makes about "
        f"{TARGET_CHUNKS} chunks. A ratio above 1 in the last-but-one column means "
        "n_jobs=2 at the default working_memory is faster than that row."
    )
    report(args.output, "parallel", "n_jobs=2 against n_jobs=1 (headline fit)",
           markdown_table(headers, rows), quick=args.quick, command=command_line(),
           load_start=load_start, notes=notes)


if __name__ == "__main__":
    main()
