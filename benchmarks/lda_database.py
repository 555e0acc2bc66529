"""UnifyWeaver's LDA database: the ``smoothbasis compare`` protocol on ``unified.db``.

The proposal's real-data test ("compare Recall@1 vs multi-head") run on its own data:
``../shared/data/unifyweaver_lda/unified.db`` read by ``load_lda_database``, its texts
embedded with all-MiniLM-L6-v2 (the ``embed`` extra). Clusters that share an answer
are merged and repeated (cluster, question) rows dropped by the loader (96 clusters ->
47, 384 question rows -> 188); each split keeps 3 training questions per cluster and
holds out the rest, except questions whose text is also a training question (in
another cluster), as ``split_dataset`` does; every method is tuned alike by 3-fold
cluster-stratified CV on the training questions; held-out questions are routed.
Several random splits (``--splits``, seeds 0, 1, ...), means and per-split values.
Writes its section of ``docs/benchmarks.md``.

    python benchmarks/lda_database.py [--db PATH] [--splits 5]
"""

import argparse
import os
import sqlite3
import subprocess
import sys
import warnings
from contextlib import closing

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis.compare import (
    METHOD_NAMES,
    compare_retrieval,
    search_spaces,
    split_dataset,
)
from sklearn_smoothbasis.datasets import load_lda_database

from _report import REPO, SHARED_DATA, machine, write_section

N_TRAIN = 3


def commit():
    """The repository's commit (with ``+changes`` when the tree differs from it)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        [
            "git",
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!docs",
        ],  # the page this script writes
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return head + ("+changes" if dirty else "")


def load(db):
    """The database as the loader returns it, and the loader's warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_lda_database(db)
    return data, [str(w.message) for w in caught]


def run_split(data, seed):
    """One split: the compare rows and the split's sizes."""
    X_train, g_train, X_test, g_test = split_dataset(
        data, n_train=N_TRAIN, random_state=seed
    )
    spaces = search_spaces(X_train.shape[1], data.answers.shape[1], random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rows = compare_retrieval(
            X_train,
            g_train,
            X_test,
            g_test,
            data.answers,
            spaces=spaces,
            cv=3,
            random_state=seed,
            progress=lambda line: print(line, file=sys.stderr),
        )
    return rows, len(X_train), len(X_test)


def summary_table(results):
    """Markdown: per method, mean Recall@1 and MRR over the splits, Recall@1 of each."""
    methods = [r["method"] for r in results[0][0]]
    by_method = {
        m: [next(r for r in rows if r["method"] == m) for rows, _, _ in results]
        for m in methods
    }
    order = sorted(
        methods, key=lambda m: -np.mean([r["recall_at_1"] for r in by_method[m]])
    )
    n = len(results)
    lines = [
        "| method | Recall@1 (mean) | MRR (mean) | Recall@1 per split | fit s (mean) |",
        "|---|---|---|---|---|",
    ]
    for m in order:
        recall = [r["recall_at_1"] for r in by_method[m]]
        lines.append(
            f"| {METHOD_NAMES.get(m, m)} | {np.mean(recall):.3f} | "
            f"{np.mean([r['mrr'] for r in by_method[m]]):.3f} | "
            + " ".join(f"{v:.3f}" for v in recall)
            + f" | {np.mean([r['fit_seconds'] for r in by_method[m]]):.2f} |"
        )
    ours = np.array([r["recall_at_1"] for r in by_method["smoothing_basis"]])
    verdicts = []
    for other in ("multi_head_router", "zero_shot_cosine"):
        if other not in by_method:
            continue
        theirs = np.array([r["recall_at_1"] for r in by_method[other]])
        diff = 100 * (ours - theirs)
        verdicts.append(
            f"smoothing basis vs {METHOD_NAMES.get(other, other)}: "
            f"{np.mean(diff):+.1f} points of Recall@1 on average (per split "
            + ", ".join(f"{d:+.1f}" for d in diff)
            + f"; better on {int(np.sum(diff > 0))} of {n}, "
            f"worse on {int(np.sum(diff < 0))})"
        )
    params = "; ".join(
        f"split {seed}: "
        + ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(r["params"].items())
        )
        for seed, r in enumerate(by_method["smoothing_basis"])
    )
    return "\n".join(lines), verdicts, params


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=SHARED_DATA / "unifyweaver_lda" / "unified.db")
    parser.add_argument("--splits", type=int, default=5)
    args = parser.parse_args()
    with closing(sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)) as db:
        args.db_counts = [
            db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("qa_clusters", "cluster_questions")
        ]
    data, notes = load(args.db)
    for note in notes:
        print(note, file=sys.stderr)
    results = []
    for seed in range(args.splits):
        print(f"split {seed} ...", file=sys.stderr, flush=True)
        results.append(run_split(data, seed))
        report(args, data, results)  # after each split: a long run leaves what it did


def report(args, data, results):
    """Print the section of the splits done so far and write it to the page."""
    table, verdicts, params = summary_table(results)
    def span(values):
        low, high = min(values), max(values)
        return f"{low}" if low == high else f"{low}-{high}"

    size_text = (
        f"{span([n_train for _, n_train, _ in results])} training / "
        f"{span([n_test for _, _, n_test in results])} held-out (per split)"
    )
    text = (
        "### UnifyWeaver's LDA database (unified.db)\n\n"
        'The proposal\'s real-data test, "compare Recall@1 vs multi-head", on its own '
        "database: `../shared/data/unifyweaver_lda/unified.db` read by "
        "`load_lda_database`, texts embedded with all-MiniLM-L6-v2. The database "
        f"holds {args.db_counts[0]} clusters and {args.db_counts[1]} "
        "(cluster, question) rows, many of them copies of the same FAQ entries "
        "imported more than once: "
        "the loader merges the clusters that share an answer and keeps each (cluster, "
        f"question) once, {len(data.answers)} clusters and {len(data.X)} questions; "
        f"{N_TRAIN} training questions per cluster, the rest held out except questions "
        "whose text is also a training question (of another cluster); "
        f"{size_text} questions. Every method tuned by the same 3-fold "
        f"cluster-stratified CV on the training questions, held-out questions routed; "
        f"{len(results)} random splits (seeds 0-{len(results) - 1}"
        + (f", of {args.splits} asked for" if len(results) < args.splits else "")
        + "). Produced by "
        f"`python benchmarks/lda_database.py --splits {args.splits}` at commit "
        f"{commit()} on {machine()}, load average {os.getloadavg()[0]:.0f} when it "
        "ended.\n\n"
        + table
        + "\n\n"
        + "\n\n".join(verdicts)
        + f"\n\nParameters CV chose for the smoothing basis: {params}.\n"
    )
    print(text)
    write_section(REPO / "docs" / "benchmarks.md", "lda-database", text)


if __name__ == "__main__":
    main()
