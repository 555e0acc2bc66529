"""One training question per cluster: what the training data cannot tell the model.

unifyweaver_smoothing has one question per cluster, and there the smoothing basis
trails the shared ridge map. This script puts that set beside the same regime built
from the other data sets (one training question per cluster, the rest held out: 5
random splits of the bundled demo and of unifyweaver_qa, 3 of clinc150 with 2000
held-out questions; unifyweaver_smoothing: its 18 questions and its 54 queries) and
reports routed Recall@1 on the held-out questions of:

- nearest training question: ``MultiHeadRegressor(routing="hard")`` with plain cosine
  routing, which answers with the cluster of the most similar training question;
- zero-shot cosine: the answer most similar to the question itself;
- the best candidate of every baseline grid (``compare.search_spaces``), fixed
  parameters, chosen on the held-out questions (an upper bound for the baselines);
- ``SmoothingBasisRegressor()`` at its defaults: with no two rows sharing an answer the
  contrastive step is skipped and the prior is the ridge map toward the identity;
- the same with the prior set to the ridge map toward zero (``alpha=1``), which can
  only predict mixtures of the training answers;
- the same with every answer added to its cluster as one more training question,
  which gives each cluster two rows sharing an answer, so the contrastive step runs.

On unifyweaver_smoothing it also fits every setting of a wide grid of the smoothing
basis (the prior toward the identity or toward zero at three strengths x shrinkage x
temperature x cosine_weight x n_basis, 864 settings) and reports the best, chosen on
the queries: the ceiling of the model there, to set against the issue's bar (2
points above the best baseline). Writes the table to ``docs/benchmarks.md``.

    python benchmarks/one_question.py [--data-root ../shared/data]
"""

import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid

