"""The comparison protocol and the smoothbasis command, end to end on small settings."""

import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid
from sklearn.utils import Bunch

import sklearn_smoothbasis
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
    single = Bunch(X=X[::5], groups=groups[::5], X_query=X[1::5],
                   groups_query=groups[1::5])
    X_train, g_train, X_test, g_test = split_dataset(single, n_train=1)
    assert X_train is single.X and X_test is single.X_query
    assert g_test is single.groups_query


def test_split_dataset_rejects_splits_with_nothing_held_out():
    X, groups, _ = _retrieval_problem(n_clusters=3, per_cluster=2)
    with pytest.raises(ValueError,
                       match=r"No cluster has more than n_train=2 questions, .*"
                             r"lower n_train \(the largest cluster has 2\)"):
        split_dataset(Bunch(X=X, groups=groups), n_train=2)
    # With one question per cluster no n_train helps: only separate queries do.
    with pytest.raises(ValueError, match=r"every cluster has one question, so give "
                                         r"held-out "
                                         r"queries \(X_query and groups_query"):
        split_dataset(Bunch(X=X[::2], groups=groups[::2]), n_train=1)


@pytest.mark.parametrize("split", [retrieval_split, split_dataset])
@pytest.mark.parametrize("param, value",
                         [("n_train", 0), ("n_train", 1.5), ("max_test", 0)])
def test_splits_reject_invalid_sizes(split, param, value):
    X, groups, _ = _retrieval_problem(n_clusters=3, per_cluster=4)
    data = groups if split is retrieval_split else Bunch(X=X, groups=groups)
    with pytest.raises(ValueError, match=f"'{param}' parameter of {split.__name__}"):
        split(data, **{param: value})


