"""The ``smoothbasis`` command (also ``python -m sklearn_smoothbasis``).

``smoothbasis compare`` tunes SmoothingBasisRegressor and every baseline alike on the
training questions of a dataset and prints their held-out retrieval quality;
``smoothbasis fit`` fits one model and saves it (with ``--out x.npz``, as a retrieval
bundle: the model, the answers, the name of their encoder and optionally the
similarity below which a question is declined); ``smoothbasis ask`` answers questions
with a bundle, and ``smoothbasis add`` adds an entry known by its answer to a bundle
without refitting.

Every command reads its data the same way (``--data``, the bundled demo by default),
checks its output files before it starts, reports progress on standard error
(``--quiet`` turns it off) and reports solvers that stopped before converging in one
line each, not one warning per fit.
"""

import argparse
import math
import pickle
import sys
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid

from . import __version__
from ._files import atomic_write, atomic_write_path, check_writable
from ._smoothing_basis import SmoothingBasisRegressor
from .compare import (
    compare_retrieval,
    format_declining_table,
    format_table,
    search_spaces,
    split_dataset,
)
from .compare._protocol import _searched_params
from .compare._report import import_pyplot, plot_table
from .datasets import embed_texts, load_clusters, load_encoder, load_faq_demo
from .datasets._loaders import DEFAULT_ENCODER
from .io import RetrievalBundle, load_bundle, save_bundle
from .model_selection import ClusterStratifiedKFold, calibrate_min_similarity

DATA_FORMATS = """\
data (--data; default: the bundled FAQ demo, 49 clusters):
  an .npz archive (np.savez) with X (question embeddings), groups (cluster of each
  question, 0..N-1) and A (one answer embedding per cluster), optionally X_query
  and groups_query (separate queries); a folder holding such an archive as
  embeddings.npz; a .jsonl file of texts, one cluster per line,
  {"questions": [...], "answer": "..."}; or an SQLite database in UnifyWeaver's
  LDA schema (.db: qa_clusters, questions, answers and the tables linking them).
  Texts are embedded with all-MiniLM-L6-v2 (needs
  pip install "sklearn-smoothbasis[embed]") unless the database stores their
  vectors. Clusters that share an answer are merged into one, with a warning."""


def _bounded(kind, low, high=None, *, strict=False, strict_high=False):
    """An argparse type: a finite ``kind`` (int or float) ``>= low`` (``> low`` if
    ``strict``) and ``<= high`` (``< high`` if ``strict_high``)."""
    if high is not None:
        interval = (f"in {'(' if strict else '['}{low}, {high}"
                    f"{')' if strict_high else ']'}")
    else:
        interval = f"{'>' if strict else '>='} {low}"
    expected = f"{'an integer' if kind is int else 'a finite number'} {interval}"

    def in_range(value):
        above_low = value > low if strict else value >= low
        below_high = high is None or (value < high if strict_high else value <= high)
        return math.isfinite(value) and above_low and below_high

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {expected}, got {text!r}"
            ) from None
        if not in_range(value):  # NaN is never in range
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


# A fraction strictly between 0 and 1 (--decline-rate).
_RATE = _bounded(float, 0, 1, strict=True, strict_high=True)


# ---------------------------------------------------------------------------
# What every command shares: data, output checks, progress, convergence notes
# ---------------------------------------------------------------------------


def _load(args):
    """The data of ``--data``: the bundled demo (no path), or any file
    :func:`~sklearn_smoothbasis.datasets.load_clusters` reads (``.npz`` or dataset
    folder, JSONL clusters, LDA database).

    A file that is missing or malformed, or texts without the ``embed`` extra, end
    the command with the loader's message rather than a traceback; the loader's
    warnings (clusters merged because they share an answer, rows left out) are
    printed as one ``warning:`` line each on standard error.
    """
    if args.data is None:
        return load_faq_demo(), "bundled FAQ demo"
    path = Path(args.data)
    progress = _progress(args)
    try:
        if progress and path.suffix == ".jsonl":  # the encoder takes a while
            progress(f"embedding the texts of {path} with all-MiniLM-L6-v2 ...")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            data = load_clusters(path)
    except (OSError, ValueError, ImportError) as exc:
        raise SystemExit(f"error: cannot load --data {path}: {exc}") from None
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    return data, str(path)


