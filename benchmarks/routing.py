"""Whitened versus plain cosine routing, on random splits of every data set.

For each data set: random splits with 3 training questions per cluster (5 of the
bundled demo and unifyweaver_qa, 3 of clinc150 with 2000 held-out questions), and on
the held-out questions, routed (cluster not given):

- nearest-centroid accuracy: the Recall@1 of ``MultiHeadRegressor(routing="hard")``,
  which predicts the answer of the nearest centroid, so its Recall@1 is the fraction of
  questions routed to their own cluster;
- Recall@1 of ``SmoothingBasisRegressor()`` at its defaults;

each with ``routing_shrinkage=1.0`` (plain cosine) and ``"auto"`` (whitened by the
Ledoit-Wolf-shrunk within-cluster covariance), and the mean shrinkage ``"auto"`` chose.
Writes the table to ``docs/benchmarks.md``.

    python benchmarks/routing.py [--data-root ../shared/data]
"""

import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis import MultiHeadRegressor, SmoothingBasisRegressor
from sklearn_smoothbasis.compare import split_dataset
from sklearn_smoothbasis.datasets import load_embedded_clusters, load_faq_demo
from sklearn_smoothbasis.metrics import recall_at_k

from _report import BENCHMARKS_PAGE, SHARED_DATA, machine, write_section

SPLITS = {"faq_demo": 5, "unifyweaver_qa": 5, "clinc150": 3}
ROUTINGS = [1.0, "auto"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    for name, n_splits in SPLITS.items():
        if name != "faq_demo" and not (args.data_root / name).exists():
            continue
        data = load_faq_demo() if name == "faq_demo" else load_embedded_clusters(
            args.data_root / name)
        answers = data.answers
        max_test = 2000 if name == "clinc150" else None
        scores = {}
        for seed in range(n_splits):
            X_train, g_train, X_test, g_test = split_dataset(
                data, n_train=3, max_test=max_test, random_state=seed)
            for routing_shrinkage in ROUTINGS:
                for method, estimator in [
                    ("nearest centroid", MultiHeadRegressor(routing="hard")),
                    ("smoothing basis", SmoothingBasisRegressor(random_state=0)),
                ]:
                    model = estimator.set_params(routing_shrinkage=routing_shrinkage)
                    model.fit(X_train, answers[g_train], groups=g_train)
                    recall = recall_at_k(answers[g_test], model.predict(X_test),
                                         candidates=answers)
                    scores.setdefault((method, routing_shrinkage), []).append(recall)
                    scores.setdefault(("rho", routing_shrinkage), []).append(
                        model.routing_shrinkage_)
        cells = [name, str(n_splits)]
        for method in ["nearest centroid", "smoothing basis"]:
            plain, whitened = (np.mean(scores[method, r]) for r in ROUTINGS)
            cells += [
                f"{plain:.3f}",
                f"{whitened:.3f}",
                f"{100 * (whitened - plain):+.1f}",
            ]
        cells.append(f"{np.mean(scores['rho', 'auto']):.2f}")
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    header = (
        "| data set | splits | nearest centroid, plain | whitened | change (points) "
        "| smoothing basis, plain | whitened | change (points) | Ledoit-Wolf shrinkage "
        "|"
    )
    text = (
        "### Whitened routing\n\n"
        "Mean over random splits (3 training questions per cluster) of routed results "
        "on "
        "the held-out questions: nearest-centroid accuracy (the Recall@1 of the hard "
        "multi-head router) and the Recall@1 of `SmoothingBasisRegressor()` at its "
        "defaults, with plain cosine routing (`routing_shrinkage=1.0`) and routing "
        'whitened by the within-cluster covariance (`"auto"`, the default). Produced '
        'by '
        f"`python benchmarks/routing.py` on {machine()}.\n\n"
        + header
        + "\n|"
        + "---|" * 9
        + "\n"
        + "\n".join(rows)
        + "\n"
    )
    print(text)
    write_section(BENCHMARKS_PAGE, "routing", text)


if __name__ == "__main__":
    main()