def test_cli_reports_nothing_held_out(tmp_path):
    X, groups, answers = _retrieval_problem(n_clusters=3, per_cluster=2)
    path = tmp_path / "small.npz"
    np.savez(path, X=X.astype(np.float32), groups=groups, A=answers.astype(np.float32))
    with pytest.raises(SystemExit,
                       match=r"nothing is left to evaluate on; lower --train-per-"
                             r"cluster \(the largest cluster has 2\)"):
        main(["compare", "--data", str(path), "--train-per-cluster", "2"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_compare_retrieval_scores_every_method():
    X, groups, answers = _retrieval_problem()
    train, test = retrieval_split(groups, n_train=3, random_state=0)
    spaces = {
        "zero-shot": (SharedProjectionRegressor(method="identity"), {}),
        "router": (MultiHeadRegressor(), {"routing_temperature": [0.05, 0.5]}),
        "basis": (SmoothingBasisRegressor(max_iter=5, random_state=0),
                  {"alpha": [0.1, 1.0]}),
    }
    rows = compare_retrieval(X[train], groups[train], X[test], groups[test], answers,
                             spaces=spaces, cv=3)
    assert [r["method"] for r in rows] == list(spaces)
    for row, (estimator, _) in zip(rows, spaces.values()):
        # The scores recomputed here from their definitions: refit with the chosen
        # parameters, rank every answer by cosine (ties against the row).
        model = clone(estimator).set_params(**row["params"])
        Y_pred = model.fit(
            X[train], answers[groups[train]], groups=groups[train]
        ).predict(X[test])
        unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)  # noqa: E731
        cosines = unit(Y_pred) @ unit(answers).T
        own = cosines[np.arange(len(test)), groups[test]]
        ranks = np.sum(cosines >= own[:, None], axis=1)
        assert row["recall_at_1"] == pytest.approx(np.mean(ranks == 1))
        assert row["mrr"] == pytest.approx(np.mean(1.0 / ranks))
        assert row["mean_cosine"] == pytest.approx(np.mean(own))
        assert row["fit_seconds"] >= 0
    assert set(rows[1]["params"]) == {"routing_temperature"}
    table = format_table(rows)
    assert "Recall@1" in table and "zero-shot" in table
    assert format_table(rows, markdown=True).startswith("| method")


@pytest.mark.parametrize("n_targets", [8, 5])
def test_search_spaces_offer_only_valid_candidates(n_targets):
    """Every candidate of every grid fits: no identity map between unequal spaces."""
    X, groups, _ = _retrieval_problem(n_clusters=4, per_cluster=3)
    Y = np.random.RandomState(0).standard_normal((len(X), n_targets))
    spaces = search_spaces(8, n_targets, max_iter=2, cosine_weight=[0.0, 0.5],
                           efficient_cv=False)
    assert ("zero_shot_cosine" in spaces) == (n_targets == 8)
    ours, grid = spaces["smoothing_basis"]
    # The default prior; its strength is chosen inside fit.
    assert ours.prior == "auto" and ours.prior_alpha == "auto"
    assert "prior" not in grid and "prior_alpha" not in grid
    # the efficient search has the same candidates
    searching, no_grid = search_spaces(
        8, n_targets, max_iter=2, cosine_weight=[0.0, 0.5]
    )["smoothing_basis"]
    assert no_grid == {}
    assert searching._grid(8, n_targets) == {
        **grid, "prior": [ours.prior], "routing_shrinkage": [ours.routing_shrinkage]
    }
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
    with pytest.raises(SystemExit,
                       match="cannot load --data .*No such embeddings file"):
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
    (["compare", "--train-per-cluster", "0"],
     "--train-per-cluster: expected an integer >= 1"),
    (["compare", "--max-test", "0"], "--max-test: expected an integer >= 1"),
    (["compare", "--cv", "1"], "--cv: expected an integer >= 2"),
    (["compare", "--num-basis", "0"], "--num-basis: expected an integer >= 1"),
    (["compare", "--iterations", "x"],
     "--iterations: expected an integer >= 1, got 'x'"),
    (["compare", "--cosine-weight", "2"],
     r"--cosine-weight: expected a finite number in \[0, 1\]"),
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
    tuned = parse(["compare", "--cosine-weight", "0", "0.5"])
    assert _cosine_weight(tuned) == [0.0, 0.5]
    assert _cosine_weight(parse(["compare", "--cosine-weight", "0"])) == 0.0
    assert _cosine_weight(parse(["compare"])) == 0.5
    searching, _ = search_spaces(8, 8, cosine_weight=[0.0, 0.5])["smoothing_basis"]
    assert searching.cosine_weights == [0.0, 0.5]
    searching, _ = search_spaces(8, 8, cosine_weight=0.0)["smoothing_basis"]
    assert searching.cosine_weights == [0.0]


# ---------------------------------------------------------------------------
# The command as a process, its output files, progress and notes
# ---------------------------------------------------------------------------

PACKAGE_ROOT = str(Path(sklearn_smoothbasis.__file__).resolve().parents[1])


def _run_command(*argv, limit_file_size=None):
    """Run ``python -m sklearn_smoothbasis`` on this source tree as a process."""
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT, "PYTHONDONTWRITEBYTECODE": "1"}

    def limit():  # the ``ulimit -f`` of the shell
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run(
        [sys.executable, "-m", "sklearn_smoothbasis", *argv], env=env, check=False,
        capture_output=True, text=True,
        preexec_fn=limit if limit_file_size else None,
    )


def test_command_exits_0_after_a_successful_fit(tmp_path):
    _write_npz(tmp_path / "clusters.npz")
    out = tmp_path / "model.pkl"
    fit = _run_command("fit", "--data", str(tmp_path / "clusters.npz"),
                       "--out", str(out), "--iterations", "2")
    assert fit.returncode == 0, fit.stderr
    assert "saved SmoothingBasisRegressor" in fit.stdout
    with open(out, "rb") as f:
        assert len(pickle.load(f).clusters_) == 12


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform != "linux",
                    reason="RLIMIT_FSIZE as in `ulimit -f`")
