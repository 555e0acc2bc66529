"""Routed prediction throughput: shared basis against independent per-cluster maps.

Rows with an unknown cluster (``predict(X)`` without groups, soft routing,
temperature 0.1 and the same whitened routing, ``routing_shrinkage="auto"``, for both)
are predicted as ``sum_i w_i x W_i``. With independent maps that costs O(N d p) per
row; with the shared basis, ``x P + sum_k (sum_i w_i C_ik) x G_k``, O(K d p + N d);
routing adds d^2 (whitening) + N d (similarities) to both. The expected speed-up is
about N / K.

Data: N = 1000 clusters of 3 rows (d = p = 384, planted basis of K = 16 orthogonal
maps, ``_bench_utils.planted_rows``, float32 so that the 1000 independent maps take
0.6 GB). ``SmoothingBasisRegressor(n_basis=16, max_iter=2, random_state=0)`` (fit
quality is irrelevant to prediction cost) and ``IndependentProjectionRegressor()``
(ridge, alpha 1) are fitted on the same rows; 2000 fresh query rows (200 with
``--quick``) are predicted, best of 3 interleaved repeats.

    python benchmarks/prediction.py [--quick] [--output FILE]
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis import IndependentProjectionRegressor, SmoothingBasisRegressor

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

N, D, K, ROWS = 1000, 384, 16, 3
TEMPERATURE = 0.1


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    load_start = load_average()
    n_queries = 200 if args.quick else 2000
    repeats = 3
    X, Y, g, _, _ = planted_rows(N, ROWS, D, K, dtype=np.float32, random_state=0)
    queries = (
        np.random.default_rng(1).standard_normal((n_queries, D)).astype(np.float32)
    )
    routing = {"routing_temperature": TEMPERATURE, "routing_shrinkage": "auto"}
    t_fit_ours, ours = timed(SmoothingBasisRegressor(
        n_basis=K, max_iter=2, random_state=0, **routing).fit, X, Y, groups=g)
    t_fit_indep, indep = timed(
        IndependentProjectionRegressor(**routing).fit, X, Y, groups=g
    )
    print(f"fitted: ours {t_fit_ours:.2f} s, independent {t_fit_indep:.2f} s "
          f"({indep.maps_.nbytes / 2**20:.0f} MiB of maps)")
    ours.predict(queries[:10])  # warm-up
    indep.predict(queries[:10])
    t_ours, t_indep = [], []
    for rep in range(repeats):
        t, pred_ours = timed(ours.predict, queries)
        t_ours.append(t)
        t, pred_indep = timed(indep.predict, queries)
        t_indep.append(t)
        print(
            f"repeat {rep + 1}: ours {t_ours[-1]:.3f} s, independent {t_indep[-1]:.3f} "
            "s"
        )
    assert pred_ours.dtype == pred_indep.dtype == np.float32
    assert np.isfinite(pred_ours).all() and np.isfinite(pred_indep).all()
    rate_ours, rate_indep = n_queries / min(t_ours), n_queries / min(t_indep)
    headers = [
        "N clusters",
        "d = p",
        "K",
        "query rows",
        "SmoothingBasisRegressor (rows/s)",
        "IndependentProjectionRegressor (rows/s)",
        "speed-up",
        "goal N/K",
        "multiply-adds ratio (Ndp + Nd + d^2) / (Kdp + Nd + d^2)",
    ]
    routing_flops = N * D + (D * D if ours.routing_transform_ is not None else 0)
    flops = (N * D * D + routing_flops) / (K * D * D + routing_flops)
    rows = [[N, D, K, n_queries, f"{rate_ours:,.0f}", f"{rate_indep:,.0f}",
             f"{rate_ours / rate_indep:.1f}x", f"{N / K:.1f}x", f"{flops:.1f}x"]]
    print("\n" + text_table(headers, rows))
    notes = (
        "`predict(X)` without groups, soft routing, temperature 0.1 and whitened "
        "routing "
        f"(Ledoit-Wolf shrinkage {ours.routing_shrinkage_:.2f}) for both; float32; "
        f"best of {repeats} interleaved repeats. Models fitted on {N} clusters x "
        f"{ROWS} "
        "planted rows (`SmoothingBasisRegressor(n_basis=16, max_iter=2)`, "
        "`IndependentProjectionRegressor()`). The last column is not measured: it is "
        "the "
        "ratio of the multiply-adds per query row (maps and routing similarities), the "
        "speed-up to expect when both run at the same rate."
    )
    report(args.output, "prediction", "Routed prediction throughput",
           markdown_table(headers, rows), quick=args.quick, command=command_line(),
           load_start=load_start, notes=notes)


if __name__ == "__main__":
    main()
