"""Low-rank basis maps (``basis_rank``): speed, memory and Recall@1 against dense.

Two parts, each in its own process if wanted (``--parts``), their results kept in
``--results-dir`` (outside the repo) and the section written from all found there.

``speed``: FAQ-like synthetic data (``_bench_utils.faq_rows``: 1,000 clusters x 3
questions, d = p = 384, float32), ``SmoothingBasisRegressor(n_basis=16, prior=None,
max_iter=5, tol=0, random_state=0)`` dense and with ``basis_rank`` r = 8, 16, 32: the
fit (the init, "svd" or "random", and 5 solver iterations) and the routed (soft)
prediction of 3,000 new questions, each timed in CPU seconds of this process with one
BLAS thread, side by side in one run, and their peak traced memory (tracemalloc, a
second run of the same call). Ratios are dense / factored.

``recall``: the real-data protocol of ``compare`` (``split_dataset``: 3 training
questions per cluster, the rest held out and routed; clinc150: 2,000 held out), 3
splits of faq_demo, unifyweaver_qa and clinc150. On each split the default model
(``prior="auto"``, ``max_iter=30``) is fitted once; its prior map is then given as an
array to every model compared (dense and r = 1, 4, 8, 16, 32, 64, all ``max_iter=30``,
``random_state=0``, other parameters at their defaults), so the rank is the only
difference. Recall@1 of the held-out questions among all answers; the difference
from dense in points, mean and standard deviation over the paired splits.

    python benchmarks/low_rank.py [--parts speed,recall] [--datasets ...] [--quick]
"""

import itertools
import json
import tempfile
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_smoothbasis import SmoothingBasisRegressor
from sklearn_smoothbasis.compare import split_dataset
from sklearn_smoothbasis.metrics import recall_at_k

from _bench_utils import (
    PACKAGE_STATE,
    command_line,
    cpu_timed,
    faq_rows,
    load_average,
    load_dataset,
    markdown_table,
    parser,
    report,
)
from _report import SHARED_DATA

SPEED_RANKS = [8, 16, 32]
RECALL_RANKS = [1, 4, 8, 16, 32, 64]
# data set -> at most this many held-out questions per split
DATA_SETS = {"faq_demo": None, "unifyweaver_qa": None, "clinc150": 2000}
N_SPLITS = 3
MAX_ITER = 30
MiB = 2**20