@pytest.mark.parametrize("suffix", [".pkl", ".skops"])
def test_interrupted_model_write_leaves_the_previous_model(tmp_path, suffix):
    if suffix == ".skops":
        pytest.importorskip("skops.io")
    _write_npz(tmp_path / "clusters.npz")
    out = tmp_path / f"model{suffix}"
    fit = ["fit", "--data", str(tmp_path / "clusters.npz"), "--out", str(out),
           "--iterations", "2", "--quiet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        main([*fit, "--alpha", "0.5"])
    before = out.read_bytes()
    # The second model cannot be written whole: the file size limit stops it.
    failed = _run_command(*fit, "--alpha", "2", limit_file_size=len(before) // 2)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        f"error: cannot write --out {out}: [Errno 27] File too large"
    )
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusters.npz", out.name]


@pytest.mark.parametrize("option", ["--out", "--plot"])
def test_unusable_output_is_reported_before_any_work(tmp_path, option, capsys):
    # --data does not exist: an error about the output proves it came first.
    missing = str(tmp_path / "missing.npz")
    command = (["fit", "--data", missing] if option == "--out"
               else ["compare", "--data", missing, "--quiet"])
    folder = tmp_path / "folder.png"
    folder.mkdir()
    cases = {
        "": "The output file name is empty",
        str(folder): "is a folder, not a file name",
        str(tmp_path / "nowhere" / "x.png"): "The folder of .* does not exist",
    }
    for path, message in cases.items():
        with pytest.raises(SystemExit, match=f"^error: {option} .*{message}"):
            main([*command, option, path])


def test_plot_without_matplotlib_is_reported_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit, match=r'^error: --plot .*pip install '
                                          r'"sklearn-smoothbasis\[plot\]"'):
        main(["compare", "--data", str(tmp_path / "missing.npz"), "--plot",
              str(tmp_path / "c.png")])


@pytest.mark.parametrize("command", ["fit", "compare"])
def test_num_basis_above_the_number_of_clusters_is_a_usage_error(
    tmp_path, command, capsys
):
    _write_npz(tmp_path / "clusters.npz")  # 12 clusters
    out = ["--out", str(tmp_path / "m.pkl")] if command == "fit" else []
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--data", str(tmp_path / "clusters.npz"), *out,
              "--num-basis", "13"])
    assert exit_info.value.code == 2
    assert ("--num-basis: expected at most the number of clusters (12), got 13"
            in capsys.readouterr().err)