from sklearn_smoothbasis import (
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis._linalg import linear_map
from sklearn_smoothbasis.compare import search_spaces, split_dataset
from sklearn_smoothbasis.datasets import load_embedded_clusters, load_faq_demo
from sklearn_smoothbasis.metrics import recall_at_k

from _report import BENCHMARKS_PAGE, SHARED_DATA, machine, write_section

SPLITS = {"faq_demo": 5, "unifyweaver_qa": 5, "clinc150": 3, "unifyweaver_smoothing": 1}
COLUMNS = ["nearest training question", "zero-shot cosine", "best baseline candidate",
           "smoothing basis, defaults", "prior: ridge map toward zero",
           "answers added as questions"]


def with_answers_as_questions(X, Y, groups):
    """Training rows plus one row per cluster whose question is the cluster's answer."""
    clusters, first = np.unique(groups, return_index=True)
    return (np.vstack([X, Y[first]]), np.vstack([Y, Y[first]]),
            np.concatenate([groups, clusters]))


def recalls(X_train, g_train, X_test, g_test, answers, baselines):
    """Recall@1 of every column of the table on one split."""
    Y_train = answers[g_train]

    def recall(model, X=X_train, Y=Y_train, groups=g_train):
        model = clone(model).fit(X, Y, groups=groups)
        return recall_at_k(answers[g_test], model.predict(X_test), candidates=answers)

    toward_zero = SharedProjectionRegressor(alpha=1.0).fit(X_train, Y_train).coef_
    return {
        "nearest training question": recall(
            MultiHeadRegressor(routing="hard", routing_shrinkage=1.0)),
        "zero-shot cosine": recall(SharedProjectionRegressor(method="identity")),
        "baselines": [recall(model) for model in baselines],
        "smoothing basis, defaults": recall(SmoothingBasisRegressor(random_state=0)),
        "prior: ridge map toward zero": recall(
            SmoothingBasisRegressor(prior=toward_zero, random_state=0)),
        "answers added as questions": recall(
            SmoothingBasisRegressor(random_state=0),
            *with_answers_as_questions(X_train, Y_train, g_train)),
    }


CEILING_GRID = {
    "toward_identity": [True, False],
    "prior_alpha": [0.3, 1.0, 3.0],
    "alpha": [0.01, 0.1, 0.3, 1.0, 3.0, 10.0],
    "routing_temperature": [0.01, 0.03, 0.1, 0.3],
    "cosine_weight": [0.0, 0.5, 1.0],
    "n_basis": [2, "auto"],
}


def ceiling(X_train, g_train, X_test, g_test, answers):
    """Recall@1 of every setting of :data:`CEILING_GRID`, on the held-out questions."""
    Y_train = answers[g_train]
    recalls = []
    for setting in ParameterGrid(CEILING_GRID):
        params = dict(setting)
        toward_identity, alpha = (
            params.pop("toward_identity"),
            params.pop("prior_alpha"),
        )
        center = (
            np.eye(X_train.shape[1], dtype=X_train.dtype) if toward_identity else None
        )
        prior = linear_map(X_train, Y_train, "ridge", alpha, center=center)
        model = SmoothingBasisRegressor(prior=prior, random_state=0, **params)
        model.fit(X_train, Y_train, groups=g_train)
        recalls.append(
            recall_at_k(answers[g_test], model.predict(X_test), candidates=answers)
        )
    return np.array(recalls)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    names = [n for n in SPLITS if n == "faq_demo" or (args.data_root / n).exists()]
    rows, ceiling_line = [], ""
    for name in names:
        data = load_faq_demo() if name == "faq_demo" else load_embedded_clusters(
            args.data_root / name)
        max_test = 2000 if name == "clinc150" else None
        spaces = search_spaces(
            data.X.shape[1], data.answers.shape[1], cosine_weight=0.5
        )
        baselines = [
            clone(est).set_params(**params)
            for method, (est, grid) in spaces.items()
            if method != "smoothing_basis"
            for params in (ParameterGrid(grid) if grid else [{}])
        ]
        per_split = [
            recalls(
                *split_dataset(data, n_train=1, max_test=max_test, random_state=seed),
                data.answers,
                baselines,
            )
            for seed in range(SPLITS[name])
        ]
        means = {column: np.mean([s[column] for s in per_split])
                 for column in COLUMNS if column != "best baseline candidate"}
        means["best baseline candidate"] = np.max(
            np.mean([s["baselines"] for s in per_split], axis=0)
        )
        if name == "unifyweaver_smoothing":
            split = split_dataset(data, n_train=1, max_test=max_test, random_state=0)
            settings = ceiling(*split, data.answers)
            n_test = len(split[3])
            bar = means["best baseline candidate"] + 0.02
            grid_text = "; ".join(f"{k} in {', '.join(map(str, v))}"
                                  for k, v in CEILING_GRID.items())
            ceiling_line = (
                f"unifyweaver_smoothing, {len(settings)} settings of the smoothing "
                "basis "
                f"(grid: {grid_text}), chosen on the {n_test} queries: best "
                f"{settings.max():.3f} ({round(settings.max() * n_test)} of {n_test}), "
                f"reached by {np.sum(settings == settings.max())}; the bar, 2 points "
                "above "
                f"the best baseline candidate, is {bar:.3f} "
                f"({int(np.ceil(bar * n_test - 1e-9))} of {n_test}), reached by "
                f"{np.sum(settings >= bar - 1e-12)}."
            )
            print(ceiling_line, flush=True)
        rows.append("| " + " | ".join([name, str(SPLITS[name])]
                                      + [f"{means[c]:.3f}" for c in COLUMNS]) + " |")
        print(rows[-1], flush=True)
    header = "| data set | splits | " + " | ".join(COLUMNS) + " |"
    text = (
        "### One training question per cluster\n\n"
        "Mean routed Recall@1 on the held-out questions with one training question per "
        "cluster (random splits of faq_demo, unifyweaver_qa and clinc150, 2000 "
        "held-out "
        "questions for clinc150; unifyweaver_smoothing: its own 18 questions and 54 "
        "queries). Best baseline candidate: the best fixed setting of any baseline "
        "grid, "
        "chosen on the held-out questions. The last two columns change the smoothing "
        "basis's prior (the ridge map toward zero, `alpha=1`) or its data (each answer "
        "added to its cluster as a question). Produced by "
        f"`python benchmarks/one_question.py` on {machine()}.\n\n"
        f"{header}\n|{'---|' * (len(COLUMNS) + 2)}\n"
        + "\n".join(rows)
        + "\n"
        + (f"\nCeiling: {ceiling_line}\n" if ceiling_line else "")
    )
    print(text)
    write_section(BENCHMARKS_PAGE, "one-question", text)


if __name__ == "__main__":
    main()
