"""The default number of basis maps: routed Recall@1 against K on real data.

``SmoothingBasisRegressor(n_basis=K, random_state=0)`` (every other parameter at its
default) on the held-out protocol of ``benchmarks/retrieval_defaults.py``: random
splits with 3 training questions per cluster, the other questions held out and
predicted routed (their cluster not given), Recall@1 against all answers of the set;
5 splits of the bundled demo and of unifyweaver_qa, 3 of clinc150 (2000 held-out
questions each). K runs over 1, 2, 4, 8, 16, 32 (those not above the number of
clusters) and the uncapped ``ceil(sqrt(N))``; the table gives each K's mean Recall@1,
its difference from the uncapped ``ceil(sqrt(N))`` in points, and the mean fit time
(one BLAS thread, measured in the same run). All fits of one split use the same
split, so the differences are paired.

    python benchmarks/basis_size.py [--quick] [--data-root ../shared/data]
"""

import math
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_smoothbasis import SmoothingBasisRegressor
from sklearn_smoothbasis.compare import split_dataset
from sklearn_smoothbasis.metrics import recall_at_k

from _bench_utils import (
    command_line,
    load_average,
    load_dataset,
    markdown_table,
    parser,
    report,
    text_table,
    timed,
)
from _report import SHARED_DATA

# data set -> (random splits, at most this many held-out questions per split)
DATA_SETS = {"faq_demo": (5, None), "unifyweaver_qa": (5, None), "clinc150": (3, 2000)}
FIXED_K = [1, 2, 4, 8, 16, 32]


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=SHARED_DATA)
    args = p.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    threadpool_limits(limits=1, user_api="blas")
    load_start = load_average()
    headers = ["data set", "N clusters", "splits", "K", "Recall@1",
               "vs ceil(sqrt N) (points)", "fit time (s)"]
    rows = []
    for name, (n_splits, max_test) in DATA_SETS.items():
        if name != "faq_demo" and not (args.data_root / name).exists():
            print(f"skipping {name}: not in {args.data_root}")
            continue
        if args.quick:
            n_splits = 1
        data = load_dataset(name, args.data_root)
        n_clusters = len(np.unique(data.groups))
        auto = math.ceil(math.sqrt(n_clusters))
        ks = [k for k in FIXED_K if k <= n_clusters and k != auto] + [auto]
        recall = {k: [] for k in ks}
        seconds = {k: [] for k in ks}
        for seed in range(n_splits):
            X_train, g_train, X_test, g_test = split_dataset(
                data, n_train=3, max_test=max_test, random_state=seed)
            for k in ks:
                est = SmoothingBasisRegressor(n_basis=k, random_state=0)
                t, model = timed(est.fit, X_train, data.answers[g_train],
                                 groups=g_train)
                recall[k].append(recall_at_k(data.answers[g_test],
                                             model.predict(X_test),
                                             candidates=data.answers))
                seconds[k].append(t)
                print(name, seed, k, round(recall[k][-1], 4), round(t, 2), flush=True)
        for k in sorted(ks):
            diff = 100 * (np.mean(recall[k]) - np.mean(recall[auto]))
            rows.append([name, n_clusters, n_splits,
                         f"{k} (= ceil(sqrt N))" if k == auto else k,
                         f"{np.mean(recall[k]):.3f}", f"{diff:+.1f}",
                         f"{np.mean(seconds[k]):.2f}"])
    print("\n" + text_table(headers, rows))
    notes = (
        "`SmoothingBasisRegressor(n_basis=K, random_state=0)`, other parameters at "
        "their defaults; routed Recall@1 of the held-out questions against all "
        "answers, "
        "mean over the splits (3 training questions per cluster, as in "
        "`benchmarks/retrieval_defaults.py`). The three sets have at most 150 "
        "clusters, so `ceil(sqrt N)` is at most 13 here: K = 16 and 32 show what a "
        "larger basis than the default gives on them. Fit time: wall clock on the "
        "machine and load given above, the default `prior='auto'` (its selection "
        "refits the contrastive map about twenty times) included."
    )
    report(args.output, "basis-size", "Recall@1 against the number of basis maps",
           markdown_table(headers, rows), quick=args.quick, command=command_line(),
           load_start=load_start, notes=notes)


if __name__ == "__main__":
    main()