@pytest.mark.parametrize("option, argv", [
    ("--alpha", ["fit", "--out", "m.pkl", "--alpha", "inf"]),
    ("--routing-temperature",
     ["fit", "--out", "m.pkl", "--routing-temperature", "inf"]),
    ("--cosine-weight", ["fit", "--out", "m.pkl", "--cosine-weight", "inf"]),
    ("--cosine-weight", ["compare", "--cosine-weight", "0", "inf"]),
])
def test_infinite_values_are_usage_errors(option, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert f"argument {option}: expected a finite number" in capsys.readouterr().err


def test_fit_without_data_uses_the_bundled_demo(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        main(["fit", "--out", str(tmp_path / "m.pkl"), "--iterations", "2", "--quiet"])
    assert "49 clusters" in capsys.readouterr().out


def test_fit_progress_names_the_data_whatever_is_fixed(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        main(["fit", "--out", str(tmp_path / "m.pkl"), "--iterations", "2",
              "--alpha", "1", "--routing-temperature", "0.1"])
    err = capsys.readouterr().err
    assert "fitting smoothing_basis on bundled FAQ demo (" in err


def test_fit_cv_on_the_demo_reports_non_convergence_once(tmp_path, capsys):
    """No warning per fit of the cross-validation: one note line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["fit", "--out", str(tmp_path / "m.pkl"), "--cv", "2", "--iterations", "2",
              "--alpha", "1"])
    assert [str(w.message) for w in caught] == []
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    # The search's 2 folds (one alpha, one prior) in one warning, and the refit,
    # each stopped at --iterations 2.
    assert notes == [
        "note: 1 fit stopped early: 2 of the 2 solver runs of "
        "SmoothingBasisRegressorCV's search stopped at max_iter=2 before the "
        "objective decreased by less than tol=1e-05 (relative). Increase max_iter, "
        "or raise tol. (--iterations sets max_iter)",
        "note: 1 fit stopped early: SmoothingBasisRegressor did not converge in "
        "max_iter=2 iterations: the last one decreased the objective by more than "
        "tol=1e-05 (relative). Increase max_iter, or raise tol. (--iterations sets "
        "max_iter)",
    ]


@pytest.mark.parametrize("command", ["fit", "compare"])
def test_progress_on_standard_error_unless_quiet(
    tmp_path, command, capsys, monkeypatch
):
    _write_npz(tmp_path / "clusters.npz")
    argv = [command, "--data", str(tmp_path / "clusters.npz"), "--iterations", "2",
            "--cv", "2"]
    if command == "fit":
        argv += ["--out", str(tmp_path / "m.pkl"), "--alpha", "1"]
    else:  # two of the methods keep the test short
        import sklearn_smoothbasis.__main__ as command_module

        every_method = command_module.search_spaces
        monkeypatch.setattr(command_module, "search_spaces", lambda *a, **k: {
            key: space for key, space in every_method(*a, **k).items()
            if key in ("zero_shot_cosine", "smoothing_basis")})
    main(argv)
    loud = capsys.readouterr()
    main([*argv, "--quiet"])
    quiet = capsys.readouterr()
    progress = [line for line in loud.err.splitlines() if not line.startswith("note:")]
    assert progress and progress[-1].strip().startswith("done in")
    assert not [line for line in quiet.err.splitlines() if not line.startswith("note:")]
    # The same results on standard output.
    assert quiet.out.splitlines()[0] == loud.out.splitlines()[0]


@pytest.mark.parametrize("command", ["fit", "compare"])
def test_help_ends_with_examples_and_the_data_formats(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    examples = help_text.split("examples:\n")[1].split("\n\n")[0].splitlines()
    assert 2 <= len(examples) <= 3
    assert all(line.strip().startswith(f"smoothbasis {command}") for line in examples)
    for data_format in (".npz", "embeddings.npz", ".jsonl", "bundled FAQ demo"):
        assert data_format in help_text.split("examples:\n")[1]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"smoothbasis {sklearn_smoothbasis.__version__}\n"


def test_bar_chart_shows_the_differences(tmp_path):
    pytest.importorskip("matplotlib")
    from sklearn_smoothbasis.compare import plot_table
    from sklearn_smoothbasis.compare._report import bar_chart

    rows = [{"method": "smoothing_basis", "recall_at_1": 0.897, "mrr": 0.940},
            {"method": "zero_shot_cosine", "recall_at_1": 0.845, "mrr": 0.910},
            {"method": "multi_head_router", "recall_at_1": 0.758, "mrr": 0.831}]
    figure = bar_chart(rows)
    ax = figure.axes[0]
    start = ax.get_xlim()[0]
    assert 0.6 < start <= 0.758 - 0.05  # near the smallest value, not at 0
    assert f"axis starts at {start:.2f}" in ax.get_xlabel()
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == sorted(f"{r[k]:.3f}" for r in rows for k in ("recall_at_1", "mrr"))
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "multi-head router", "zero-shot cosine", "smoothing basis"]  # best at the top
    figure.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert not any(legend.overlaps(bar.get_window_extent()) for bar in ax.patches)
    import matplotlib.pyplot as plt

    plt.close(figure)
    plot_table(rows, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
