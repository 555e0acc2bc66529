"""Fit time and peak memory at scale, and how a default fit grows with the clusters.

Part 1 (goal: under 60 s and under 4 GB at N = 10,000):
``SmoothingBasisRegressor(n_basis=16, max_iter=M, random_state=0)`` (other parameters
at their defaults) on float32 planted data: N clusters of 10 rows, d = p = 384, a
planted basis of 16 orthogonal maps. The data are built directly with numpy in
float32, chunk by chunk (``_bench_utils.planted_rows``):
``make_multicluster_regression`` would hold the N d x p maps in float64, 11 GB at
N = 10,000. Each configuration runs
in its own subprocess, which loads the data from ``.npy`` files and then fits, so the
peak resident memory it reports (``ru_maxrss``) is that of one fit plus the data it
needs, not of the data generation. The table also gives the floor of the fit: the
two products every evaluation of the objective must compute (``X @ B`` and
``X.T @ W``, timed in the same subprocess) times the number of evaluations.
Configurations: N = 1,000 (10,000 rows) and N = 10,000 (100,000 rows); ``--quick``
runs the first only.

Part 2 (goal: time at most linear in N from 1,000 to 16,000): ``SmoothingBasisRegressor
(random_state=0)`` at its defaults (``n_basis="auto"``) on FAQ-like float32 data
(``_bench_utils.faq_rows``: one answer per cluster, 3 questions per cluster,
d = p = 128), for N = 1,000 ... 16,000 with ``prior="contrastive"`` and, up to
``--auto-up-to`` clusters, with the default ``prior="auto"``; the fit's time split
into prior, initial basis and solver (of which the coefficient steps), CPU seconds of
one BLAS thread. The 2,000-cluster row is goal 2 of issue 18 (a default fit under
5 s). ``--quick``: N = 1,000 and 2,000 only.

    python benchmarks/scale.py [--max-iter M] [--n-jobs J] [--quick] [--output FILE]
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
    faq_rows,
    load_average,
    markdown_table,
    parser,
    planted_rows,
    report,
    text_table,
)

D, K, ROWS = 384, 16, 10
GOAL_SECONDS, GOAL_BYTES = 60, 4 * 2**30
FLOOR_CHUNK = 10_000
CURVE = [1000, 2000, 4000, 8000, 16_000]
CURVE_ROWS, CURVE_D = 3, 128


def _rss_bytes():
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    factor = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * factor


def child(data_dir, max_iter, n_jobs):
    """Load the data, fit once, time the floor, print one JSON line."""
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_smoothbasis import SmoothingBasisRegressor, _solvers

    calls = [0]
    original = _solvers.BasisObjective.__call__

    def counting(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)

    _solvers.BasisObjective.__call__ = counting
    warnings.simplefilter("ignore", ConvergenceWarning)
    data_dir = Path(data_dir)
    X = np.load(data_dir / "X.npy")
    Y = np.load(data_dir / "Y.npy")
    g = np.load(data_dir / "g.npy")
    before = _rss_bytes()
    est = SmoothingBasisRegressor(n_basis=K, max_iter=max_iter, random_state=0,
                                  n_jobs=n_jobs)
    t0, c0 = time.perf_counter(), time.process_time()
    est.fit(X, Y, groups=g)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _rss_bytes()
    rng = np.random.default_rng(1)
    B = rng.standard_normal((D, K * D), dtype=np.float32)
    # The two products over chunks of FLOOR_CHUNK rows into buffers allocated once
    # (as the fit's chunks reuse theirs), best of two passes: a product into a
    # fresh 2.4 GB array would time its page faults too.
    W = np.empty((FLOOR_CHUNK, K * D), dtype=np.float32)
    G = np.empty((D, K * D), dtype=np.float32)
    best = None
    for _ in range(2):
        times = np.zeros(4)
        for r0 in range(0, len(X), FLOOR_CHUNK):
            Xc = X[r0:r0 + FLOOR_CHUNK]
            Wc = W[:len(Xc)]
            t0, w0 = time.process_time(), time.perf_counter()
            np.matmul(Xc, B, out=Wc)
            t1, w1 = time.process_time(), time.perf_counter()
            np.matmul(Xc.T, Wc, out=G)
            times += [t1 - t0, w1 - w0, time.process_time() - t1,
                      time.perf_counter() - w1]
        best = times if best is None else np.minimum(best, times)
    t_design, w_design, t_grad, w_grad = best
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": cpu,
                "rss_before": before,
                "rss_peak": peak,
                "n_iter": est.n_iter_,
                "evaluations": calls[0],
                "floor": t_design + t_grad,
                "floor_wall": w_design + w_grad,
                "objective": est.objective_,
                "data_bytes": X.nbytes + Y.nbytes + g.nbytes,
                "blas": blas_threads(),
            }
        )
    )


def run_config(n_clusters, max_iter, timeout, n_jobs=None):
    with tempfile.TemporaryDirectory() as tmp:
        X, Y, g, _, _ = planted_rows(n_clusters, ROWS, D, K, dtype=np.float32,
                                     random_state=0)
        for name, a in (("X", X), ("Y", Y), ("g", g)):
            np.save(Path(tmp) / f"{name}.npy", a)
        del X, Y, g
        proc = subprocess.run(
            [sys.executable, __file__, "--child", tmp, "--max-iter", str(max_iter)]
            + ([] if n_jobs is None else ["--n-jobs", str(n_jobs)]),
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def curve(sizes, auto_up_to):
    """Part 2: default fits of FAQ-like data, their time split into phases."""
    import collections

    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    from sklearn_smoothbasis import SmoothingBasisRegressor, _solvers
    from sklearn_smoothbasis import _smoothing_basis as module

    warnings.simplefilter("ignore", ConvergenceWarning)
    threadpool_limits(limits=1, user_api="blas")
    spent = collections.defaultdict(float)

    def timed_phase(owner, name, key):
        function = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t0 = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.process_time() - t0

        setattr(owner, name, wrapper)

    timed_phase(module.SmoothingBasisRegressor, "_fit_prior", "prior")
    timed_phase(module.SmoothingBasisRegressor, "_initial_basis", "init")
    timed_phase(module.SmoothingBasisRegressor, "_solve", "solver")
    timed_phase(_solvers._ChunkCoefficientProblem, "solve", "coefficient steps")
    rows, per_cluster = [], {}
    for prior in ("contrastive", "auto"):
        for n_clusters in sizes:
            if prior == "auto" and n_clusters > auto_up_to:
                continue
            X, Y, g = faq_rows(n_clusters, CURVE_ROWS, CURVE_D, random_state=0)
            spent.clear()
            est = SmoothingBasisRegressor(prior=prior, random_state=0)
            t0 = time.process_time()
            est.fit(X, Y, groups=g)
            total = time.process_time() - t0
            per_cluster.setdefault(prior, total / n_clusters)
            growth = total / n_clusters / per_cluster[prior]
            rows.append([
                f"{n_clusters:,}", f"{len(X):,}", prior, est.n_basis_, est.n_iter_,
                f"{total:.1f}", f"{spent['prior']:.1f}", f"{spent['init']:.1f}",
                f"{spent['solver']:.1f}", f"{spent['coefficient steps']:.1f}",
                f"{growth:.2f}",
            ])
            print(text_table(CURVE_HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    return rows


CURVE_HEADERS = ["N clusters", "rows", "prior", "K", "iterations", "fit (s)",
                 "prior (s)", "initial basis (s)", "solver (s)",
                 "of which coefficient steps (s)",
                 "time per cluster / that at N=1,000"]


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--auto-up-to", type=int, default=4000,
                   help="largest N fitted with the default prior='auto'")
    p.add_argument("--skip-large", action="store_true",
                   help="part 1 at N = 1,000 only (part 2 in full)")
    p.add_argument("--n-jobs", type=int, default=None,
                   help="part 1 also with this n_jobs (threads, one BLAS thread each)")
    p.add_argument("--child", metavar="DATA_DIR", help=argparse_hidden())
    args = p.parse_args()
    if args.child:
        child(args.child, args.max_iter, args.n_jobs)
        return
    load_start = load_average()
    sizes = [1000] if (args.quick or args.skip_large) else [1000, 10_000]
    headers = ["N clusters", "rows", "d = p", "K", "n_jobs", "max_iter",
               "iterations run", "evaluations", "fit time (s)", "fit CPU (s)",
               "floor: evaluations x (X @ B + X.T @ W) (CPU s)", "fit CPU / floor",
               "floor (wall s)",
               "peak RSS (MiB)", "RSS before fit (MiB)", "data (MiB)",
               "within goal (60 s, 4 GB)"]
    rows = []
    blas = ""
    configs = [(n, None) for n in sizes]
    if args.n_jobs is not None:
        configs += [(n, args.n_jobs) for n in sizes]
    for n_clusters, n_jobs in configs:
        r = run_config(n_clusters, args.max_iter, timeout=30 * GOAL_SECONDS,
                       n_jobs=n_jobs)
        blas = r["blas"]
        ok = r["seconds"] < GOAL_SECONDS and r["rss_peak"] < GOAL_BYTES
        floor = r["evaluations"] * r["floor"]
        rows.append([f"{n_clusters:,}", f"{n_clusters * ROWS:,}", D, K, n_jobs,
                     args.max_iter, r["n_iter"], r["evaluations"],
                     f"{r['seconds']:.1f}", f"{r['cpu']:.1f}", f"{floor:.1f}",
                     f"{r['cpu'] / floor:.2f}",
                     f"{r['evaluations'] * r['floor_wall']:.1f}",
                     f"{r['rss_peak'] / 2**20:.0f}",
                     f"{r['rss_before'] / 2**20:.0f}", f"{r['data_bytes'] / 2**20:.0f}",
                     "yes" if ok else "no"])
        print(text_table(headers, rows[-1:]).splitlines()[-1], flush=True)
    print("\n" + text_table(headers, rows))
    curve_sizes = CURVE[:2] if args.quick else CURVE
    curve_rows = curve(curve_sizes, args.auto_up_to)
    print("\n" + text_table(CURVE_HEADERS, curve_rows))
    notes = (
        f"`SmoothingBasisRegressor(n_basis={K}, max_iter={args.max_iter}, "
        "random_state=0, n_jobs=...)`, float32, one subprocess per row: peak RSS is "
        "`ru_maxrss` "
        "of a process that loaded the data (interpreter + data = 'RSS before fit') "
        f"and fitted once. BLAS in the fitting process: {blas}. Floor: the number of "
        "evaluations of the objective (line-search trials included) times the two "
        "products each one must compute, timed (CPU seconds, and wall seconds with the "
        "process's BLAS threads) in the same process after the fit, over chunks of "
        f"{FLOOR_CHUNK:,} rows into buffers allocated once, best of two passes. "
        "n_jobs=None: the chunks in turn, BLAS with its own threads; n_jobs=2: two "
        "threads of chunks, one BLAS thread each.\n\n"
        "How a default fit grows with the number of clusters: "
        "`SmoothingBasisRegressor(prior=..., random_state=0)`, every other parameter "
        f"at its default, on FAQ-like float32 data ({CURVE_ROWS} questions per "
        f"cluster, d = p = {CURVE_D}, `_bench_utils.faq_rows`), CPU seconds of one "
        "BLAS thread split into the fit's phases (the rest of a fit is validation "
        "and routing). The last column is the time per cluster relative to N = 1,000 "
        "with the same prior: at most 1 is linear growth. `prior='auto'` (the "
        "default) refits the contrastive map about twenty times (its held-out "
        "criterion), `prior='contrastive'` once.\n\n"
        + markdown_table(CURVE_HEADERS, curve_rows)
    )
    report(args.output, "scale", "Fit time and peak memory at scale",
           markdown_table(headers, rows), quick=args.quick, command=command_line(),
           load_start=load_start, notes=notes)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
