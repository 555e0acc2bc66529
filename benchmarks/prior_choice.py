"""The prior chosen by the data (``prior="auto"``) against the three fixed priors.

Protocol of issue 21, on each data set: random splits with 3 training questions per
cluster, the rest held out (clinc150: 2000 of them, drawn at random); on the UnifyWeaver
LDA database only questions whose text is not among the training questions are held
out. ``SmoothingBasisRegressor(prior=P, max_iter=20, random_state=0)``, every other
parameter at its default, for P in identity, shared, contrastive and auto, is fitted
on the training questions and scored by routed Recall@1 and MRR of the held-out
questions among all answers; zero-shot cosine (the question embedding itself) beside
them. The table shows means over the splits, which prior ``"auto"`` chose on each
split, and the split-to-split noise: the standard deviation over the splits of the
difference between ``"auto"`` and zero-shot.

Data: the bundled demo, ``../shared/data`` (unifyweaver_qa, clinc150) and
``../shared/data/unifyweaver_lda/unified.db`` through
:func:`~sklearn_smoothbasis.datasets.load_lda_database`, which embeds its texts with
all-MiniLM-L6-v2 (the ``embed`` extra): the embeddings are cached outside the repo
(``--lda-cache``) so later runs need no encoder.

Each data set's per-split results go to ``--results-dir`` (outside the repo), so data
sets can run in separate processes; the table is written to ``docs/benchmarks.md`` from
every data set found there.

    python benchmarks/prior_choice.py [--datasets
    faq_demo,unifyweaver_qa,clinc150,unifyweaver_lda]
"""

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch

from sklearn_smoothbasis import SmoothingBasisRegressor
from sklearn_smoothbasis.compare import retrieval_split, split_dataset
from sklearn_smoothbasis.metrics import mean_reciprocal_rank, recall_at_k

from _bench_utils import PACKAGE_STATE, command_line, load_dataset
from _report import BENCHMARKS_PAGE, SHARED_DATA, machine, write_section

DATASETS = ["faq_demo", "unifyweaver_qa", "clinc150", "unifyweaver_lda"]
PRIORS = ["identity", "shared", "contrastive", "auto"]
N_SPLITS = 5
MAX_ITER = 20


def load(name, data_root, lda_cache):
    if name != "unifyweaver_lda":
        return load_dataset(name, data_root)
    if not lda_cache.exists():
        from sklearn_smoothbasis.datasets import load_lda_database

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the merged clusters, named
            data = load_lda_database(data_root / "unifyweaver_lda" / "unified.db")
        np.savez(lda_cache, X=data.X, groups=data.groups, answers=data.answers,
                 questions=np.asarray(data.questions))
    cached = np.load(lda_cache)
    return Bunch(
        **{key: cached[key] for key in ("X", "groups", "answers", "questions")}
    )


def split(name, data, seed):
    if name != "unifyweaver_lda":
        max_test = 2000 if name == "clinc150" else None
        return split_dataset(data, n_train=3, max_test=max_test, random_state=seed)
    train, test = retrieval_split(data.groups, n_train=3, random_state=seed)
    seen = set(data.questions[train])
    test = test[[question not in seen for question in data.questions[test]]]
    return data.X[train], data.groups[train], data.X[test], data.groups[test]


def run(name, data, n_splits):
    answers, results = data.answers, []
    for seed in range(n_splits):
        X_train, g_train, X_test, g_test = split(name, data, seed)
        truth = answers[g_test]
        row = {
            "n_clusters": len(answers),
            "n_train": len(X_train),
            "n_test": len(X_test),
            "zero-shot": [
                recall_at_k(truth, X_test, candidates=answers),
                mean_reciprocal_rank(truth, X_test, candidates=answers),
            ],
        }
        for prior in PRIORS:
            model = SmoothingBasisRegressor(
                prior=prior, max_iter=MAX_ITER, random_state=0
            )
            model.fit(X_train, answers[g_train], groups=g_train)
            predicted = model.predict(X_test)
            row[prior] = [recall_at_k(truth, predicted, candidates=answers),
                          mean_reciprocal_rank(truth, predicted, candidates=answers)]
        row["choice"], row["scores"] = model.prior_choice_, model.prior_scores_
        print(name, seed, json.dumps(row), flush=True)
        results.append(row)
    return {"package": PACKAGE_STATE, "splits": results}