def _check_num_basis(args, n_clusters):
    """``--num-basis`` larger than the number of clusters is a usage error."""
    if args.num_basis is not None and args.num_basis > n_clusters:
        args.parser.error(
            f"argument --num-basis: expected at most the number of clusters "
            f"({n_clusters}), got {args.num_basis}"
        )


def _check_output(option, path):
    """Fail now, in one line, if the file of ``option`` could not be written later."""
    try:
        return check_writable(path)
    except ValueError as exc:
        raise SystemExit(f"error: {option} {path}: {exc}") from None


def _check_plot(path):
    """A ``--plot`` file that can be written, and matplotlib to draw it."""
    if path is None:
        return None
    path = _check_output("--plot", path)
    try:
        import_pyplot()
    except ImportError as exc:
        raise SystemExit(f"error: --plot {path}: {exc}") from None
    return path


def _progress(args):
    """The progress callable of every command: a line on standard error, or None."""
    if args.quiet:
        return None
    return lambda line: print(line, file=sys.stderr, flush=True)


@contextmanager
def _convergence_notes():
    """Collect the ConvergenceWarnings of many fits and report each distinct one once.

    The commands stop the solver at ``--iterations`` on purpose; a warning per fit
    of a cross-validation is not news. Other warnings pass through unchanged.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        yield
    notes = Counter()
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            notes[str(warning.message)] += 1
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    for message, count in notes.items():
        fits = "1 fit" if count == 1 else f"{count} fits"
        print(f"note: {fits} stopped early: {message} (--iterations sets max_iter)",
              file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def _cosine_weight(args):
    """One ``--cosine-weight`` fixes it; several are tuned over."""
    weights = args.cosine_weight
    return weights[0] if len(weights) == 1 else weights


def _read_oos(path, n_features, *, use):
    """The out-of-scope queries of ``--oos``: ``X_oos`` of an .npz, split by its
    optional ``split_oos`` (0 train, 1 validation, 2 test). ``use="compare"``
    returns ``(test, validation or None)``: the test rows (all rows without
    ``split_oos``); ``use="fit"`` returns the rows that are not test rows."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X_oos" not in archive:
                raise ValueError(f"no array X_oos in it (it has {sorted(archive)})")
            X_oos = archive["X_oos"]
            split = archive["split_oos"] if "split_oos" in archive else None
    except (OSError, ValueError, EOFError) as exc:
        raise SystemExit(f"error: cannot read --oos {path}: {exc}") from None
    if X_oos.ndim != 2 or X_oos.dtype.kind != "f" or not np.isfinite(X_oos).all():
        raise SystemExit(f"error: --oos {path}: X_oos must be a 2-D array of finite "
                         f"floats; got {X_oos.dtype} of shape {X_oos.shape}")
    if X_oos.shape[1] != n_features:
        raise SystemExit(f"error: --oos {path}: X_oos has {X_oos.shape[1]} dimensions "
                         f"but the questions have {n_features}")
    if split is not None and split.shape != (len(X_oos),):
        raise SystemExit(f"error: --oos {path}: split_oos must have one entry per "
                         f"row of X_oos ({len(X_oos)}); got shape {split.shape}")
    if use == "fit":
        rows = X_oos if split is None else X_oos[split != 2]
        if not len(rows):
            raise SystemExit(f"error: --oos {path}: every row is a test row "
                             "(split_oos 2); fit calibrates on the others")
        return rows
    if split is None:
        return X_oos, None
    test, val = X_oos[split == 2], X_oos[split == 1]
    if not len(test):
        raise SystemExit(f"error: --oos {path}: no test rows (split_oos 2)")
    return test, (val if len(val) else None)


