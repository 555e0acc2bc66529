"""Sparse coefficients (``sparsity``): retrieval, zero coefficients and fit time.

Protocol of ``compare`` (issue 15), on each data set: random splits with 3 training
questions per cluster, the rest held out (clinc150: 2000 of them, drawn at random),
routed (their cluster not given). On each split the default
``SmoothingBasisRegressor(max_iter=20, random_state=0)`` is fitted once to choose
the prior (``prior="auto"``); then, with that prior map passed as an array (so every
fit below has the same prior and none pays for choosing it),
``SmoothingBasisRegressor(prior=P, sparsity=t, max_iter=20, random_state=0)`` for
each ``t``, every other parameter at its default. Reported: routed Recall@1 of the
held-out questions among all answers, its difference from ``sparsity=0`` (mean and
standard deviation over the splits: the split-to-split noise), the fraction of
coefficients exactly zero, and the CPU time of the fit relative to ``sparsity=0``
measured side by side in the same run (one BLAS thread).

Each data set's per-split results go to ``--results-dir`` (outside the repo), so data
sets can run in separate processes; the table is written to ``docs/benchmarks.md``
from every data set found there.

    python benchmarks/sparsity.py [--datasets faq_demo,unifyweaver_qa,clinc150]
"""

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis import SmoothingBasisRegressor
from sklearn_smoothbasis.compare import split_dataset
from sklearn_smoothbasis.metrics import recall_at_k

from _bench_utils import PACKAGE_STATE, blas_threads, command_line, load_dataset
from _report import BENCHMARKS_PAGE, SHARED_DATA, machine, write_section

DATASETS = ["faq_demo", "unifyweaver_qa", "clinc150"]
SPARSITIES = [0.0, 0.003, 0.01, 0.03, 0.1]
N_SPLITS = 3
MAX_ITER = 20


def run(name, data, n_splits, sparsities):
    answers, results = data.answers, []
    for seed in range(n_splits):
        X_train, g_train, X_test, g_test = split_dataset(
            data, n_train=3, max_test=2000 if name == "clinc150" else None,
            random_state=seed)
        truth = answers[g_test]
        chooser = SmoothingBasisRegressor(max_iter=MAX_ITER, random_state=0).fit(
            X_train, answers[g_train], groups=g_train)
        row = {"n_clusters": len(answers), "n_train": len(X_train),
               "n_test": len(X_test), "prior": chooser.prior_choice_,
               "n_basis": int(chooser.n_basis_), "fits": {}}
        for t in sparsities:
            model = SmoothingBasisRegressor(prior=chooser.prior_, sparsity=t,
                                            max_iter=MAX_ITER, random_state=0)
            start = time.process_time()
            model.fit(X_train, answers[g_train], groups=g_train)
            seconds = time.process_time() - start
            row["fits"][str(t)] = {
                "recall": recall_at_k(truth, model.predict(X_test), candidates=answers),
                "zeros": float(np.mean(model.coefficients_ == 0)),
                "seconds": seconds,
                "n_iter": int(model.n_iter_),
            }
        print(name, seed, json.dumps(row), flush=True)
        results.append(row)
    return {"package": PACKAGE_STATE, "splits": results}


def table(results):
    names = [n for n in DATASETS if n in results]
    lines = ["| sparsity | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    sparsities = [t for t in results[names[0]]["splits"][0]["fits"]]
    for t in sparsities:
        cells = []
        for n in names:
            splits = results[n]["splits"]
            recall = np.array([s["fits"][t]["recall"] for s in splits])
            dense = np.array([s["fits"]["0.0"]["recall"] for s in splits])
            zeros = np.mean([s["fits"][t]["zeros"] for s in splits])
            ratio = np.mean([s["fits"][t]["seconds"] / s["fits"]["0.0"]["seconds"]
                             for s in splits])
            iters = np.mean([s["fits"][t]["n_iter"] for s in splits])
            if t == "0.0":
                cells.append(f"{recall.mean():.3f}; 0% zero; 1.00x "
                             f"({iters:.0f} it.)")
            else:
                diff = 100 * (recall - dense)
                spread = diff.std(ddof=1)
                cells.append(
                    f"{recall.mean():.3f} ({diff.mean():+.1f} ± {spread:.1f});"
                    f" {100 * zeros:.0f}% zero; {ratio:.2f}x ({iters:.0f} it.)")
        lines.append(f"| {float(t):g} | " + " | ".join(cells) + " |")
    sizes = "; ".join(
        f"{n}: {results[n]['splits'][0]['n_clusters']} clusters, "
        f"{results[n]['splits'][0]['n_train']} training / "
        f"{np.mean([s['n_test'] for s in results[n]['splits']]):.0f} held-out "
        f"questions, K = {results[n]['splits'][0]['n_basis']}, prior chosen "
        + ", ".join(s["prior"] for s in results[n]["splits"])
        + f", {len(results[n]['splits'])} splits ({results[n]['package']})"
        for n in names
    )
    return "\n".join(lines), sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--splits", type=int, default=N_SPLITS)
    parser.add_argument("--sparsities", default=",".join(map(str, SPARSITIES)))
    parser.add_argument("--results-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "sparsity")
    args = parser.parse_args()
    sparsities = [float(t) for t in args.sparsities.split(",")]
    if sparsities[0] != 0:
        parser.error("--sparsities must start with 0 (the reference)")
    warnings.simplefilter("ignore", ConvergenceWarning)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    for name in filter(None, args.datasets.split(",")):
        if name != "faq_demo" and not (args.data_root / name).exists():
            print(f"{name}: not in {args.data_root}, skipped")
            continue
        data = load_dataset(name, args.data_root)
        result = run(name, data, args.splits, sparsities)
        (args.results_dir / f"{name}.json").write_text(json.dumps(result))
    results = {path.stem: json.loads(path.read_text())
               for path in sorted(args.results_dir.glob("*.json"))}
    lines, sizes = table(results)
    text = (
        "### Sparse coefficients\n\n"
        "`SmoothingBasisRegressor(prior=P, sparsity=t, max_iter=20, random_state=0)`, "
        "every other parameter at its default, with `P` the prior `prior=\"auto\"` "
        "chose on the split (fitted once per split, passed as an array to every fit). "
        "Each cell: routed Recall@1 of the held-out questions among all answers, mean "
        "over random splits with 3 training questions per cluster (clinc150: 2000 "
        "held-out questions); in brackets its difference from `sparsity=0` in points, "
        "mean ± standard deviation over the splits; the share of coefficients exactly "
        "zero; the CPU time of the fit relative to `sparsity=0` in the same run "
        "(mean of the per-split ratios), and the solver iterations run (at most "
        f"20). {sizes}. Produced by `python benchmarks/sparsity.py` (each data set "
        "in its own process, `--datasets NAME`, the table written from all their "
        f"results; this run: `{command_line()}`) on {machine()}, {blas_threads()}.\n\n"
        + lines
        + "\n"
    )
    print(text)
    write_section(BENCHMARKS_PAGE, "sparsity", text)


if __name__ == "__main__":
    main()
