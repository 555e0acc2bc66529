"""Growing the FAQ without refitting: partial_fit and add_clusters against a full refit.

On each data set (the bundled demo, clinc150 and unifyweaver_qa from ../shared/data),
for several random splits with 3 training questions per cluster and the other
questions held out (routed: their cluster is not given):

- 20% of the clusters, drawn at random, are *new*; ``SmoothingBasisRegressor()`` at
  its defaults is fitted on the training questions of the other 80%;
- **refit**: the same estimator fitted on all training questions;
- **partial_fit**: the 80% model grown by ``partial_fit`` with the new clusters'
  training questions; its time is measured in the same run as the refit's, one
  after the other, so their ratio is side by side;
- **add_clusters**: the 80% model grown by ``add_clusters`` with the new clusters'
  answers only (no question), against what zero-shot cosine (the question itself)
  and the 80% model's prior map alone give on the new clusters' held-out questions.

Recall@1 ranks all answers of the data set. Writes a section of docs/benchmarks.md.

    python benchmarks/growing.py [--quick] [--data-root ../shared/data]
"""

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
NEW_FRACTION = 0.2


def one_split(data, seed, max_test):
    """Recall@1 of every method on one split, and the two fit times."""
    answers = data.answers
    X_train, g_train, X_test, g_test = split_dataset(
        data, n_train=3, max_test=max_test, random_state=seed)
    rng = np.random.RandomState(seed)
    clusters = np.unique(g_train)
    new = rng.choice(clusters, int(round(NEW_FRACTION * len(clusters))), replace=False)
    is_new_train = np.isin(g_train, new)
    is_new_test = np.isin(g_test, new)

    def recall(predicted, rows=slice(None)):
        return recall_at_k(answers[g_test[rows]], predicted, candidates=answers)

    def known_model():
        return SmoothingBasisRegressor(random_state=0).fit(
            X_train[~is_new_train], answers[g_train[~is_new_train]],
            groups=g_train[~is_new_train])

    refit_seconds, refit = timed(
        SmoothingBasisRegressor(random_state=0).fit, X_train, answers[g_train],
        groups=g_train)
    grown = known_model()
    partial_seconds, _ = timed(
        grown.partial_fit, X_train[is_new_train], answers[g_train[is_new_train]],
        groups=g_train[is_new_train])
    # The refit without the choice of the prior: the prior the model chose, fixed.
    fixed_seconds, _ = timed(
        SmoothingBasisRegressor(prior=grown.prior_choice_, random_state=0).fit,
        X_train, answers[g_train], groups=g_train)
    cold = known_model().add_clusters(new, answers[new])
    X_new = X_test[is_new_test]
    return {
        "refit": recall(refit.predict(X_test)),
        "partial_fit": recall(grown.predict(X_test)),
        "refit_seconds": refit_seconds,
        "fixed_seconds": fixed_seconds,
        "partial_seconds": partial_seconds,
        "new: refit": recall(refit.predict(X_new), is_new_test),
        "new: partial_fit": recall(grown.predict(X_new), is_new_test),
        "new: add_clusters": recall(cold.predict(X_new), is_new_test),
        "new: zero-shot cosine": recall(X_new, is_new_test),
        "new: prior alone": recall(X_new @ cold.prior_, is_new_test),
        "n_new_test": int(is_new_test.sum()),
        "n_test": len(g_test),
        "n_clusters": len(clusters),
        "n_new": len(new),
    }


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=SHARED_DATA)
    args = p.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    # One BLAS thread: the machine is shared, and an oversubscribed multi-threaded
    # eigendecomposition of the routing's 384 x 384 covariance can take seconds.
    limits = threadpool_limits(limits=1, user_api="blas")
    load_start = load_average()
    growth_rows, cold_rows = [], []
    for name, (n_splits, max_test) in DATA_SETS.items():
        if name != "faq_demo" and not (args.data_root / name).exists():
            print(f"skipping {name}: not in {args.data_root}")
            continue
        if args.quick:
            n_splits = 1
        data = load_dataset(name, args.data_root)
        runs = []
        for seed in range(n_splits):
            runs.append(one_split(data, seed, max_test))
            print(name, seed, {k: round(v, 3) for k, v in runs[-1].items()}, flush=True)

        def mean(key, runs=runs):
            return float(np.mean([r[key] for r in runs]))

        ratio = np.array([r["refit_seconds"] / r["partial_seconds"] for r in runs])
        fixed = np.array([r["fixed_seconds"] / r["partial_seconds"] for r in runs])
        first = runs[0]
        growth_rows.append([
            name, n_splits, first["n_clusters"], first["n_new"], round(mean("n_test")),
            f"{mean('refit'):.3f}", f"{mean('partial_fit'):.3f}",
            f"{100 * (mean('partial_fit') - mean('refit')):+.1f}",
            f"{mean('refit_seconds'):.2f}", f"{mean('partial_seconds'):.3f}",
            f"{ratio.min():.0f}x - {ratio.max():.0f}x",
            f"{fixed.min():.0f}x - {fixed.max():.0f}x",
        ])
        cold_rows.append([
            name, round(mean("n_new_test")), f"{mean('new: zero-shot cosine'):.3f}",
            f"{mean('new: prior alone'):.3f}", f"{mean('new: add_clusters'):.3f}",
            f"{mean('new: partial_fit'):.3f}", f"{mean('new: refit'):.3f}",
        ])
    growth_headers = [
        "data set", "splits", "clusters", "new clusters", "held-out questions",
        "Recall@1 refit", "Recall@1 fit 80% + partial_fit 20%", "difference (points)",
        "refit s", "partial_fit s", "refit / partial_fit (range over splits)",
        "refit with the prior fixed / partial_fit",
    ]
    cold_headers = [
        "data set", "held-out questions of new clusters", "zero-shot cosine",
        "prior alone", "add_clusters (answers only)", "partial_fit (3 questions each)",
        "refit",
    ]
    print(text_table(growth_headers, growth_rows))
    print(text_table(cold_headers, cold_rows))
    table = (
        "All held-out questions, routed; Recall@1 among all answers, mean over "
        "splits.\n\n"
        + markdown_table(growth_headers, growth_rows)
        + "\n\nHeld-out questions of the new clusters only, routed among all clusters; "
        "Recall@1 among all answers, mean over splits.\n\n"
        + markdown_table(cold_headers, cold_rows)
    )
    notes = (
        "Each split: 3 training questions per cluster, the rest held out (clinc150: "
        "2000 drawn at random); 20% of the clusters drawn at random are new. "
        "`SmoothingBasisRegressor(random_state=0)` at its defaults. *refit*: `fit` on "
        "every training question. *partial_fit*: `fit` on the 80% known clusters, then "
        "one `partial_fit` call with the new clusters' training questions; refit and "
        "partial_fit are timed one after the other in the same run (wall clock, the "
        "80% fit not counted); *refit with the prior fixed*: the same refit with "
        "`prior` set to the one `prior=\"auto\"` chose for the 80% model, so without "
        "the cost of choosing it (timed in the same run). *add_clusters*: the 80% "
        "model given the new clusters' "
        "answers only (`add_clusters(labels, answers)`, `n_neighbors=5`). *zero-shot "
        "cosine*: the question itself ranks the answers; *prior alone*: the 80% "
        "model's prior map `X @ prior_`, without routing or per-cluster corrections. "
        "BLAS limited to one thread for the whole run (the machine is shared)."
    )
    report(args.output, "growing", "Growing the FAQ: partial_fit and add_clusters",
           table, quick=args.quick, command=command_line(), load_start=load_start,
           notes=notes)
    limits.unregister()


if __name__ == "__main__":
    main()