def _compare(args):
    plot = _check_plot(args.plot)
    data, name = _load(args)
    X_oos = X_oos_val = None
    if args.oos is not None:
        X_oos, X_oos_val = _read_oos(args.oos, data.X.shape[1], use="compare")
    _check_num_basis(args, len(data.answers))
    try:
        X_train, g_train, X_test, g_test = split_dataset(
            data, n_train=args.train_per_cluster, max_test=args.max_test,
            random_state=args.seed,
        )
    except ValueError as exc:
        # n_train is the command's --train-per-cluster: name what the user typed.
        message = f"error: {exc}".replace("n_train", "--train-per-cluster")
        raise SystemExit(message) from None
    print(f"{name}: {len(data.answers)} clusters, {len(X_train)} training questions, "
          f"{len(X_test)} held-out questions (routed: their cluster is not given)")
    spaces = search_spaces(
        X_train.shape[1], data.answers.shape[1], n_basis=args.num_basis or "auto",
        max_iter=args.iterations, cosine_weight=_cosine_weight(args),
        random_state=args.seed,
    )
    if X_oos is not None:
        val = "" if X_oos_val is None else f", {len(X_oos_val)} for validation"
        print(f"{args.oos}: {len(X_oos)} out-of-scope test queries{val}")
    with _convergence_notes():
        rows = compare_retrieval(
            X_train, g_train, X_test, g_test, data.answers, spaces=spaces, cv=args.cv,
            random_state=args.seed, progress=_progress(args),
            decline_rate=args.decline_rate, X_oos=X_oos, X_oos_val=X_oos_val,
        )
    print(format_table(rows))
    if "declining" in rows[0]:
        rate = 0.05 if args.decline_rate is None else args.decline_rate
        val = ("; + oos val: from the out-of-scope validation queries"
               if X_oos_val is not None else "")
        print(f"\ndeclining (threshold from training questions: {rate:g} of them "
              f"declined in CV{val})")
        print(format_declining_table(rows))
        for note in sorted({r["declining"]["note"] for r in rows} - {""}):
            print(f"note: {note}", file=sys.stderr)
    if plot is not None:
        try:
            plot_table(rows, plot)
        except OSError as exc:
            raise SystemExit(f"error: cannot write --plot {plot}: {exc}") from None
        print(f"plot written to {plot}")
    return rows


def _bundle_of(model, data, args, min_similarity=None):
    """The retrieval bundle of a model fitted on ``data``: cluster ``i``'s answer is
    row ``i`` of ``data.answers``, labelled by its cluster id, with its text."""
    texts = data.get("answer_texts")
    if texts is not None:  # a cluster with several answer texts: all of them, in order
        texts = [t if isinstance(t, str) else "\n\n".join(t) for t in texts]
    labels = data.get("cluster_ids")
    return RetrievalBundle(
        model, data.answers, labels=labels if labels is not None else model.clusters_,
        texts=texts, encoder=args.encoder or _data_encoder(args),
        min_similarity=min_similarity,
    )


def _data_encoder(args):
    """The encoder that embedded ``--data``: the package's for the demo and for JSONL
    texts; unknown (None) for embeddings made elsewhere."""
    if args.data is None or Path(args.data).suffix == ".jsonl":
        return DEFAULT_ENCODER
    return None


def _save_model(model, out, bundle=None):
    """Write ``model`` to ``out`` in one atomic step: a retrieval bundle for ``.npz``,
    skops for ``.skops``, a pickle otherwise."""
    try:
        if out.suffix == ".npz":
            save_bundle(bundle, out)
        elif out.suffix == ".skops":
            import skops.io as sio

            with atomic_write_path(out) as temporary:
                sio.dump(model, temporary)
        else:
            with atomic_write(out, "wb") as file:
                pickle.dump(model, file)
    except OSError as exc:
        raise SystemExit(f"error: cannot write --out {out}: {exc}") from None


