"""Answer-similarity smoothness (``smoothness``): does it help retrieval, at what cost.

Protocol of issue 15 (compare's): on faq_demo, unifyweaver_qa and clinc150, random
splits with 3 training questions per cluster, the rest held out (clinc150: 2000 of
them). The one-question regime: unifyweaver_smoothing, one question per cluster (its
18 questions) and its 54 queries held out, as in ``benchmarks/one_question.py``, and
the three other sets split with one training question per cluster. On each split
``SmoothingBasisRegressor(max_iter=20, random_state=0)`` at its defaults is fitted
with ``smoothness=0``; its prior (``prior="auto"`` resolved on that split) is then
passed as a fixed array to the fits at every ``smoothness``, 0 included, so the
timings compare the basis solver alone, side by side in one run. Reported: routed
Recall@1 of the held-out questions among all answers (mean over splits), its
difference from ``smoothness=0`` with the standard deviation of that paired
difference over the splits (the split-to-split noise), and the ratio of CPU fit time
to ``smoothness=0`` (one BLAS thread).

    python benchmarks/smoothness.py [--splits 3] [--datasets faq_demo,clinc150]
        [--data-root ../shared/data]
"""

import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis import SmoothingBasisRegressor
from sklearn_smoothbasis.compare import split_dataset
from sklearn_smoothbasis.metrics import recall_at_k

from _bench_utils import (
    PACKAGE_STATE,
    command_line,
    cpu_timed,
    load_average,
    load_dataset,
    markdown_table,
)
from _report import BENCHMARKS_PAGE, SHARED_DATA, machine, write_section

# (data set, training questions per cluster): compare's protocol, then the
# one-question regime (unifyweaver_smoothing, and the other sets split that way).
REGIMES = [("faq_demo", 3), ("unifyweaver_qa", 3), ("clinc150", 3),
           ("unifyweaver_smoothing", 1), ("faq_demo", 1), ("unifyweaver_qa", 1),
           ("clinc150", 1)]
SMOOTHNESS = [0.0, 0.1, 1.0, 10.0, 100.0]
MAX_ITER = 20


def one_split(X_train, g_train, X_test, g_test, answers):
    """Recall@1 and CPU fit seconds at every value of :data:`SMOOTHNESS`."""
    Y_train = answers[g_train]
    default = SmoothingBasisRegressor(max_iter=MAX_ITER, random_state=0).fit(
        X_train, Y_train, groups=g_train)
    recalls, seconds, iterations = [], [], []
    for smoothness in SMOOTHNESS:
        model = SmoothingBasisRegressor(prior=default.prior_, smoothness=smoothness,
                                        max_iter=MAX_ITER, random_state=0)
        elapsed, model = cpu_timed(model.fit, X_train, Y_train, groups=g_train)
        recalls.append(recall_at_k(answers[g_test], model.predict(X_test),
                                   candidates=answers))
        seconds.append(elapsed)
        iterations.append(model.n_iter_)
    return (np.array(recalls), np.array(seconds), np.array(iterations),
            default.prior_choice_)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--datasets", default=None,
                        help="comma-separated names (default: all)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    load_start = load_average()
    rows = []
    wanted = None if args.datasets is None else args.datasets.split(",")
    for name, n_train in REGIMES:
        if wanted is not None and name not in wanted:
            continue
        if name != "faq_demo" and not (args.data_root / name).exists():
            print(f"skipping {name}: not in {args.data_root}")
            continue
        data = load_dataset(name, args.data_root)
        # unifyweaver_smoothing has one question per cluster: one split, its queries
        n_splits = 1 if name == "unifyweaver_smoothing" else args.splits
        results = []
        for seed in range(n_splits):
            split = split_dataset(
                data, n_train=n_train,
                max_test=2000 if name == "clinc150" else None, random_state=seed)
            results.append(one_split(*split, data.answers))
            print(name, n_train, seed, *results[-1], flush=True)
        recalls = np.array([r[0] for r in results])
        seconds = np.array([r[1] for r in results])
        per_iteration = seconds / np.maximum(np.array([r[2] for r in results]), 1)
        n_clusters, n_test = len(np.unique(split[1])), len(split[3])
        chosen = ", ".join(sorted({r[3] for r in results}))
        for j, smoothness in enumerate(SMOOTHNESS):
            difference = recalls[:, j] - recalls[:, 0]
            noise = f" ± {difference.std(ddof=1):.3f}" if n_splits > 1 else ""
            rows.append([
                name if j == 0 else "",
                str(n_train) if j == 0 else "",
                f"{n_clusters} / {n_test} / {n_splits}" if j == 0 else "",
                chosen if j == 0 else "",
                f"{smoothness:g}",
                f"{recalls[:, j].mean():.3f}",
                "" if j == 0 else f"{difference.mean():+.3f}{noise}",
                f"{np.mean(seconds[:, j] / seconds[:, 0]):.2f}",
                f"{np.mean(per_iteration[:, j] / per_iteration[:, 0]):.2f}",
                f"{seconds[:, j].mean():.2f}",
            ])
    headers = ["data set", "training questions per cluster",
               "clusters / held-out / splits", "prior", "smoothness",
               "Recall@1", "difference from 0 (± sd over splits)",
               "fit time / smoothness=0", "time per iteration / smoothness=0",
               "fit CPU s"]
    text = (
        "### Answer-similarity smoothness\n\n"
        "Routed Recall@1 of held-out questions against `smoothness` (defaults "
        f"otherwise, `max_iter={MAX_ITER}`, `smoothness_neighbors=5`); 3 training "
        "questions per cluster (compare's protocol; clinc150: 2000 held-out "
        "questions), then the one-question regime: unifyweaver_smoothing (its 18 "
        "questions, its 54 queries held out) and the other sets split with one "
        "training question per cluster. The prior is the one "
        "`prior=\"auto\"` chose on each split, fixed for every `smoothness`, so the "
        "time ratio is the basis solver's (CPU seconds, one BLAS thread, measured "
        "side by side). Difference: paired, mean over splits ± its standard "
        f"deviation. `{command_line()}` -- {PACKAGE_STATE}; {machine()}; load "
        f"average {load_start} at start, {load_average()} at end.\n\n"
        + markdown_table(headers, rows) + "\n"
    )
    print(text)
    write_section(BENCHMARKS_PAGE, "smoothness", text)


if __name__ == "__main__":
    main()