def _peak(fn):
    """Peak traced memory (bytes above what was live before) of one call."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def speed(quick):
    n_clusters, d, K, max_iter = (200, 128, 8, 3) if quick else (1000, 384, 16, 5)
    X, Y, groups = faq_rows(n_clusters, 3, d, random_state=0)
    X_new, _, _ = faq_rows(n_clusters, 3, d, random_state=1)
    rows = {}
    for init, rank in itertools.product(["svd", "random"], [None, *SPEED_RANKS]):
        model = SmoothingBasisRegressor(
            n_basis=K, basis_rank=rank, init=init, prior=None, max_iter=max_iter,
            tol=0, random_state=0)
        fit_time, _ = cpu_timed(model.fit, X, Y, groups=groups)
        predict_time, _ = cpu_timed(model.predict, X_new)
        fit_peak = _peak(lambda: SmoothingBasisRegressor(**model.get_params()).fit(
            X, Y, groups=groups))
        predict_peak = _peak(lambda: model.predict(X_new))
        basis_values = (model.basis_.size if rank is None
                        else model.basis_left_.size + model.basis_right_.size)
        rows[f"{init} {rank}"] = dict(
            fit=fit_time, predict=predict_time, fit_peak=fit_peak,
            predict_peak=predict_peak, n_iter=model.n_iter_,
            objective=model.objective_, basis_values=basis_values,
        )
        print("speed", init, rank, json.dumps(rows[f"{init} {rank}"]), flush=True)
    return {"package": PACKAGE_STATE, "n_clusters": n_clusters, "d": d, "K": K,
            "max_iter": max_iter, "n_queries": len(X_new), "rows": rows}


def recall(name, data, n_splits, max_test, ranks):
    answers, splits = data.answers, []
    for seed in range(n_splits):
        X_train, g_train, X_test, g_test = split_dataset(
            data, n_train=3, max_test=max_test, random_state=seed)
        truth = answers[g_test]
        default = SmoothingBasisRegressor(max_iter=MAX_ITER, random_state=0).fit(
            X_train, answers[g_train], groups=g_train)
        row = {"n_clusters": len(answers), "n_train": len(X_train),
               "n_test": len(X_test), "prior": default.prior_choice_,
               "n_basis": default.n_basis_}
        for rank in [None, *ranks]:
            model = SmoothingBasisRegressor(
                prior=default.prior_, basis_rank=rank, max_iter=MAX_ITER,
                random_state=0)
            fit_time, _ = cpu_timed(model.fit, X_train, answers[g_train],
                                    groups=g_train)
            row[str(rank)] = [recall_at_k(truth, model.predict(X_test),
                                          candidates=answers), fit_time]
        print(name, seed, json.dumps(row), flush=True)
        splits.append(row)
    return {"package": PACKAGE_STATE, "splits": splits}


def speed_table(result):
    headers = ["init", "basis", "basis values", "fit CPU s", "fit: dense / this",
               "fit peak MiB", "fit peak: dense / this", "predict CPU s",
               "predict: dense / this", "predict peak MiB",
               "predict peak: dense / this", "objective"]
    lines = []
    for key, row in result["rows"].items():
        init, rank = key.split()
        dense = result["rows"][f"{init} None"]
        label = "dense" if rank == "None" else f"basis_rank={rank}"
        lines.append([
            init, label, f"{row['basis_values']:,}", f"{row['fit']:.2f}",
            f"{dense['fit'] / row['fit']:.1f}x", f"{row['fit_peak'] / MiB:.1f}",
            f"{dense['fit_peak'] / row['fit_peak']:.1f}x",
            f"{row['predict']:.3f}", f"{dense['predict'] / row['predict']:.1f}x",
            f"{row['predict_peak'] / MiB:.1f}",
            f"{dense['predict_peak'] / row['predict_peak']:.1f}x",
            f"{row['objective']:.4f}",
        ])
    return markdown_table(headers, lines)


def recall_table(results):
    headers = ["data set", "basis", "Recall@1", "minus dense, points (mean ± sd)",
               "fit CPU s"]
    lines = []
    for name in [n for n in DATA_SETS if n in results]:
        splits = results[name]["splits"]
        dense = np.array([s["None"][0] for s in splits])
        keys = ["None"] + [k for k in splits[0] if k.isdigit()]
        for key in keys:
            scores = np.array([s[key][0] for s in splits])
            diff = 100 * (scores - dense)
            lines.append([
                name if key == "None" else "",
                "dense" if key == "None" else f"basis_rank={key}",
                f"{scores.mean():.3f}",
                "" if key == "None"
                else f"{diff.mean():+.1f} ± {diff.std(ddof=1):.1f}",
                f"{np.mean([s[key][1] for s in splits]):.2f}",
            ])
    sizes = "; ".join(
        f"{n}: {results[n]['splits'][0]['n_clusters']} clusters, K = "
        f"{results[n]['splits'][0]['n_basis']}, "
        f"{results[n]['splits'][0]['n_train']} training / "
        f"{np.mean([s['n_test'] for s in results[n]['splits']]):.0f} held-out "
        f"questions, {len(results[n]['splits'])} splits, prior chosen: "
        + ", ".join(s["prior"] for s in results[n]["splits"])
        + f" ({results[n]['package']})"
        for n in DATA_SETS if n in results
    )
    return markdown_table(headers, lines), sizes


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=SHARED_DATA)
    p.add_argument("--parts", default="speed,recall")
    p.add_argument("--datasets", default=",".join(DATA_SETS))
    p.add_argument("--results-dir", type=Path,
                   default=Path(tempfile.gettempdir()) / "low_rank")
    args = p.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    threadpool_limits(limits=1, user_api="blas")
    load_start = load_average()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    if "speed" in parts:
        result = speed(args.quick)
        (args.results_dir / "speed.json").write_text(json.dumps(result))
    if "recall" in parts:
        for name in filter(None, args.datasets.split(",")):
            if name != "faq_demo" and not (args.data_root / name).exists():
                print(f"skipping {name}: not in {args.data_root}")
                continue
            n_splits, ranks = (1, [4, 16]) if args.quick else (N_SPLITS, RECALL_RANKS)
            result = recall(name, load_dataset(name, args.data_root), n_splits,
                            DATA_SETS[name], ranks)
            (args.results_dir / f"{name}.json").write_text(json.dumps(result))
    found = {path.stem: json.loads(path.read_text())
             for path in sorted(args.results_dir.glob("*.json"))}
    text = (
        "Produced by `python benchmarks/low_rank.py`; its two parts may run in "
        "separate "
        "processes (`--parts speed`, `--parts recall`), the section written from all "
        "results in `--results-dir`, the command below being the last one.\n\n"
    )
    if "speed" in found:
        s = found["speed"]
        text += (
            f"FAQ-like synthetic data (`faq_rows`): {s['n_clusters']:,} clusters x 3 "
            f"questions, d = p = {s['d']}, float32, K = {s['K']}, "
            f"`SmoothingBasisRegressor(n_basis={s['K']}, basis_rank=r, prior=None, "
            f"max_iter={s['max_iter']}, tol=0, random_state=0)`: the fit (the init, "
            f"`init=\"svd\"` or `\"random\"`, and {s['max_iter']} solver iterations) "
            "and the routed prediction of "
            f"{s['n_queries']:,} new questions, CPU seconds of one BLAS thread side by "
            "side in one run; peak traced memory (tracemalloc) of a second run of the "
            f"same call ({s['package']}).\n\n" + speed_table(s) + "\n\n"
        )
    recall_results = {k: v for k, v in found.items() if k in DATA_SETS}
    if recall_results:
        table, sizes = recall_table(recall_results)
        text += (
            "Routed Recall@1 of the held-out questions among all answers against the "
            "rank, the real-data protocol (`split_dataset`, 3 training questions per "
            "cluster); on each split every model gets the prior map the default "
            f"model chose (given as an array), `max_iter={MAX_ITER}`, "
            "`random_state=0`, other parameters at their defaults, so the rank is the "
            f"only difference. {sizes}.\n\n" + table + "\n"
        )
    report(args.output, "low-rank",
           "Low-rank basis maps (basis_rank): speed, memory, Recall@1", text,
           quick=args.quick, command=command_line(), load_start=load_start)


if __name__ == "__main__":
    main()
