"""The ``smoothbasis`` command (also ``python -m sklearn_smoothbasis``).

``smoothbasis compare`` tunes SmoothingBasisRegressor and every baseline alike on the
training questions of a dataset and prints their held-out retrieval quality;
``smoothbasis fit`` fits one model and saves it.
"""

import argparse
import pickle
import sys
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning

from .compare import (
    compare_retrieval,
    format_table,
    plot_table,
    search_spaces,
    split_dataset,
    tune,
)
from ._smoothing_basis import SmoothingBasisRegressor
from .datasets import load_embedded_clusters, load_faq_demo, load_jsonl_clusters


def _bounded(kind, low, high=None, *, strict=False, also=None):
    """An argparse type: a ``kind`` (int or float) ``>= low`` (``> low`` if ``strict``)
    and ``<= high``, or the value ``also``."""
    if high is not None:
        interval = f"in [{low}, {high}]"
    else:
        interval = f"{'>' if strict else '>='} {low}"
    expected = f"{'an integer' if kind is int else 'a number'} {interval}"
    if also is not None:
        expected += f" (or {also})"

    def in_range(value):
        above_low = value > low if strict else value >= low
        return above_low and (high is None or value <= high)

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value != also and not in_range(value):  # NaN is never in range
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def _load(path):
    """The bundled demo (no path), an ``.npz``/dataset folder, or JSONL clusters.

    A file that is missing or malformed, or JSONL texts without the ``embed`` extra,
    end the command with the loader's message rather than a traceback.
    """
    if path is None:
        return load_faq_demo(), "bundled FAQ demo"
    path = Path(path)
    try:
        if path.suffix == ".jsonl":
            return load_jsonl_clusters(path), str(path)
        return load_embedded_clusters(path), str(path)
    except (OSError, ValueError, ImportError) as exc:
        raise SystemExit(f"error: cannot load --data {path}: {exc}") from None


def _cosine_weight(args):
    """The fixed cosine weight, or None (tune it) for a negative value."""
    return None if args.cosine_weight < 0 else args.cosine_weight


def _progress(line):
    print(line, file=sys.stderr, flush=True)


def _compare(args):
    data, name = _load(args.data)
    try:
        X_train, g_train, X_test, g_test = split_dataset(
            data, n_train=args.train_per_cluster, max_test=args.max_test,
            random_state=args.seed,
        )
    except ValueError as exc:
        # n_train is the command's --train-per-cluster: name what the user typed.
        raise SystemExit(f"error: {exc}".replace("n_train", "--train-per-cluster")) from None
    print(f"{name}: {len(data.answers)} clusters, {len(X_train)} training questions, "
          f"{len(X_test)} held-out questions (routed: their cluster is not given)")
    spaces = search_spaces(
        X_train.shape[1], data.answers.shape[1], n_basis=args.num_basis or "auto",
        max_iter=args.iterations, cosine_weight=_cosine_weight(args), random_state=args.seed,
    )
    with warnings.catch_warnings():
        # Early stopping at --iterations is intended here; say it once, not per fit.
        warnings.simplefilter("ignore", ConvergenceWarning)
        rows = compare_retrieval(
            X_train, g_train, X_test, g_test, data.answers, spaces=spaces, cv=args.cv,
            random_state=args.seed, progress=None if args.quiet else _progress,
        )
    print(format_table(rows))
    if args.plot:
        plot_table(rows, args.plot)
        print(f"plot written to {args.plot}")
    return rows


def _fit(args):
    out = Path(args.out)
    if not out.parent.is_dir():  # fail now, not after the fit
        raise SystemExit(f"error: --out {out}: no such directory {out.parent}")
    data, _ = _load(args.data)
    Y = data.answers[data.groups]
    space = search_spaces(
        data.X.shape[1], data.answers.shape[1], n_basis=args.num_basis or "auto",
        max_iter=args.iterations, cosine_weight=_cosine_weight(args), random_state=args.seed,
    )["smoothing basis"]
    estimator, grid = space
    fixed = {k: v for k, v in (("alpha", args.alpha), ("routing_temperature", args.routing_temperature))
             if v is not None}
    estimator.set_params(**fixed)
    if args.cv:
        grid = {k: v for k, v in grid.items() if k not in fixed}
        model, params, _ = tune(estimator, grid, data.X, Y, data.groups, cv=args.cv,
                                random_state=args.seed)
        print(f"chosen by {args.cv}-fold cluster-stratified CV: {params}")
    else:
        model = estimator.fit(data.X, Y, groups=data.groups)
    if out.suffix == ".skops":
        try:
            import skops.io as sio
        except ImportError as exc:
            raise SystemExit('error: .skops output needs skops: pip install skops') from exc
        sio.dump(model, out)
    else:
        with open(out, "wb") as f:
            pickle.dump(model, f)
    print(f"saved {type(model).__name__} ({model.n_basis_} basis maps, "
          f"{len(model.clusters_)} clusters) to {out}")
    return model


def build_parser():
    defaults = SmoothingBasisRegressor().get_params()
    parser = argparse.ArgumentParser(prog="smoothbasis", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--num-basis", type=_bounded(int, 1), default=None,
                       help="basis size K (default: ceil(sqrt(n_clusters)))")
        p.add_argument("--iterations", type=_bounded(int, 1), default=20,
                       help="max_iter of the smoothing-basis solver (default: 20)")
        p.add_argument("--cosine-weight", type=_bounded(float, 0, 1, also=-1), default=0.5,
                       help="cosine weight of the loss (default: 0.5); pass -1 to tune it "
                            "over 0 and 0.5")
        p.add_argument("--seed", type=_bounded(int, 0, 2**32 - 1), default=0,
                       help="seed of splits, folds and fits")

    cmp_ = commands.add_parser("compare", help="tune all methods alike, score held-out questions")
    cmp_.add_argument("--data", default=None,
                      help=".npz (X, groups, A), dataset folder or .jsonl; default: the demo")
    cmp_.add_argument("--train-per-cluster", type=_bounded(int, 1), default=3,
                      help="training questions per cluster, the rest are held out "
                           "(default: 3)")
    cmp_.add_argument("--max-test", type=_bounded(int, 1), default=None,
                      help="evaluate on at most this many held-out questions")
    cmp_.add_argument("--cv", type=_bounded(int, 2), default=3,
                      help="folds of the tuning CV (default: 3)")
    cmp_.add_argument("--plot", default=None, help="write the table as a bar chart (PNG)")
    cmp_.add_argument("--quiet", action="store_true", help="no progress lines")
    common(cmp_)
    cmp_.set_defaults(run=_compare)

    fit = commands.add_parser("fit", help="fit SmoothingBasisRegressor on a dataset and save it")
    fit.add_argument("--data", required=True, help=".npz (X, groups, A), dataset folder or .jsonl")
    fit.add_argument("--out", required=True, help="model file: .skops, or .pkl for pickle")
    fit.add_argument("--alpha", type=_bounded(float, 0), default=None,
                     help="pull of each cluster's map toward the prior (default: chosen "
                          f"by --cv, else {defaults['alpha']})")
    fit.add_argument("--routing-temperature", type=_bounded(float, 0, strict=True), default=None,
                     help="softmax temperature of the routing (default: chosen by --cv, "
                          f"else {defaults['routing_temperature']})")
    fit.add_argument("--cv", type=_bounded(int, 2), default=None,
                     help="choose the unset parameters by this many CV folds")
    common(fit)
    fit.set_defaults(run=_fit)
    return parser


def main(argv=None):
    """Entry point of the ``smoothbasis`` console script."""
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
