"""The contrastive prior's two constants, and what the per-cluster maps add to it.

``prior="contrastive"`` refines the shared ridge map with a softmax cross-entropy at a
fixed temperature and a fixed penalty toward the ridge map (the private constants
``_CONTRASTIVE_TEMPERATURE`` and ``_CONTRASTIVE_PENALTY`` of ``_prior.py``, not
estimator parameters). This script refits that prior at every temperature x penalty
below on random splits with 3 training questions per cluster (5 of the bundled demo
and of unifyweaver_qa, 1 of clinc150 with 2000 held-out questions) and reports routed
Recall@1 on the held-out questions of

- ``SmoothingBasisRegressor(prior=P)``, every other parameter at its default (so the
  row of the default constants is ``SmoothingBasisRegressor()`` itself; checked), and
- the prior map alone, ``X_test @ P``: one shared map, no clusters, no routing.

The second column is the model without its per-cluster part; the difference between
the two is what the smoothing basis adds to its own prior. Writes the table to
``docs/benchmarks.md``.

    python benchmarks/prior_ablation.py [--data-root ../shared/data]
"""

import argparse
import itertools
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis import SmoothingBasisRegressor
from sklearn_smoothbasis._linalg import sort_by_cluster
from sklearn_smoothbasis._prior import (
    _CONTRASTIVE_PENALTY,
    _CONTRASTIVE_TEMPERATURE,
    contrastive_map,
    ridge_prior,
)
from sklearn_smoothbasis.compare import split_dataset
from sklearn_smoothbasis.datasets import load_embedded_clusters, load_faq_demo
from sklearn_smoothbasis.metrics import recall_at_k

from _report import BENCHMARKS_PAGE, SHARED_DATA, machine, write_section

SPLITS = {"faq_demo": 5, "unifyweaver_qa": 5, "clinc150": 1}
TEMPERATURES = [0.02, 0.05, 0.1]
PENALTIES = [1e-4, 1e-3, 1e-2]


def contrastive_prior(X, Y, groups, temperature, penalty):
    """The prior ``SmoothingBasisRegressor()`` fits, with the contrastive constants "
    "given."""
    order, starts = sort_by_cluster(np.unique(groups, return_inverse=True)[1])
    X, Y = X[order], Y[order]
    ridge, _ = ridge_prior(X, Y, starts)
    return contrastive_map(X, Y, ridge, temperature=temperature, penalty=penalty)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    settings = list(itertools.product(TEMPERATURES, PENALTIES))
    default = (_CONTRASTIVE_TEMPERATURE, _CONTRASTIVE_PENALTY)
    names = [n for n in SPLITS if n == "faq_demo" or (args.data_root / n).exists()]
    scores = {}
    for name in names:
        data = load_faq_demo() if name == "faq_demo" else load_embedded_clusters(
            args.data_root / name)
        answers = data.answers
        max_test = 2000 if name == "clinc150" else None
        for seed in range(SPLITS[name]):
            X_train, g_train, X_test, g_test = split_dataset(
                data, n_train=3, max_test=max_test, random_state=seed)
            Y_train = answers[g_train]
            for setting in settings:
                prior = contrastive_prior(X_train, Y_train, g_train, *setting)
                model = SmoothingBasisRegressor(prior=prior, random_state=0)
                model.fit(X_train, Y_train, groups=g_train)
                if setting == default:  # the replica is the estimator's own prior
                    reference = SmoothingBasisRegressor(random_state=0)
                    reference.fit(X_train, Y_train, groups=g_train)
                    np.testing.assert_allclose(
                        prior, reference.prior_, rtol=1e-5, atol=1e-6
                    )
                for kind, Y_pred in [("estimator", model.predict(X_test)),
                                     ("map alone", X_test @ prior)]:
                    recall = recall_at_k(answers[g_test], Y_pred, candidates=answers)
                    scores.setdefault((name, setting, kind), []).append(recall)
        print(f"{name}: done", flush=True)

    header = ["temperature", "penalty"] + [f"{n}: {kind}" for n in names
                                           for kind in ["estimator", "map alone"]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for setting in settings:
        cells = [f"{setting[0]:g}", f"{setting[1]:g}"] + [
            f"{np.mean(scores[name, setting, kind]):.3f}"
            for name in names for kind in ["estimator", "map alone"]]
        if setting == default:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    def gain(name):  # what the per-cluster maps add to the prior, in points
        return 100 * (np.mean(scores[name, default, "estimator"])
                      - np.mean(scores[name, default, "map alone"]))

    gains = "; ".join(f"{name} {gain(name):+.1f}" for name in names)
    text = (
        "### The contrastive prior: its constants, and the per-cluster maps on top of "
        "it\n\n"
        "Mean routed Recall@1 on the held-out questions over random splits (3 training "
        "questions per cluster; "
        f"{', '.join(f'{n} {k}' for n, k in SPLITS.items() if n in names)}"
        " splits, clinc150 with 2000 held-out questions) of "
        "`SmoothingBasisRegressor(prior=P)` (every other parameter at its default) and "
        "of "
        "the prior map alone (`X @ P`: no clusters, no routing), with P the "
        "contrastive "
        "prior refitted at each temperature and penalty. The defaults (module "
        "constants, "
        "not estimator parameters) are in bold; that row is "
        "`SmoothingBasisRegressor()`. "
        "What the per-cluster maps add to the prior at the defaults, in points: "
        f"{gains}. Produced by `python benchmarks/prior_ablation.py` on "
        f"{machine()}.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    print(text)
    write_section(BENCHMARKS_PAGE, "prior-ablation", text)


if __name__ == "__main__":
    main()
