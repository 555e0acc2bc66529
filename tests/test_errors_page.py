"""What each kind of bad input gets, at every public entry point: one table of cases
that is both run here and written to ``docs/errors.rst``, so the page cannot drift.

Every case runs its call and checks the documented outcome: the exception type and a
fragment of its message, a warning, or a behaviour checked by a function. The page is
compared with the table on every run; after changing the table, rewrite it with::

    SMOOTHBASIS_WRITE_ERRORS_PAGE=1 python -m pytest tests/test_errors_page.py
"""

import contextlib
import io
import json
import os
import pathlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_smoothbasis import (
    MultiHeadRegressor,
    NoGroupsWarning,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
    SmoothingBasisRegressorCV,
)
from sklearn_smoothbasis.__main__ import main
from sklearn_smoothbasis.datasets import (
    load_embedded_clusters,
    load_jsonl_clusters,
    make_multicluster_regression,
)
from sklearn_smoothbasis.metrics import (
    get_retrieval_scorer,
    mean_cosine_similarity,
    mean_reciprocal_rank,
    recall_at_k,
)
from sklearn_smoothbasis.model_selection import calibrate_min_similarity

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "errors.rst"

X, Y, GROUPS = make_multicluster_regression(
    n_clusters=4, n_features=4, n_targets=4, rows_per_cluster=(3, 3), random_state=0
)


def _nan(A):
    A = A.copy()
    A[0, 0] = np.nan
    return A


def _inf(A):
    A = A.copy()
    A[0, 0] = np.inf
    return A


def _fitted(estimator=None):
    return (estimator or SmoothingBasisRegressor(max_iter=2, random_state=0)).fit(
        X, Y, groups=GROUPS
    )


def _routed_like_no_groups():
    model = _fitted(MultiHeadRegressor())
    return np.allclose(model.predict(X, groups=np.full(len(X), 99)), model.predict(X))


def _minimum_norm_on_rank_deficient():
    X_constant = np.ones_like(X)
    coef = SharedProjectionRegressor(alpha=0).fit(X_constant, Y).coef_
    return np.allclose(coef, np.linalg.lstsq(X_constant, Y, rcond=None)[0])


def _zero_row_has_cosine_zero():
    Y_pred = Y[:2].copy()
    Y_pred[0] = 0.0
    return mean_cosine_similarity(Y[:2], Y_pred) == pytest.approx(0.5)