def table(results):
    names = [n for n in DATASETS if n in results]
    head = "| model | " + " | ".join(names) + " |"
    lines = [head, "|---|" + "---|" * len(names)]
    rows = ["zero-shot"] + PRIORS
    labels = {"zero-shot": "zero-shot cosine", "identity": 'prior="identity"',
              "shared": 'prior="shared"', "contrastive": 'prior="contrastive"',
              "auto": 'prior="auto" (default)'}
    for model in rows:
        cells = []
        for n in names:
            scores = np.array([s[model] for s in results[n]["splits"]])
            cells.append(f"{scores[:, 0].mean():.3f} / {scores[:, 1].mean():.3f}")
        lines.append(f"| {labels[model]} | " + " | ".join(cells) + " |")
    choices, noise, margin = [], [], []
    for n in names:
        splits = results[n]["splits"]
        picked = [s["choice"] for s in splits]
        choices.append(", ".join(f"{p} {picked.count(p)}" for p in PRIORS[:3]
                                 if picked.count(p)))
        auto = np.array([s["auto"][0] for s in splits])
        zero = np.array([s["zero-shot"][0] for s in splits])
        best = max(np.mean([s[p][0] for s in splits]) for p in PRIORS[:3])
        noise.append(
            f"{100 * (auto - zero).mean():+.1f} ± {100 * (auto - zero).std(ddof=1):.1f}"
        )
        best_prior = max(PRIORS[:3], key=lambda p: np.mean([s[p][0] for s in splits]))
        best_scores = np.array([s[best_prior][0] for s in splits])
        margin.append(
            f"{100 * (auto.mean() - best):+.1f} ± "
            f"{100 * (auto - best_scores).std(ddof=1):.1f} ({best_prior})"
        )
    lines.append('| "auto" chose (splits) | ' + " | ".join(choices) + " |")
    lines.append('| "auto" minus zero-shot, points (mean ± sd over splits) | '
                 + " | ".join(noise) + " |")
    lines.append(
        '| "auto" minus the best fixed prior, points (mean ± sd over splits) | '
        + " | ".join(margin) + " |"
    )
    sizes = "; ".join(
        f"{n}: {results[n]['splits'][0]['n_clusters']} clusters, "
        f"{results[n]['splits'][0]['n_train']} training / "
        f"{np.mean([s['n_test'] for s in results[n]['splits']]):.0f} held-out "
        "questions, "
        f"{len(results[n]['splits'])} splits ({results[n]['package']})"
        for n in names
    )
    return "\n".join(lines), sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--splits", type=int, default=N_SPLITS)
    scratch = Path(tempfile.gettempdir())
    parser.add_argument("--results-dir", type=Path, default=scratch / "prior_choice")
    parser.add_argument("--lda-cache", type=Path, default=scratch / "lda_embedded.npz")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    for name in filter(None, args.datasets.split(",")):
        if name != "faq_demo" and not (args.data_root / name).exists():
            print(f"{name}: not in {args.data_root}, skipped")
            continue
        data = load(name, args.data_root, args.lda_cache)
        result = run(name, data, args.splits)
        (args.results_dir / f"{name}.json").write_text(json.dumps(result))
    results = {path.stem: json.loads(path.read_text())
               for path in sorted(args.results_dir.glob("*.json"))}
    lines, sizes = table(results)
    lda_source = "`unified.db` through `load_lda_database` (cached in `--lda-cache`)"
    if args.lda_cache.exists() and "source" in np.load(args.lda_cache).files:
        lda_source = str(np.load(args.lda_cache)["source"])
    text = (
        "### The prior chosen by the data\n\n"
        "Routed Recall@1 / MRR of the held-out questions among all answers, mean over "
        "random splits with 3 training questions per cluster (clinc150: 2000 held-out "
        f"questions; unifyweaver_lda: {lda_source}; only questions whose text is not "
        "a training question held out), of `SmoothingBasisRegressor(prior=P, "
        "max_iter=20, "
        "random_state=0)`, every other parameter at its default. "
        f"{sizes}. The split-to-split noise is the standard deviation over the splits "
        "of the difference from zero-shot. Produced by `python "
        "benchmarks/prior_choice.py` "
        "(each data set in its own process, `--datasets NAME`, the table written from "
        f"all their results; this run: `{command_line()}`) on {machine()}.\n\n"
        + lines
        + "\n"
    )
    print(text)
    write_section(BENCHMARKS_PAGE, "prior-choice", text)


if __name__ == "__main__":
    main()