def _fit(args):
    out = _check_output("--out", args.out)
    if out.suffix == ".skops":
        try:
            import skops.io  # noqa: F401
        except ImportError:
            raise SystemExit(
                "error: .skops output needs skops: pip install skops"
            ) from None
    cosine_weight = _cosine_weight(args)
    if isinstance(cosine_weight, list) and not args.cv:
        args.parser.error("argument --cosine-weight: several values are tuned over, "
                          "which needs --cv")
    declining = args.decline_rate is not None or args.oos is not None
    if (declining or args.min_similarity is not None) and out.suffix != ".npz":
        args.parser.error("a threshold (--min-similarity, --decline-rate, --oos) is "
                          "stored in a retrieval bundle: use --out x.npz")
    data, name = _load(args)
    _check_num_basis(args, len(data.answers))
    X_oos = None if args.oos is None else _read_oos(args.oos, data.X.shape[1],
                                                     use="fit")
    Y = data.answers[data.groups]
    estimator, _ = search_spaces(
        data.X.shape[1], data.answers.shape[1], n_basis=args.num_basis or "auto",
        max_iter=args.iterations, cosine_weight=cosine_weight, random_state=args.seed,
    )["smoothing_basis"]
    # The given values are fixed: one candidate each in the search, or set on the
    # plain estimator.
    for parameter, value in (("alpha", args.alpha),
                             ("routing_temperature", args.routing_temperature)):
        if value is not None:
            estimator.set_params(**{f"{parameter}s": [value]})
    if args.cv:
        estimator.set_params(cv=ClusterStratifiedKFold(
            args.cv, shuffle=True, random_state=args.seed))
    else:
        estimator = SmoothingBasisRegressor(
            cosine_weight=cosine_weight,
            **{k: v for k, v in estimator.get_params().items()
               if k in SmoothingBasisRegressor().get_params()},
            **{k: v for k, v in (("alpha", args.alpha),
                                 ("routing_temperature", args.routing_temperature))
               if v is not None},
        )
    progress = _progress(args)
    if progress:
        n_candidates = len(ParameterGrid(
            estimator._grid(data.X.shape[1], data.answers.shape[1])
        )) if args.cv else 1
        what = f"{n_candidates} candidates x {args.cv} folds" if args.cv else "one fit"
        progress(f"fitting smoothing_basis on {name} ({len(data.X)} questions, "
                 f"{len(data.answers)} clusters): {what} ...")
    start = time.perf_counter()
    with _convergence_notes():
        model = estimator.fit(data.X, Y, groups=data.groups)
    if progress:
        progress(f"      done in {time.perf_counter() - start:.1f}s")
    if args.cv:
        print(f"chosen by {args.cv}-fold cluster-stratified CV "
              f"(SmoothingBasisRegressorCV): {_searched_params(model)}")
        # What is saved and what ask loads: the model refitted at the chosen values.
        model = model.best_estimator_
    threshold = args.min_similarity
    if declining:
        threshold = _calibrate(args, model, data, Y, X_oos)
    bundle = (_bundle_of(model, data, args, threshold) if out.suffix == ".npz"
              else None)
    _save_model(model, out, bundle)
    what = "retrieval bundle of " if bundle else ""
    print(f"saved {what}{type(model).__name__} ({model.n_basis_} basis maps, "
          f"{len(model.clusters_)} clusters) to {out}")
    if bundle is not None and bundle.encoder is None:
        print(
            "note: the bundle names no encoder (pass --encoder NAME): smoothbasis ask "
            "will need --embeddings",
            file=sys.stderr,
        )
    return model


def _calibrate(args, model, data, Y, X_oos):
    """The threshold of ``--decline-rate`` or ``--oos``, by cluster-stratified CV."""
    folds = args.cv or 3
    progress = _progress(args)
    if progress:
        progress(f"choosing the threshold: {folds} folds ...")
    try:
        with _convergence_notes():
            found = calibrate_min_similarity(
                model, data.X, Y, groups=data.groups, answers=data.answers,
                decline_rate=args.decline_rate, X_oos=X_oos, cv=folds,
                random_state=args.seed,
            )
    except ValueError as exc:
        raise SystemExit(f"error: cannot choose the threshold: {exc}") from None
    declined = (f"declines {found.in_scope_declined:.1%} of the held-out training "
                "questions")
    if X_oos is not None:
        declined += (f" and {found.oos_declined:.1%} of {len(X_oos)} out-of-scope "
                     "queries")
    print(f"min_similarity {found.min_similarity:.3f} chosen by {folds}-fold "
          f"cluster-stratified CV: {declined}")
    return found.min_similarity