@dataclass
class Case:
    """One bad input at one entry point and what it gets.

    ``raises`` an exception type whose message contains ``says``; or ``warns`` a
    warning category whose message contains ``says``; or ``exits``: the exit status
    of the command, whose standard error contains ``says``; or ``behaves``: a
    function returning True when the documented behaviour (``says``) holds.
    """

    entry: str
    bad_input: str
    call: Callable
    says: str
    raises: type = None
    warns: type = None
    exits: int = None
    behaves: Callable = None

    def outcome(self):
        if self.raises is not None:
            return f"``{self.raises.__name__}``"
        if self.warns is not None:
            return f"``{self.warns.__name__}``"
        if self.exits is not None:
            return f"exit status {self.exits}"
        return "no error"


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _folder(path):
    path.mkdir()
    return path


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _command(*args):
    """Run the ``smoothbasis`` command in this process: exit status, standard error."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main([str(arg) for arg in args])
        except SystemExit as exc:  # as the interpreter does: a message means status 1
            status = exc.code if isinstance(exc.code, (int, type(None))) else 1
            if not isinstance(exc.code, (int, type(None))):
                stderr.write(str(exc.code))
    return status or 0, stderr.getvalue()


FIT = "fit (every estimator)"
PREDICT = "predict, score and retrieve (every estimator)"
METRICS = "retrieval metrics (sklearn_smoothbasis.metrics)"
LOADERS = "loaders (sklearn_smoothbasis.datasets)"
CLI = "the smoothbasis command"
CV = "SmoothingBasisRegressorCV.fit (its candidates)"

CASES = [
    # -- fit ---------------------------------------------------------------------
    Case(
        FIT,
        "NaN in X",
        lambda tmp: SmoothingBasisRegressor().fit(_nan(X), Y, GROUPS),
        "Input X contains NaN",
        raises=ValueError,
    ),
    Case(
        FIT,
        "infinity in y",
        lambda tmp: MultiHeadRegressor().fit(X, _inf(Y), GROUPS),
        "Input y contains infinity",
        raises=ValueError,
    ),
    Case(
        FIT,
        "X and y of different lengths",
        lambda tmp: MultiHeadRegressor().fit(X, Y[:-1], GROUPS),
        "inconsistent numbers of samples",
        raises=ValueError,
    ),
    Case(
        FIT,
        "1-D X",
        lambda tmp: MultiHeadRegressor().fit(X[:, 0], Y, GROUPS),
        "Expected 2D array, got 1D array instead",
        raises=ValueError,
    ),
    Case(
        FIT,
        "no rows",
        lambda tmp: MultiHeadRegressor().fit(X[:0], Y[:0], GROUPS[:0]),
        "0 sample(s)",
        raises=ValueError,
    ),
    Case(
        FIT,
        "complex X",
        lambda tmp: MultiHeadRegressor().fit(X + 1j, Y, GROUPS),
        "Complex data not supported",
        raises=ValueError,
    ),
    Case(
        FIT,
        "sparse X",
        lambda tmp: MultiHeadRegressor().fit(sp.csr_matrix(X), Y, GROUPS),
        "dense data is required",
        raises=TypeError,
    ),
    Case(
        FIT,
        "sparse y",
        lambda tmp: MultiHeadRegressor().fit(X, sp.csr_matrix(Y), GROUPS),
        "A sparse matrix was passed for y, but dense data is required",
        raises=TypeError,
    ),
    Case(
        FIT,
        "groups of another length than X",
        lambda tmp: MultiHeadRegressor().fit(X, Y, groups=GROUPS[:-1]),
        "groups passed to fit has 11 labels",
        raises=ValueError,
    ),
    Case(
        FIT,
        "groups of shape (n, 2)",
        lambda tmp: MultiHeadRegressor().fit(X, Y, groups=np.c_[GROUPS, GROUPS]),
        "must be 1-D with one cluster label per row",
        raises=ValueError,
    ),
    Case(
        FIT,
        "NaN among float groups",
        lambda tmp: MultiHeadRegressor().fit(X, Y, groups=np.r_[np.nan, GROUPS[1:]]),
        "groups passed to fit contains NaN",
        raises=ValueError,
    ),
    Case(
        FIT,
        "groups mixing int and str labels",
        lambda tmp: MultiHeadRegressor().fit(
            X, Y, groups=np.array([1, "a"] * 6, dtype=object)
        ),
        "must be mutually comparable",
        raises=ValueError,
    ),
    Case(
        FIT,
        "no groups",
        lambda tmp: MultiHeadRegressor().fit(X, Y),
        "all rows are treated as one cluster",
        warns=NoGroupsWarning,
    ),
    Case(
        FIT,
        "a parameter out of its range",
        lambda tmp: SmoothingBasisRegressor(alpha=-1).fit(X, Y, GROUPS),
        "The 'alpha' parameter of SmoothingBasisRegressor must be",
        raises=InvalidParameterError,
    ),
    Case(
        FIT,
        "a bool where an int is meant",
        lambda tmp: SmoothingBasisRegressor(n_basis=True).fit(X, Y, GROUPS),
        "The 'n_basis' parameter of SmoothingBasisRegressor must be",
        raises=InvalidParameterError,
    ),
    Case(
        FIT,
        "n_basis larger than the clusters support",
        lambda tmp: SmoothingBasisRegressor(n_basis=5).fit(X, Y, GROUPS),
        "n_basis=5 is larger than the data supports",
        raises=ValueError,
    ),
    Case(
        FIT,
        "basis_rank larger than min(n_features, n_targets)",
        lambda tmp: SmoothingBasisRegressor(basis_rank=50).fit(X, Y, GROUPS),
        "basis_rank=50 is larger than the rank a",
        raises=ValueError,
    ),
    Case(
        FIT,
        "basis_rank with smoothness (not yet combined)",
        lambda tmp: SmoothingBasisRegressor(basis_rank=2, smoothness=1.0).fit(
            X, Y, GROUPS),
        "basis_rank=2 cannot yet be combined with smoothness=1.0",
        raises=ValueError,
    ),
    Case(
        FIT,
        "sparsity with smoothness (not yet combined)",
        lambda tmp: SmoothingBasisRegressor(sparsity=0.1, smoothness=1.0).fit(
            X, Y, GROUPS),
        "sparsity=0.1 cannot yet be combined with smoothness=1.0",
        raises=ValueError,
    ),
    Case(
        FIT,
        "sparsity with basis_rank (not yet combined)",
        lambda tmp: SmoothingBasisRegressor(sparsity=0.1, basis_rank=2).fit(
            X, Y, GROUPS),
        "sparsity=0.1 cannot yet be combined with basis_rank=2",
        raises=ValueError,
    ),
    Case(
        FIT,
        "prior='identity' with n_features != n_targets",
        lambda tmp: SmoothingBasisRegressor(prior="identity").fit(X, Y[:, :3], GROUPS),
        "prior='identity' needs as many features as targets",
        raises=ValueError,
    ),
    Case(
        FIT,
        "X of magnitude 1e90 (smoothing basis)",
        lambda tmp: SmoothingBasisRegressor().fit(X * 1e90, Y, GROUPS),
        "SmoothingBasisRegressor needs it between",
        raises=ValueError,
    ),
    Case(
        FIT,
        "X of magnitude 1e160 (baselines)",
        lambda tmp: np.isfinite(
            SharedProjectionRegressor().fit(X * 1e160, Y).coef_
        ).all(),
        "a finite model: inputs are rescaled by powers of two before squaring",
        behaves=lambda result: result,
    ),
    Case(
        FIT,
        "float32 X with y beyond the float32 range",
        lambda tmp: MultiHeadRegressor().fit(X.astype(np.float32), Y * 1e300, GROUPS),
        "too large for float32, the dtype of X",
        raises=ValueError,
    ),
    Case(
        FIT,
        "alpha=0 on rank-deficient X (a constant column, a repeated row)",
        lambda tmp: _minimum_norm_on_rank_deficient(),
        "the minimum-norm least-squares map, as method='pinv'",
        behaves=lambda result: result,
    ),
    # -- predict -----------------------------------------------------------------
    Case(
        PREDICT,
        "an unfitted estimator",
        lambda tmp: SmoothingBasisRegressor().predict(X),
        "is not fitted yet",
        raises=NotFittedError,
    ),
    Case(
        PREDICT,
        "another number of features than fit",
        lambda tmp: _fitted().predict(X[:, :3]),
        "X has 3 features, but SmoothingBasisRegressor is expecting 4",
        raises=ValueError,
    ),
    Case(
        PREDICT,
        "NaN in X",
        lambda tmp: _fitted().predict(_nan(X)),
        "Input X contains NaN",
        raises=ValueError,
    ),
    Case(
        PREDICT,
        "groups of another length than X",
        lambda tmp: _fitted(SharedProjectionRegressor()).predict(X[:3], groups=[0]),
        "X has 3 rows but groups passed to predict has 1 labels",
        raises=ValueError,
    ),
    Case(
        PREDICT,
        "str groups for a model fitted on int groups",
        lambda tmp: _fitted().predict(X, groups=np.array(["a"] * len(X))),
        "labels of different kinds can never match",
        raises=ValueError,
    ),
    Case(
        PREDICT,
        "labels not seen in fit",
        lambda tmp: _routed_like_no_groups(),
        "those rows are routed, as rows without groups",
        behaves=lambda result: result,
    ),
    Case(
        PREDICT,
        "score with y of another length",
        lambda tmp: _fitted().score(X, Y[:-1]),
        "inconsistent numbers of samples",
        raises=ValueError,
    ),
    Case(
        PREDICT,
        "retrieve with k larger than the answers",
        lambda tmp: _fitted().retrieve(X, Y[:3], k=4),
        "k must be an integer between 1 and the number of answers",
        raises=ValueError,
    ),
    Case(
        PREDICT,
        "retrieve with a min_similarity outside [-1, 1] (or NaN)",
        lambda tmp: _fitted().retrieve(X, Y, min_similarity=1.5),
        "min_similarity must be a cosine similarity in [-1, 1]; got 1.5",
        raises=ValueError,
    ),
    Case(
        PREDICT,
        "retrieve with a min_similarity that is not a number",
        lambda tmp: _fitted().retrieve(X, Y, min_similarity="0.5"),
        "min_similarity must be a number in [-1, 1] or None; got str '0.5'",
        raises=TypeError,
    ),
    Case(
        PREDICT,
        "calibrate_min_similarity with both decline_rate and X_oos",
        lambda tmp: calibrate_min_similarity(
            MultiHeadRegressor(), X, Y, groups=GROUPS, answers=Y, X_oos=X,
            decline_rate=0.1,
        ),
        "decline_rate is for calibration without out-of-scope examples",
        raises=ValueError,
    ),
    # -- metrics -----------------------------------------------------------------
    Case(
        METRICS,
        "k=0",
        lambda tmp: recall_at_k(Y, Y, k=0),
        "k must be an integer >= 1",
        raises=ValueError,
    ),
    Case(
        METRICS,
        "Y_true and Y_pred of different widths",
        lambda tmp: recall_at_k(Y, Y[:, :3]),
        "must have the same number of columns",
        raises=ValueError,
    ),
    Case(
        METRICS,
        "a 3-D array",
        lambda tmp: mean_reciprocal_rank(Y[None], Y[None]),
        "must be a 2-D array of embeddings",
        raises=ValueError,
    ),
    Case(
        METRICS,
        "NaN in Y_pred",
        lambda tmp: recall_at_k(Y, _nan(Y)),
        "Input Y_pred contains NaN",
        raises=ValueError,
    ),
    Case(
        METRICS,
        "a row of Y_true missing from candidates",
        lambda tmp: recall_at_k(Y, Y, candidates=Y[:3]),
        "have no matching (exactly equal) row in candidates",
        raises=ValueError,
    ),
    Case(
        METRICS,
        "duplicate candidates",
        lambda tmp: recall_at_k(Y[:2], Y[:2], candidates=np.r_[Y[:2], Y[:1]]),
        "candidates must not contain duplicate rows",
        raises=ValueError,
    ),
    Case(
        METRICS,
        "a zero row",
        lambda tmp: _zero_row_has_cosine_zero(),
        "its cosine with every row is 0",
        behaves=lambda result: result,
    ),
    Case(
        METRICS,
        "an unknown scorer name",
        lambda tmp: get_retrieval_scorer("recall"),
        "Unknown retrieval scorer 'recall'",
        raises=ValueError,
    ),
    # -- loaders -----------------------------------------------------------------
    Case(
        LOADERS,
        "a missing .npz file",
        lambda tmp: load_embedded_clusters(tmp / "missing.npz"),
        "No such",
        raises=FileNotFoundError,
    ),
    Case(
        LOADERS,
        "a .npz that is not a NumPy archive",
        lambda tmp: load_embedded_clusters(_write(tmp, "data.npz", "text")),
        "not an .npz archive (the zip file np.savez writes)",
        raises=ValueError,
    ),
    Case(
        LOADERS,
        "a missing .jsonl file",
        lambda tmp: load_jsonl_clusters(tmp / "missing.jsonl", model=object()),
        "No such",
        raises=FileNotFoundError,
    ),
    Case(
        LOADERS,
        "a .jsonl line that is not JSON",
        lambda tmp: load_jsonl_clusters(
            _write(tmp, "clusters.jsonl", "{not json\n"), model=object()
        ),
        "invalid JSON",
        raises=ValueError,
    ),
    Case(
        LOADERS,
        "a .jsonl record without questions",
        lambda tmp: load_jsonl_clusters(
            _write(tmp, "clusters.jsonl", json.dumps({"answer": "a"}) + "\n"),
            model=object(),
        ),
        "missing key 'questions'",
        raises=ValueError,
    ),
    Case(
        LOADERS,
        "a .jsonl path that is a folder",
        lambda tmp: load_jsonl_clusters(_folder(tmp / "x.jsonl"), model=object()),
        "is a folder",
        raises=IsADirectoryError,
    ),
    # -- command line --------------------------------------------------------------
    Case(
        CLI,
        "an unknown command",
        lambda tmp: _command("frobnicate"),
        "invalid choice: 'frobnicate'",
        exits=2,
    ),
    Case(
        CLI,
        "a value out of range (fit --alpha inf)",
        lambda tmp: _command("fit", "--alpha", "inf", "--out", tmp / "m.pkl"),
        "argument --alpha: expected a finite number >= 0, got 'inf'",
        exits=2,
    ),
    Case(
        CLI,
        "ask --min-similarity outside [-1, 1] (or NaN)",
        lambda tmp: _command("ask", "--model", tmp / "m.npz", "--min-similarity", "2"),
        "argument --min-similarity: expected a finite number in [-1, 1], got '2'",
        exits=2,
    ),
    Case(
        CLI,
        "an --oos file without X_oos",
        lambda tmp: _command(
            "compare", "--oos", _npz(tmp / "o.npz", X=np.zeros((2, 384)))
        ),
        "error: cannot read --oos",
        exits=1,
    ),
    Case(
        CLI,
        "compare --num-basis above the number of clusters",
        lambda tmp: _command("compare", "--num-basis", "999"),
        "argument --num-basis: expected at most the number of clusters (49)",
        exits=2,
    ),
    Case(
        CLI,
        "a --data that does not exist",
        lambda tmp: _command(
            "fit", "--data", tmp / "missing.npz", "--out", tmp / "m.pkl"
        ),
        "error: cannot load --data",
        exits=1,
    ),
    Case(
        CLI,
        "an --out in a folder that does not exist (checked before fitting)",
        lambda tmp: _command("fit", "--out", tmp / "no" / "m.pkl"),
        "does not exist",
        exits=1,
    ),
    # -- the CV estimator's grids --------------------------------------------------
    Case(
        CV,
        "no candidate (alphas=[])",
        lambda tmp: SmoothingBasisRegressorCV(alphas=[]).fit(X, Y, GROUPS),
        "alphas is empty; give at least one candidate",
        raises=ValueError,
    ),
    Case(
        CV,
        "a negative alpha",
        lambda tmp: SmoothingBasisRegressorCV(alphas=[1.0, -1.0]).fit(X, Y, GROUPS),
        "alphas must hold finite non-negative numbers; got -1.0",
        raises=ValueError,
    ),
    Case(
        CV,
        "a routing temperature <= 0",
        lambda tmp: SmoothingBasisRegressorCV(routing_temperatures=[0.0]).fit(
            X, Y, GROUPS
        ),
        "routing_temperatures must hold finite positive numbers; got 0.0",
        raises=ValueError,
    ),
    Case(
        CV,
        "a prior it does not know",
        lambda tmp: SmoothingBasisRegressorCV(priors=["ridge"]).fit(X, Y, GROUPS),
        "priors must hold 'identity', 'shared', 'contrastive', 'auto' or None",
        raises=ValueError,
    ),
    Case(
        CV,
        "a candidate twice",
        lambda tmp: SmoothingBasisRegressorCV(alphas=[1, 1.0]).fit(X, Y, GROUPS),
        "alphas has 1.0 more than once",
        raises=ValueError,
    ),
    Case(
        CV,
        "more folds than rows to hold out",
        lambda tmp: SmoothingBasisRegressorCV(cv=13).fit(X, Y, GROUPS),
        "cannot make cv=13 folds",
        raises=ValueError,
    ),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c.entry.split()[0]}: {c.bad_input}"
)
def test_case(case, tmp_path):
    if case.raises is not None:
        with pytest.raises(case.raises) as info:
            case.call(tmp_path)
        assert case.says in str(info.value), str(info.value)
    elif case.warns is not None:
        with pytest.warns(case.warns) as record:
            case.call(tmp_path)
        assert any(case.says in str(w.message) for w in record)
    elif case.exits is not None:
        status, stderr = case.call(tmp_path)
        assert status == case.exits and case.says in stderr, (status, stderr)
    else:
        assert case.behaves(case.call(tmp_path))


def _escape(text):
    return text.replace("\\", "\\\\").replace("`", "\\`").replace("*", "\\*")


def render_page():
    """The text of ``docs/errors.rst`` from :data:`CASES`."""
    lines = [
        ".. This page is generated from tests/test_errors_page.py, which runs every",
        "   case;",
        "   do not edit it by hand (see that module's docstring).",
        "",
        "What bad input gets",
        "===================",
        "",
        "Every public entry point checks its input and says what is wrong: a",
        "``ValueError`` or ``TypeError`` whose message names the problem (never a",
        "traceback from inside numpy, never silently wrong output), a warning, or a",
        "documented behaviour. Each row below is a case of",
        "``tests/test_errors_page.py``: the test runs the call and checks that the",
        "message contains the text shown, and that this page lists exactly those",
        "cases. ``InvalidParameterError`` is scikit-learn's, a subclass of both",
        "``ValueError`` and ``TypeError``.",
        "",
    ]
    entries = list(dict.fromkeys(case.entry for case in CASES))
    for entry in entries:
        lines += [
            entry[0].upper() + entry[1:],
            "-" * len(entry),
            "",
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 30 20 50",
            "",
            "   * - Input",
            "     - Gets",
            "     - Message contains / behaviour",
        ]
        for case in (c for c in CASES if c.entry == entry):
            lines += [
                f"   * - {_escape(case.bad_input)}",
                f"     - {case.outcome()}",
                f"     - {_escape(case.says)}",
            ]
        lines.append("")
    return "\n".join(lines)


def test_page_lists_exactly_the_cases():
    text = render_page()
    if os.environ.get("SMOOTHBASIS_WRITE_ERRORS_PAGE"):
        PAGE.write_text(text, encoding="utf-8")
    assert PAGE.read_text(encoding="utf-8") == text, (
        "docs/errors.rst differs from the cases of tests/test_errors_page.py; rewrite "
        "it with SMOOTHBASIS_WRITE_ERRORS_PAGE=1 python -m pytest "
        "tests/test_errors_page.py"
    )
