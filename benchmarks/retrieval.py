"""Retrieval quality on the real datasets: the ``smoothbasis compare`` protocol on each.

The bundled demo and every dataset in ``../shared/data`` (or ``--data-root``: every
folder with an ``embeddings.npz``): 3 training questions per cluster, the rest held out
(at most a fixed random 5000 of them, which only clinc150 exceeds); a dataset with one
question per cluster (unifyweaver_smoothing) trains on those and tests on its queries. A
dataset with more questions per cluster *and* queries of its own (unifyweaver_qa) gets a
second table that trains on all its questions and tests on those queries: questions
written apart from the training pool, not paraphrases drawn from it. Every
method is tuned alike on the training rows (see ``sklearn_smoothbasis.compare``), all
seeds fixed. Under each table, a ceiling that is not a result: every candidate of every
grid refitted and scored on the held-out questions themselves, the best per method and
the fraction of questions at least one candidate retrieves. Writes its section of
``docs/benchmarks.md``.

    python benchmarks/retrieval.py [--data-root ../shared/data] [--datasets clinc150
    ...]
"""

import argparse
import datetime
import sys
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid

from sklearn_smoothbasis._linalg import unit_rows
from sklearn_smoothbasis.compare import (
    METHOD_NAMES,
    compare_retrieval,
    format_table,
    search_spaces,
    split_dataset,
)
from sklearn_smoothbasis.datasets import load_embedded_clusters, load_faq_demo

from _report import BENCHMARKS_PAGE, REPO, SHARED_DATA, machine, write_section

MAX_TEST = 5000


def available_datasets(data_root):
    """The bundled demo, then every dataset folder under ``data_root``, by name."""
    folders = sorted(
        p.name for p in data_root.glob("*") if (p / "embeddings.npz").is_file()
    )
    return ["faq_demo"] + folders


def protocols(name, data):
    """``(title, n_train)`` of each table of a dataset: 3 training questions per
    cluster, and all of them with the dataset's own queries held out where it has
    both."""
    largest = np.bincount(data.groups).max()
    yield name, 3
    if largest > 3 and getattr(data, "X_query", None) is not None:
        yield f"{name}, its own held-out queries", largest


def run(title, data, n_train, seed=0):
    X_train, g_train, X_test, g_test = split_dataset(
        data, n_train=n_train, max_test=MAX_TEST, random_state=seed
    )
    spaces = search_spaces(X_train.shape[1], data.answers.shape[1], cosine_weight=0.5,
                           random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rows = compare_retrieval(X_train, g_train, X_test, g_test, data.answers,
                                 spaces=spaces, cv=3, random_state=seed,
                                 progress=lambda line: print(line, file=sys.stderr))
        # The ceiling refits every candidate of the plain grids (the smoothing basis's
        # tuning by SmoothingBasisRegressorCV scores the same candidates).
        plain = search_spaces(X_train.shape[1], data.answers.shape[1],
                              cosine_weight=0.5, random_state=seed, efficient_cv=False)
        ceiling = _ceiling(plain, X_train, g_train, X_test, g_test, data.answers)
    header = (f"#### {title}: {len(data.answers)} clusters, {len(X_train)} training / "
              f"{len(X_test)} held-out questions\n")
    return rows, header, ceiling


def _ceiling(spaces, X_train, g_train, X_test, g_test, answers):
    """What no tuning can beat: every candidate of every grid scored on held-out rows.

    Returns the best Recall@1 of each method's candidates (chosen on the held-out
    questions, so an upper bound of what its tuning could pick) and the fraction of
    held-out questions that at least one candidate of any method retrieves.
    """
    best, hit_any = {}, np.zeros(len(g_test), dtype=bool)
    unit_answers = unit_rows(answers)
    for method, (estimator, grid) in spaces.items():
        for params in ParameterGrid(grid) if grid else [{}]:
            model = clone(estimator).set_params(**params)
            pred = model.fit(X_train, answers[g_train], groups=g_train).predict(X_test)
            hits = (pred @ unit_answers.T).argmax(axis=1) == g_test
            best[method] = max(best.get(method, 0.0), hits.mean())
            hit_any |= hits
    return best, hit_any.mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=lambda p: __import__("pathlib").Path(p),
                        default=SHARED_DATA)
    parser.add_argument("--datasets", nargs="*",
                        help="names to run (default: the demo and every dataset found)")
    args = parser.parse_args()
    sections, summary = [], []
    for name in args.datasets or available_datasets(args.data_root):
        if name != "faq_demo" and not (args.data_root / name).exists():
            print(f"skipping {name}: not in {args.data_root}", file=sys.stderr)
            continue
        data = (load_faq_demo() if name == "faq_demo"
                else load_embedded_clusters(args.data_root / name))
        for title, n_train in protocols(name, data):
            rows, header, (best, union) = run(title, data, n_train)
            best_baseline = max(r["recall_at_1"] for r in rows
                                if r["method"] != "smoothing_basis")
            ours = next(
                r["recall_at_1"] for r in rows if r["method"] == "smoothing_basis"
            )
            verdict = (
                f"smoothing basis {ours:.3f} vs best baseline {best_baseline:.3f}: "
                f"{100 * (ours - best_baseline):+.1f} points of Recall@1"
            )
            ceiling = (
                "Ceiling, chosen on the held-out questions (not a result): best "
                "candidate "
                "of each grid "
                + ", ".join(f"{METHOD_NAMES[m]} {r:.3f}" for m, r in best.items())
                + f"; retrieved by at least one candidate of any method: {union:.3f}."
            )
            print(header + format_table(rows) + "\n" + verdict + "\n" + ceiling + "\n",
                  flush=True)
            summary.append(f"{title} {ours:.3f} vs {best_baseline:.3f}")
            sections.append(header + "\n" + format_table(rows, markdown=True) + "\n\n"
                            + verdict + "\n\n" + ceiling + "\n")
    text = (
        "Held-out questions, routed (the query's cluster is not given); Recall@1 and "
        "MRR "
        "among all answers. Every method tuned by the same 3-fold cluster-stratified "
        "CV "
        "on the training questions only. Produced by `python benchmarks/retrieval.py` "
        "on "
        f"{machine()}.\n\n" + "\n".join(sections)
    )
    write_section(BENCHMARKS_PAGE, "retrieval",
                  "### Held-out questions, every method tuned\n\n" + text)
    # The README gets one line, not the tables.
    write_section(
        REPO / "README.md",
        "retrieval-summary",
        (
            "Routed Recall@1 on held-out questions, every method tuned alike on the "
            "training "
            "questions: smoothing basis against the best baseline, "
            + "; ".join(summary)
            + " (`python benchmarks/retrieval.py`, "
              f"{datetime.date.today().isoformat()}; "
            "tables in `docs/benchmarks.md`)."
        ),
        target=False,
    )


if __name__ == "__main__":
    main()