def _read_question_embeddings(args, n_features):
    """The rows of ``--embeddings`` (a .npy of one query per row)."""
    try:
        queries = np.load(args.embeddings, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise SystemExit(
            f"error: cannot read --embeddings {args.embeddings}: {exc}"
        ) from None
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.ndim != 2 or queries.dtype.kind not in "fiu" or not queries.size:
        raise SystemExit(
            f"error: --embeddings {args.embeddings}: expected a 2-D array of "
            f"numbers, one query per row; got {queries.dtype} of shape "
            f"{queries.shape}"
        )
    if not np.isfinite(queries).all():
        raise SystemExit(
            f"error: --embeddings {args.embeddings} holds NaN or infinite values"
        )
    if queries.shape[1] != n_features:
        raise SystemExit(
            f"error: --embeddings {args.embeddings} has {queries.shape[1]} "
            f"dimensions but the model takes {n_features}"
        )
    return queries


def _questions(args):
    """The questions of the command line, else (without --embeddings) of standard
    input, one per line; blank lines are skipped."""
    if args.questions or args.embeddings is not None:  # with --embeddings: names only
        questions = args.questions
    else:
        questions = sys.stdin
    return [q.strip() for q in questions if q.strip()]


def _embed_questions(args, bundle, questions, *, what="question", width=None):
    """Questions (or answers, ``what``) embedded by the bundle's encoder, rows of
    ``width`` (default: the model's n_features_in_); every failure in one line."""
    name = args.encoder or bundle.encoder
    if name is None:
        raise SystemExit(
            f"error: --model {args.model} names no encoder; pass --embeddings "
            "file.npy (queries embedded as the training questions were), or "
            "--encoder NAME"
        )
    if not questions:
        raise SystemExit("error: no questions: pass them as arguments, or one per line "
                         "on standard input")
    progress = _progress(args)
    if progress:
        progress(f"embedding {len(questions)} {what}(s) with {name} ...")
    try:
        encoder = load_encoder(name)
    except ImportError:
        raise SystemExit(
            f"error: embedding {what}s with {name} needs the embed extra: "
            'pip install "sklearn-smoothbasis[embed]" (or pass --embeddings '
            "file.npy)"
        ) from None
    except Exception as exc:  # noqa: BLE001 (the encoder library's own errors)
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SystemExit(f"error: cannot load encoder {name}: {message}") from None
    try:
        queries = embed_texts(encoder, questions)
    except ValueError as exc:
        raise SystemExit(f"error: {name}: {exc}") from None
    width = bundle.model.n_features_in_ if width is None else width
    if queries.shape[1] != width:
        raise SystemExit(
            f"error: {name} embeds in {queries.shape[1]} dimensions but the "
            f"model of {args.model} takes {width}"
        )
    return queries


def _first_line(text, width=100):
    """The first line of ``text``, cut at a word before ``width`` characters."""
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    if len(line) <= width:
        return line
    return line[:width].rsplit(" ", 1)[0] + " ..."


def _load_bundle(args):
    try:
        return load_bundle(args.model)
    except ValueError as exc:
        raise SystemExit(f"error: --model: {exc}") from None


def _check_encoder(args, bundle):
    if args.encoder and bundle.encoder and args.encoder != bundle.encoder:
        raise SystemExit(f"error: --encoder {args.encoder} differs from the encoder of "
                         f"{args.model} ({bundle.encoder}): texts must be embedded as "
                         "the training questions were")


def _ask(args):
    bundle = _load_bundle(args)
    n_answers = len(bundle.answers)
    if args.k is None:
        args.k = min(3, n_answers)
    elif args.k > n_answers:
        args.parser.error(
            f"argument --k: expected at most the number of answers in the "
            f"bundle ({n_answers}), got {args.k}"
        )
    _check_encoder(args, bundle)
    questions = _questions(args)
    if args.embeddings is not None:
        queries = _read_question_embeddings(args, bundle.model.n_features_in_)
        if questions and len(questions) != len(queries):
            raise SystemExit(f"error: {len(questions)} questions but --embeddings "
                             f"{args.embeddings} has {len(queries)} rows")
        if not questions:
            questions = [f"query {r + 1}" for r in range(len(queries))]
    else:
        queries = _embed_questions(args, bundle, questions)
    if args.min_similarity is not None:
        bundle.min_similarity = args.min_similarity
    result = bundle.retrieve(queries, k=args.k)
    for question, indices, similarities in zip(questions, *result):
        print(question)
        if indices[0] < 0:
            print(f"  no answer above similarity {bundle.min_similarity:.3f} "
                  f"(the best: {similarities[0]:.3f})")
            continue
        for rank, (j, similarity) in enumerate(zip(indices, similarities), start=1):
            if j < 0:  # below the threshold, as all that follow
                break
            label = bundle.labels[j] if bundle.labels is not None else f"answer {j}"
            text = _first_line(bundle.texts[j]) if bundle.texts is not None else ""
            print(f"  {rank}. {label}  {similarity:.3f}  {text}".rstrip())
    return result


def _new_cluster_label(clusters, label):
    """The model's label of the new cluster: ``label`` when the model's clusters are
    strings, the next integer when they are cluster numbers (as fit makes them)."""
    if clusters.dtype.kind in "iu":
        return int(clusters.max()) + 1
    return label


def _add(args):
    bundle = _load_bundle(args)
    out = _check_output("--out", args.out if args.out else args.model)
    _check_encoder(args, bundle)
    labels = (list(bundle.labels) if bundle.labels is not None
              else [f"answer {j}" for j in range(len(bundle.answers))])
    if args.label in [str(label) for label in labels]:
        raise SystemExit(f"error: --label {args.label} is already an answer of "
                         f"{args.model}; give the new entry another label")
    answer = _embed_questions(args, bundle, [args.answer], what="answer",
                              width=bundle.model.n_targets_)
    model = bundle.model
    with _convergence_notes():
        try:
            model.add_clusters(
                [_new_cluster_label(model.clusters_, args.label)], answer
            )
        except ValueError as exc:
            raise SystemExit(f"error: cannot add to {args.model}: {exc}") from None
    texts = bundle.texts
    grown = RetrievalBundle(
        model, np.vstack([bundle.answers, answer.astype(bundle.answers.dtype)]),
        labels=labels + [args.label],
        texts=None if texts is None else texts + [args.answer],
        encoder=bundle.encoder or args.encoder,
        min_similarity=bundle.min_similarity,
    )
    _save_model(model, out, grown)
    print(f"added {args.label} to {out}: {len(grown.answers)} answers, "
          f"{len(model.clusters_)} clusters (the new one known by its answer until "
          "questions for it are fitted)")
    return grown


# ---------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------


def _command(commands, name, *, help, examples, run, description=None, formats=""):
    """A subcommand whose --help ends with examples (and ``formats``), with --quiet."""
    parser = commands.add_parser(
        name, help=help, description=description or help[0].upper() + help[1:] + ".",
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples)
        + (f"\n\n{formats}" if formats else ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on standard error")
    parser.set_defaults(run=run, parser=parser)
    return parser


def _add_command(commands, name, *, help, examples, run):
    """A subcommand that reads --data: its --help also names the data formats."""
    parser = _command(commands, name, help=help, examples=examples, run=run,
                      formats=DATA_FORMATS)
    parser.add_argument("--data", default=None,
                        help=".npz, dataset folder, .jsonl or LDA .db (see below); "
                             "default: the bundled demo")
    return parser


def _bundle_command(commands, name, *, help, description, examples, run, texts):
    """A subcommand that reads a retrieval bundle (--model) and embeds ``texts``
    with its encoder (--encoder)."""
    parser = _command(commands, name, help=help, description=description,
                      examples=examples, run=run)
    parser.add_argument("--model", required=True,
                        help="retrieval bundle written by smoothbasis fit --out x.npz")
    parser.add_argument("--encoder", default=None,
                        help=f"the encoder of the {texts} (default: the bundle's; it "
                             "must match the bundle's when the bundle names one)")
    return parser


def _add_model_options(parser):
    parser.add_argument("--num-basis", type=_bounded(int, 1), default=None,
                        help="basis size K, at most the number of clusters "
                             "(default: min(ceil(sqrt(n_clusters)), 16))")
    parser.add_argument("--iterations", type=_bounded(int, 1), default=20,
                        help="max_iter of the smoothing-basis solver (default: 20)")
    parser.add_argument("--cosine-weight", type=_bounded(float, 0, 1), nargs="+",
                        default=[0.5], metavar="W",
                        help="cosine weight of the loss (default: 0.5); several values "
                             "are tuned over, e.g. --cosine-weight 0 0.5")
    parser.add_argument("--seed", type=_bounded(int, 0, 2**32 - 1), default=0,
                        help="seed of splits, folds and fits")


def build_parser():
    """The argument parser of the ``smoothbasis`` command."""
    defaults = SmoothingBasisRegressor().get_params()
    parser = argparse.ArgumentParser(
        prog="smoothbasis", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    compare = _add_command(
        commands, "compare", help="tune all methods alike, score held-out questions",
        examples=[
            "smoothbasis compare                      # the bundled demo",
            "smoothbasis compare --cosine-weight 0 0.5 --cv 5",
            "smoothbasis compare --data clinc150 --oos clinc150/oos.npz --plot c.png",
        ],
        run=_compare,
    )
    compare.add_argument("--train-per-cluster", type=_bounded(int, 1), default=3,
                         help="training questions per cluster, the rest are held out "
                              "(default: 3)")
    compare.add_argument("--max-test", type=_bounded(int, 1), default=None,
                         help="evaluate on at most this many held-out questions")
    compare.add_argument("--cv", type=_bounded(int, 2), default=3,
                         help="folds of the tuning CV (default: 3)")
    compare.add_argument("--oos", default=None, metavar="FILE.npz",
                         help="out-of-scope queries (X_oos in an .npz; with "
                              "split_oos, rows 2 are test and rows 1 validation "
                              "queries): also score declining")
    compare.add_argument("--decline-rate", type=_RATE,
                         default=None, metavar="R",
                         help="score declining with the threshold that declines R of "
                              "the training questions held out in CV (default with "
                              "--oos: 0.05); works without --oos")
    compare.add_argument("--plot", default=None,
                         help="also draw the table as a bar chart "
                              "(PNG; needs matplotlib)")
    _add_model_options(compare)

    fit = _add_command(
        commands, "fit", help="fit SmoothingBasisRegressor on a dataset and save it",
        examples=[
            "smoothbasis fit --out model.pkl              # the bundled demo",
            "smoothbasis fit --data my_clusters.npz --out model.skops --cv 3",
            "smoothbasis fit --data faq.jsonl --out faq.npz --decline-rate 0.05",
        ],
        run=_fit,
    )
    fit.add_argument(
        "--out",
        required=True,
        help="model file: .npz, a retrieval bundle for smoothbasis ask (the "
        "model, the answers, their labels and texts, the encoder's "
        "name; see docs/format.rst); .skops (needs skops); a pickle for "
        "any other suffix",
    )
    fit.add_argument(
        "--encoder",
        default=None,
        help="name of the encoder that embedded --data, recorded in an .npz "
        f"bundle (default: {DEFAULT_ENCODER} for the demo and .jsonl, "
        "which the package embeds with it; none for .npz data)",
    )
    fit.add_argument("--alpha", type=_bounded(float, 0), default=None,
                     help="pull of each cluster's map toward the prior "
                          f"(default: chosen by --cv, else {defaults['alpha']})")
    fit.add_argument("--routing-temperature", type=_bounded(float, 0, strict=True),
                     default=None,
                     help="softmax temperature of the routing (default: chosen "
                          f"by --cv, else {defaults['routing_temperature']})")
    fit.add_argument("--cv", type=_bounded(int, 2), default=None,
                     help="choose alpha and the routing temperature (those not "
                          "given) by SmoothingBasisRegressorCV with this many "
                          "cluster-stratified folds; the model refitted at the "
                          "chosen values is saved")
    threshold = fit.add_mutually_exclusive_group()
    threshold.add_argument("--min-similarity", type=_bounded(float, -1, 1),
                           default=None, metavar="T",
                           help="store this threshold in the .npz bundle: ask "
                                "declines questions with no answer this similar")
    threshold.add_argument("--decline-rate", type=_RATE,
                           default=None, metavar="R",
                           help="store the threshold that declines R of the "
                                "training questions held out in cluster-stratified "
                                "CV (--cv folds, default 3)")
    threshold.add_argument("--oos", default=None, metavar="FILE.npz",
                           help="store the threshold that best separates the "
                                "training questions held out in CV from these "
                                "out-of-scope queries (X_oos; rows with split_oos 2 "
                                "are left out)")
    _add_model_options(fit)

    ask = _bundle_command(
        commands,
        "ask",
        help="print the best answers of a retrieval bundle to each question",
        description="Print the --k best answers of a retrieval bundle "
        "(smoothbasis fit\n"
        "--out x.npz) to each question: label, cosine similarity, first line\n"
        "of the answer text. Questions are embedded with the bundle's encoder\n"
        "(needs the embed extra), or read already embedded from --embeddings.\n"
        "With a threshold (stored by fit, or --min-similarity), only answers at\n"
        "least that similar are printed, and a question with none is declined:\n"
        "'no answer above similarity T'.",
        examples=[
            'smoothbasis ask --model faq.npz "how do I undo my last commit?"',
            "smoothbasis ask --model faq.npz --min-similarity 0.4 < questions.txt",
            "smoothbasis ask --model faq.npz --embeddings queries.npy",
        ],
        run=_ask,
        texts="questions",
    )
    ask.add_argument(
        "questions",
        nargs="*",
        metavar="QUESTION",
        help="questions; none: read them from standard input, one per line",
    )
    ask.add_argument("--min-similarity", type=_bounded(float, -1, 1), default=None,
                     metavar="T",
                     help="decline questions with no answer this similar, and print "
                          "only answers at least this similar (default: the "
                          "bundle's threshold, if it has one)")
    ask.add_argument("--k", type=_bounded(int, 1), default=None,
                     help="answers printed per question (default: 3, or all of them "
                          "when the bundle has fewer)")
    ask.add_argument(
        "--embeddings",
        default=None,
        help="a .npy of question embeddings, one row per question, instead of "
        "embedding the questions' texts",
    )

    add = _bundle_command(
        commands,
        "add",
        help="add an FAQ entry known by its answer to a retrieval bundle",
        description="Add an FAQ entry to a retrieval bundle without refitting: the\n"
        "answer text is embedded with the bundle's encoder and the model\n"
        "gains a cluster for it (add_clusters: its map borrows from the\n"
        "clusters with the nearest answers, its routing centroid is the\n"
        "answer). The bundle is rewritten in one atomic step.",
        examples=[
            "smoothbasis add --model faq.npz --label opening-hours \\",
            '    --answer "Monday to Friday 9-18, Saturday 10-14."',
            "smoothbasis add --model faq.npz --out faq-v2.npz --label x --answer ...",
        ],
        run=_add,
        texts="answer",
    )
    add.add_argument("--label", required=True, help="label of the new entry")
    add.add_argument("--answer", required=True, help="text of the new entry's answer")
    add.add_argument("--out", default=None,
                     help="write the grown bundle here (default: rewrite --model)")
    return parser


def main(argv=None):
    """Entry point of the ``smoothbasis`` console script."""
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
