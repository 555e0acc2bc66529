"""Fit time and peak memory at scale: 10,000 clusters, 100,000 rows, d = 384, K = 16.

``SmoothingBasisRegressor(n_basis=16, max_iter=M, random_state=0)`` (other parameters
at their defaults: identity prior, shrinkage 0.1, cosine_weight 0.5, tol 1e-5) on
float32 planted data: N clusters of 10 rows, d = p = 384, a planted basis of 16
orthogonal maps. The data are built directly with numpy in float32, chunk by chunk
(``_bench_utils.planted_rows``): ``make_multicluster_regression`` would hold the N
d x p maps in float64, 11 GB at N = 10,000.

Each configuration runs in its own subprocess, which loads the data from ``.npy``
files and then fits, so the peak resident memory it reports (``ru_maxrss``) is that of
one fit plus the data it needs, not of the data generation. Goal: under 10 minutes and
under 4 GB at N = 10,000.

Configurations: N = 1,000 (10,000 rows) and N = 10,000 (100,000 rows); ``--quick``
runs the first only.

    python benchmarks/scale.py [--max-iter M] [--quick] [--output FILE]
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from _bench_utils import (
    blas_threads,
    command_line,
    load_average,
    markdown_table,
    parser,
    planted_rows,
    report,
    text_table,
)

D, K, ROWS = 384, 16, 10
GOAL_SECONDS, GOAL_BYTES = 600, 4 * 2**30


def _rss_bytes():
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    factor = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * factor


def child(data_dir, max_iter):
    """Load the data, fit once, print one JSON line."""
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_smoothbasis import SmoothingBasisRegressor

    warnings.simplefilter("ignore", ConvergenceWarning)
    data_dir = Path(data_dir)
    X = np.load(data_dir / "X.npy")
    Y = np.load(data_dir / "Y.npy")
    g = np.load(data_dir / "g.npy")
    before = _rss_bytes()
    est = SmoothingBasisRegressor(n_basis=K, max_iter=max_iter, random_state=0)
    t0 = time.perf_counter()
    est.fit(X, Y, groups=g)
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_before": before,
                "rss_peak": _rss_bytes(),
                "n_iter": est.n_iter_,
                "objective": est.objective_,
                "data_bytes": X.nbytes + Y.nbytes + g.nbytes,
                "blas": blas_threads(),
            }
        )
    )


def run_config(n_clusters, max_iter, timeout):
    with tempfile.TemporaryDirectory() as tmp:
        X, Y, g, _, _ = planted_rows(n_clusters, ROWS, D, K, dtype=np.float32,
                                     random_state=0)
        for name, a in (("X", X), ("Y", Y), ("g", g)):
            np.save(Path(tmp) / f"{name}.npy", a)
        del X, Y, g
        proc = subprocess.run(
            [sys.executable, __file__, "--child", tmp, "--max-iter", str(max_iter)],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--child", metavar="DATA_DIR", help=argparse_hidden())
    args = p.parse_args()
    if args.child:
        child(args.child, args.max_iter)
        return
    load_start = load_average()
    sizes = [1000] if args.quick else [1000, 10_000]
    headers = ["N clusters", "rows", "d = p", "K", "max_iter", "iterations run",
               "fit time (s)", "peak RSS (MiB)", "RSS before fit (MiB)", "data (MiB)",
               "within goal (10 min, 4 GB)"]
    rows = []
    blas = ""
    for n_clusters in sizes:
        r = run_config(n_clusters, args.max_iter, timeout=3 * GOAL_SECONDS)
        blas = r["blas"]
        ok = r["seconds"] < GOAL_SECONDS and r["rss_peak"] < GOAL_BYTES
        rows.append([f"{n_clusters:,}", f"{n_clusters * ROWS:,}", D, K, args.max_iter,
                     r["n_iter"], f"{r['seconds']:.1f}", f"{r['rss_peak'] / 2**20:.0f}",
                     f"{r['rss_before'] / 2**20:.0f}", f"{r['data_bytes'] / 2**20:.0f}",
                     "yes" if ok else "no"])
        print(text_table(headers, rows[-1:]).splitlines()[-1], flush=True)
    print("\n" + text_table(headers, rows))
    notes = (
        f"`SmoothingBasisRegressor(n_basis={K}, max_iter={args.max_iter}, "
        "random_state=0)`, "
        "float32, one subprocess per row: peak RSS is `ru_maxrss` of a process that "
        "loaded "
        "the data (interpreter + data = 'RSS before fit') and fitted once. BLAS in the "
        f"fitting process: {blas}."
    )
    report(args.output, "scale", "Fit time and peak memory at scale",
           markdown_table(headers, rows), quick=args.quick, command=command_line(),
           load_start=load_start, notes=notes)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
