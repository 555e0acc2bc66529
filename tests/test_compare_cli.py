"""The comparison protocol and the smoothbasis command, end to end on small settings."""

import pickle
import re
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid
from sklearn.utils import Bunch

from sklearn_smoothbasis import (
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis.__main__ import main
from sklearn_smoothbasis.compare import (
    compare_retrieval,
    format_table,
    retrieval_split,
    search_spaces,
    split_dataset,
)


def _retrieval_problem(n_clusters=12, per_cluster=6, d=8, seed=0):
    """Answers are unit vectors; questions are noisy, cluster-rotated copies of them."""
    rng = np.random.RandomState(seed)
    answers = rng.standard_normal((n_clusters, d))
    answers /= np.linalg.norm(answers, axis=1, keepdims=True)
    groups = np.repeat(np.arange(n_clusters), per_cluster)
    X = answers[groups] + 0.4 * rng.standard_normal((len(groups), d))
    return X / np.linalg.norm(X, axis=1, keepdims=True), groups, answers


def test_retrieval_split_keeps_n_train_per_cluster():
    groups = np.repeat(np.arange(5), [2, 3, 4, 5, 6])
    train, test = retrieval_split(groups, n_train=3, random_state=0)
    assert np.array_equal(np.bincount(groups[train]), [2, 3, 3, 3, 3])
    assert np.array_equal(np.bincount(groups[test], minlength=5), [0, 0, 1, 2, 3])
    assert not set(train) & set(test)
    _, few = retrieval_split(groups, n_train=3, max_test=4, random_state=0)
    assert len(few) == 4


def test_split_dataset_holds_out_questions_or_uses_the_queries():
    X, groups, _ = _retrieval_problem(n_clusters=4, per_cluster=5)
    data = Bunch(X=X, groups=groups)
    X_train, g_train, X_test, g_test = split_dataset(data, n_train=3, random_state=0)
    assert np.array_equal(np.bincount(g_train), [3, 3, 3, 3])
    assert np.array_equal(np.bincount(g_test), [2, 2, 2, 2])
    # The rows keep their own clusters: each held-out row is a row of X of that cluster.
    for row, label in zip(X_test, g_test):
        assert np.any(np.all(X[groups == label] == row, axis=1))
    assert not {r.tobytes() for r in X_train} & {r.tobytes() for r in X_test}

    # One question per cluster and separate queries: train on all, test on the queries.
    single = Bunch(X=X[::5], groups=groups[::5], X_query=X[1::5], groups_query=groups[1::5])
    X_train, g_train, X_test, g_test = split_dataset(single, n_train=1)
    assert X_train is single.X and X_test is single.X_query
    assert g_test is single.groups_query


def test_split_dataset_rejects_splits_with_nothing_held_out():
    X, groups, _ = _retrieval_problem(n_clusters=3, per_cluster=2)
    with pytest.raises(ValueError, match=r"No cluster has more than n_train=2 questions, .*"
                                         r"lower n_train \(the largest cluster has 2\)"):
        split_dataset(Bunch(X=X, groups=groups), n_train=2)
    # With one question per cluster no n_train helps: only separate queries do.
    with pytest.raises(ValueError, match=r"every cluster has one question, so give held-out "
                                         r"queries \(X_query and groups_query"):
        split_dataset(Bunch(X=X[::2], groups=groups[::2]), n_train=1)


@pytest.mark.parametrize("split", [retrieval_split, split_dataset])
@pytest.mark.parametrize("param, value", [("n_train", 0), ("n_train", 1.5), ("max_test", 0)])
def test_splits_reject_invalid_sizes(split, param, value):
    X, groups, _ = _retrieval_problem(n_clusters=3, per_cluster=4)
    data = groups if split is retrieval_split else Bunch(X=X, groups=groups)
    with pytest.raises(ValueError, match=f"'{param}' parameter of {split.__name__}"):
        split(data, **{param: value})


def test_cli_reports_nothing_held_out(tmp_path):
    X, groups, answers = _retrieval_problem(n_clusters=3, per_cluster=2)
    path = tmp_path / "small.npz"
    np.savez(path, X=X.astype(np.float32), groups=groups, A=answers.astype(np.float32))
    with pytest.raises(SystemExit, match=r"nothing is left to evaluate on; lower "
                                          r"--train-per-cluster \(the largest cluster has 2\)"):
        main(["compare", "--data", str(path), "--train-per-cluster", "2"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_compare_retrieval_scores_every_method():
    X, groups, answers = _retrieval_problem()
    train, test = retrieval_split(groups, n_train=3, random_state=0)
    spaces = {
        "zero-shot": (SharedProjectionRegressor(method="identity"), {}),
        "router": (MultiHeadRegressor(), {"routing_temperature": [0.05, 0.5]}),
        "basis": (SmoothingBasisRegressor(max_iter=5, random_state=0), {"alpha": [0.1, 1.0]}),
    }
    rows = compare_retrieval(X[train], groups[train], X[test], groups[test], answers,
                             spaces=spaces, cv=3)
    assert [r["method"] for r in rows] == list(spaces)
    for row in rows:
        assert 0 <= row["recall_at_1"] <= row["mrr"] <= 1
        assert np.isfinite(row["mean_cosine"]) and row["fit_seconds"] >= 0
    assert set(rows[1]["params"]) == {"routing_temperature"}
    table = format_table(rows)
    assert "Recall@1" in table and "zero-shot" in table
    assert format_table(rows, markdown=True).startswith("| method")


@pytest.mark.parametrize("n_targets", [8, 5])
def test_search_spaces_offer_only_valid_candidates(n_targets):
    """Every candidate of every grid fits: no identity map between unequal spaces."""
    X, groups, _ = _retrieval_problem(n_clusters=4, per_cluster=3)
    Y = np.random.RandomState(0).standard_normal((len(X), n_targets))
    spaces = search_spaces(8, n_targets, max_iter=2, cosine_weight=[0.0, 0.5])
    assert ("zero_shot_cosine" in spaces) == (n_targets == 8)
    ours, grid = spaces["smoothing_basis"]
    # The default prior; its strength is chosen inside fit.
    assert ours.prior == "contrastive" and ours.prior_alpha == "auto"
    assert "prior" not in grid and "prior_alpha" not in grid
    for estimator, grid in spaces.values():
        for params in ParameterGrid(grid) if grid else [{}]:
            model = clone(estimator).set_params(**params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                assert model.fit(X, Y, groups=groups).predict(X).shape == Y.shape


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cli_compare_on_the_demo(capsys):
    main(["compare", "--iterations", "2", "--cv", "2", "--quiet"])
    out = capsys.readouterr().out
    assert "bundled FAQ demo" in out
    for method in ("smoothing basis", "zero-shot cosine", "multi-head router",
                   "shared ridge map", "independent ridge maps"):
        assert method in out
    assert "Recall@1" in out and "MRR" in out


def _write_npz(path):
    X, groups, answers = _retrieval_problem()
    np.savez(path, X=X.astype(np.float32), groups=groups, A=answers.astype(np.float32))
    return X, groups


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cli_fit_saves_a_usable_model(tmp_path, capsys):
    X, groups = _write_npz(tmp_path / "clusters.npz")
    out = tmp_path / "model.pkl"
    main(["fit", "--data", str(tmp_path / "clusters.npz"), "--out", str(out),
          "--iterations", "3", "--alpha", "0.5", "--routing-temperature", "0.1"])
    assert "saved SmoothingBasisRegressor" in capsys.readouterr().out
    with open(out, "rb") as f:
        model = pickle.load(f)
    assert model.alpha == 0.5 and len(model.clusters_) == 12
    assert model.predict(X.astype(np.float32)).shape == X.shape


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cli_fit_with_cv_to_skops(tmp_path, capsys):
    sio = pytest.importorskip("skops.io")
    X, _ = _write_npz(tmp_path / "clusters.npz")
    out = tmp_path / "model.skops"
    main(["fit", "--data", str(tmp_path / "clusters.npz"), "--out", str(out),
          "--iterations", "2", "--cv", "2", "--cosine-weight", "0"])
    assert "chosen by 2-fold" in capsys.readouterr().out
    model = sio.load(out, trusted=sio.get_untrusted_types(file=out))
    assert model.predict(X.astype(np.float32)).shape == X.shape


@pytest.mark.parametrize("command", ["compare", "fit"])
def test_cli_reports_unreadable_data_without_a_traceback(tmp_path, command):
    out = ["--out", str(tmp_path / "m.pkl")] if command == "fit" else []
    with pytest.raises(SystemExit, match="cannot load --data .*No such embeddings file"):
        main([command, "--data", str(tmp_path / "nope.npz"), *out])
    (tmp_path / "notes.npz").write_text("not an archive")
    with pytest.raises(SystemExit, match="cannot load --data .*not an .npz archive"):
        main([command, "--data", str(tmp_path / "notes.npz"), *out])


def test_cli_fit_checks_the_output_folder_before_fitting(tmp_path):
    _write_npz(tmp_path / "clusters.npz")
    out = tmp_path / "missing" / "m.pkl"
    with pytest.raises(SystemExit, match="--out .*: The folder of .* does not exist"):
        main(["fit", "--data", str(tmp_path / "clusters.npz"), "--out", str(out)])


@pytest.mark.parametrize("argv, message", [
    (["compare", "--train-per-cluster", "0"], "--train-per-cluster: expected an integer >= 1"),
    (["compare", "--max-test", "0"], "--max-test: expected an integer >= 1"),
    (["compare", "--cv", "1"], "--cv: expected an integer >= 2"),
    (["compare", "--num-basis", "0"], "--num-basis: expected an integer >= 1"),
    (["compare", "--iterations", "x"], "--iterations: expected an integer >= 1, got 'x'"),
    (["compare", "--cosine-weight", "2"], r"--cosine-weight: expected a finite number in \[0, 1\]"),
    (["compare", "--seed", "-1"], "--seed: expected an integer in"),
    (["fit", "--data", "d.npz", "--out", "m.pkl", "--routing-temperature", "0"],
     "--routing-temperature: expected a finite number > 0"),
    (["fit", "--data", "d.npz", "--out", "m.pkl", "--alpha", "-1"],
     "--alpha: expected a finite number >= 0"),
])
def test_cli_rejects_invalid_arguments_by_name(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2  # argparse's usage error
    assert re.search(message, capsys.readouterr().err)


def test_cli_cosine_weight_one_value_fixes_it_several_are_tuned():
    from sklearn_smoothbasis.__main__ import _cosine_weight, build_parser

    parse = build_parser().parse_args
    assert _cosine_weight(parse(["compare", "--cosine-weight", "0", "0.5"])) == [0.0, 0.5]
    assert _cosine_weight(parse(["compare", "--cosine-weight", "0"])) == 0.0
    assert _cosine_weight(parse(["compare"])) == 0.5
    _, grid = search_spaces(8, 8, cosine_weight=[0.0, 0.5])["smoothing_basis"]
    assert grid["cosine_weight"] == [0.0, 0.5]
    _, grid = search_spaces(8, 8, cosine_weight=0.0)["smoothing_basis"]
    assert "cosine_weight" not in grid
