"""Declining out-of-scope queries: retrieve(min_similarity=), the calibration of the
threshold, the bundle field, and the commands that use them."""

import json
import zipfile

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_smoothbasis import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
    SmoothingBasisRegressorCV,
)
from sklearn_smoothbasis.__main__ import main
from sklearn_smoothbasis._declining import (
    apply_min_similarity,
    threshold_keeping,
    threshold_separating,
)
from sklearn_smoothbasis.compare import (
    compare_retrieval,
    format_declining_table,
    retrieval_split,
)
from sklearn_smoothbasis.io import RetrievalBundle, load_bundle, save_bundle
from sklearn_smoothbasis.metrics import recall_at_k
from sklearn_smoothbasis.model_selection import calibrate_min_similarity

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [
    SharedProjectionRegressor(),
    MultiHeadRegressor(),
    IndependentProjectionRegressor(),
    SmoothingBasisRegressor(max_iter=5, random_state=0),
]
IDS = [type(e).__name__ for e in ESTIMATORS]
# Every estimator retrieves with a threshold, the CV estimator too.
RETRIEVERS = ESTIMATORS + [
    SmoothingBasisRegressorCV(alphas=[0.3, 1.0], priors=["shared"],
                              routing_temperatures=[0.1], routing_shrinkages=[1.0],
                              cv=2, max_iter=5, random_state=0),
]
RETRIEVER_IDS = IDS + ["SmoothingBasisRegressorCV"]


def _problem(n_clusters=20, per_cluster=60, d=16, noise=0.6, seed=0):
    """Unit answers; questions are noisy copies of their cluster's answer."""
    rng = np.random.RandomState(seed)
    answers = rng.standard_normal((n_clusters, d))
    answers /= np.linalg.norm(answers, axis=1, keepdims=True)
    groups = np.repeat(np.arange(n_clusters), per_cluster)
    X = answers[groups] + noise * rng.standard_normal((len(groups), d))
    return X / np.linalg.norm(X, axis=1, keepdims=True), groups, answers


def _out_of_scope(n, d=16, seed=1):
    """Queries in directions no answer points to: random unit vectors."""
    X = np.random.RandomState(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# -- the threshold's arithmetic -------------------------------------------------------


def test_threshold_keeping_declines_at_most_the_rate_of_its_scores():
    rng = np.random.RandomState(0)
    for n in (1, 7, 100, 1001):
        scores = rng.uniform(-1, 1, n)
        for rate in (0.01, 0.05, 0.3, 0.99):
            threshold = threshold_keeping(scores, rate)
            declined = np.sum(scores < threshold)
            assert declined == min(int(np.floor(rate * n)), n - 1)
            assert threshold in scores


def test_threshold_separating_finds_the_gap_and_prefers_declining_least():
    in_scope, out_of_scope = np.array([0.7, 0.8, 0.9]), np.array([0.1, 0.2, 0.3])
    # Every threshold in (0.3, 0.7] separates perfectly; the smallest observed one.
    assert threshold_separating(in_scope, out_of_scope) == 0.7
    # Overlap: the J of every candidate computed by hand, the best one returned.
    rng = np.random.RandomState(0)
    s_in, s_out = rng.normal(0.6, 0.1, 50), rng.normal(0.4, 0.1, 30)
    candidates = np.unique(np.r_[s_in, s_out])
    j = [np.mean(s_in >= t) + np.mean(s_out < t) for t in candidates]
    best = threshold_separating(s_in, s_out)
    assert np.mean(s_in >= best) + np.mean(s_out < best) == pytest.approx(max(j))


# -- retrieve: the score and the decision ---------------------------------------------


@pytest.mark.parametrize("estimator", RETRIEVERS, ids=RETRIEVER_IDS)
@pytest.mark.parametrize("threshold", [-1.0, 0.0, 0.55, 0.8, 1.0])
def test_declining_never_changes_the_ranking_of_kept_answers(estimator, threshold):
    X, groups, answers = _problem(n_clusters=8, per_cluster=6)
    X = np.r_[X, _out_of_scope(10)]
    model = estimator.fit(X[:48], answers[groups], groups=groups)
    full = model.retrieve(X, answers, k=len(answers))
    cut = model.retrieve(X, answers, k=len(answers), min_similarity=threshold)
    np.testing.assert_array_equal(cut.similarities, full.similarities)
    below = full.similarities < threshold
    np.testing.assert_array_equal(cut.indices[~below], full.indices[~below])
    assert (cut.indices[below] == -1).all()
    # The kept answers are a prefix of each row, and declined is "none kept".
    kept = cut.indices >= 0
    assert (np.diff(kept.astype(int), axis=1) <= 0).all()
    np.testing.assert_array_equal(cut.declined, ~kept[:, 0])
    np.testing.assert_array_equal(cut.confidence, full.similarities[:, 0])
    # k does not change which queries are declined.
    one = model.retrieve(X, answers, min_similarity=threshold)
    np.testing.assert_array_equal(one.declined, cut.declined)


def test_a_declined_query_is_a_miss_for_the_metrics():
    X, groups, answers = _problem(n_clusters=6, per_cluster=5)
    model = MultiHeadRegressor().fit(X, answers[groups], groups=groups)
    full = model.retrieve(X, answers)
    threshold = float(np.median(full.confidence))
    cut = model.retrieve(X, answers, min_similarity=threshold)
    hits = (full.indices[:, 0] == groups) & (full.confidence >= threshold)
    assert recall_at_k(groups, cut) == pytest.approx(hits.mean())
    assert recall_at_k(groups, cut) < recall_at_k(groups, full)


@pytest.mark.parametrize(
    "threshold, error, message",
    [
        (1.5, ValueError, r"min_similarity must be a cosine similarity in \[-1, 1\]; "
                          r"got 1.5"),
        (-1.01, ValueError, r"in \[-1, 1\]; got -1.01"),
        (float("nan"), ValueError, r"in \[-1, 1\]; got nan"),
        (float("inf"), ValueError, r"in \[-1, 1\]; got inf"),
        ("0.5", TypeError, r"min_similarity must be a number in \[-1, 1\] or None; "
                           r"got str '0.5'"),
        (True, TypeError, r"got bool True"),
    ],
)
def test_bad_thresholds_are_clear_errors(threshold, error, message):
    X, groups, answers = _problem(n_clusters=4, per_cluster=3)
    model = SharedProjectionRegressor().fit(X, answers[groups])
    with pytest.raises(error, match=message):
        model.retrieve(X, answers, min_similarity=threshold)
    with pytest.raises(error, match=message):
        RetrievalBundle(model, answers, min_similarity=threshold)


def test_apply_min_similarity_keeps_the_dtype_and_copies():
    indices = np.array([[3, 1, 0]], dtype=np.intp)
    out = apply_min_similarity(indices, np.array([[0.9, 0.5, 0.1]]), 0.5)
    assert out.dtype == np.intp and out.tolist() == [[3, 1, -1]]
    assert indices.tolist() == [[3, 1, 0]]


# -- calibration ----------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_threshold_from_training_data_keeps_the_stated_fraction(estimator):
    """Calibrated on half of the planted questions by CV, the threshold declines
    the stated fraction of the other half (new questions of the same clusters)
    within sampling error: three standard errors of the two binomial fractions."""
    X, groups, answers = _problem()
    train = np.arange(len(X)) % 2 == 0
    rate = 0.2
    calibration = calibrate_min_similarity(
        estimator, X[train], answers[groups[train]], groups=groups[train],
        answers=answers, decline_rate=rate, cv=5, random_state=0,
    )
    # On the held-out training questions it declines the rate, less ties.
    n_train = train.sum()
    assert calibration.in_scope_declined == pytest.approx(
        np.floor(rate * n_train) / n_train)
    assert calibration.oos_scores is None and calibration.oos_declined is None
    assert not np.isnan(calibration.in_scope_scores).any()
    model = estimator.fit(X[train], answers[groups[train]], groups=groups[train])
    declined = model.retrieve(
        X[~train], answers, min_similarity=calibration.min_similarity
    ).declined.mean()
    sampling_error = np.sqrt(rate * (1 - rate) * (1 / n_train + 1 / (~train).sum()))
    assert abs(declined - rate) < 3 * sampling_error


def test_threshold_with_out_of_scope_examples_separates_them():
    X, groups, answers = _problem(noise=0.15)
    X_oos = _out_of_scope(200)
    estimator = SharedProjectionRegressor()
    calibration = calibrate_min_similarity(
        estimator, X, answers[groups], groups=groups, answers=answers,
        X_oos=X_oos[:100], cv=3, random_state=0,
    )
    assert calibration.oos_scores.shape == (3, 100)
    # The threshold is Youden's best on the scores it returns.
    scored = calibration.in_scope_scores
    assert calibration.min_similarity == threshold_separating(
        scored, calibration.oos_scores.ravel())
    model = estimator.fit(X, answers[groups], groups=groups)
    new_oos = model.retrieve(X_oos[100:], answers,
                             min_similarity=calibration.min_similarity)
    assert new_oos.declined.mean() > 0.8
    assert calibration.in_scope_declined < 0.2


def test_calibration_rejects_what_it_cannot_use():
    X, groups, answers = _problem(n_clusters=4, per_cluster=4)
    Y = answers[groups]
    with pytest.raises(ValueError, match="Pass one of the two"):
        calibrate_min_similarity(MultiHeadRegressor(), X, Y, groups=groups,
                                 answers=answers, X_oos=X[:2], decline_rate=0.1)
    with pytest.raises(InvalidParameterError, match="'decline_rate' parameter"):
        calibrate_min_similarity(MultiHeadRegressor(), X, Y, groups=groups,
                                 answers=answers, decline_rate=1.0)
    with pytest.raises(ValueError, match="X_oos has 3 columns but X has 16"):
        calibrate_min_similarity(MultiHeadRegressor(), X, Y, groups=groups,
                                 answers=answers, X_oos=X[:2, :3])
    with pytest.raises(ValueError, match="Cannot make 2 folds from 0 rows"):
        calibrate_min_similarity(MultiHeadRegressor(), X[::4], Y[::4],
                                 groups=groups[::4], answers=answers, cv=2)


# -- the protocol ---------------------------------------------------------------------


def test_compare_retrieval_scores_declining_from_its_definitions():
    X, groups, answers = _problem(n_clusters=10, per_cluster=8, noise=0.5)
    X_oos = _out_of_scope(40)
    train, test = retrieval_split(groups, n_train=4, random_state=0)
    spaces = {"router": (MultiHeadRegressor(), {"routing_temperature": [0.05, 0.5]}),
              "zero-shot": (SharedProjectionRegressor(method="identity"), {})}
    rows = compare_retrieval(
        X[train], groups[train], X[test], groups[test], answers, spaces=spaces, cv=2,
        decline_rate=0.1, X_oos=X_oos[:30], X_oos_val=X_oos[30:],
    )
    for row, (estimator, _) in zip(rows, spaces.values()):
        d = row["declining"]
        model = estimator.set_params(**row["params"]).fit(
            X[train], answers[groups[train]], groups=groups[train])
        s_in = model.retrieve(X[test], answers).confidence
        s_out = model.retrieve(X_oos[:30], answers).confidence
        pairs = s_in[:, None] - s_out[None, :]
        assert d["auroc"] == pytest.approx(np.mean(pairs > 0) + 0.5 * np.mean(
            pairs == 0))
        for key in ("train", "oos_val"):
            t = d[key]["min_similarity"]
            right = (model.retrieve(X[test], answers).indices[:, 0] == groups[test])
            assert d[key]["recall_at_1"] == pytest.approx(np.mean(right & (s_in >= t)))
            assert d[key]["in_scope_declined"] == pytest.approx(np.mean(s_in < t))
            assert d[key]["oos_declined"] == pytest.approx(np.mean(s_out < t))
    table = format_declining_table(rows)
    assert "oos recall" in table and "+ oos val" in table
    # Without declining asked for, the rows are as before.
    plain = compare_retrieval(X[train], groups[train], X[test], groups[test], answers,
                              spaces=spaces, cv=2)
    assert "declining" not in plain[0]


# -- the bundle -----------------------------------------------------------------------


def _bundle(tmp_path, threshold):
    X, groups, answers = _problem(n_clusters=5, per_cluster=4)
    model = MultiHeadRegressor().fit(X, answers[groups], groups=groups)
    path = tmp_path / "faq.npz"
    save_bundle(RetrievalBundle(model, answers, min_similarity=threshold), path)
    return path, X


def test_bundle_keeps_its_threshold_and_old_bundles_load(tmp_path):
    path, X = _bundle(tmp_path, 0.75)
    bundle = load_bundle(path)
    assert bundle.min_similarity == 0.75
    result = bundle.retrieve(np.r_[X, _out_of_scope(5)], k=2)
    np.testing.assert_array_equal(result.declined, result.confidence < 0.75)
    # A bundle without the field (as written before it existed) always answers.
    path, X = _bundle(tmp_path, None)
    with zipfile.ZipFile(path) as archive:
        assert "min_similarity" not in json.loads(archive.read("manifest.json"))[
            "answers"]
    assert load_bundle(path).min_similarity is None
    assert not load_bundle(path).retrieve(_out_of_scope(5)).declined.any()


@pytest.mark.parametrize("stored, message", [
    (2.0, r"answers.min_similarity must be a cosine similarity in \[-1, 1\]"),
    ("high", r"answers.min_similarity must be a number"),
])
def test_bundle_with_a_bad_threshold_fails_to_load_by_name(tmp_path, stored, message):
    path, _ = _bundle(tmp_path, 0.5)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["answers"]["min_similarity"] = stored
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=message):
        load_bundle(path)


# -- the commands ---------------------------------------------------------------------


def _write_data(tmp_path):
    X, groups, answers = _problem(n_clusters=8, per_cluster=6, noise=0.3)
    data = tmp_path / "clusters.npz"
    np.savez(data, X=X.astype(np.float32), groups=groups,
             A=answers.astype(np.float32))
    oos = tmp_path / "oos.npz"
    np.savez(oos, X_oos=_out_of_scope(30).astype(np.float32),
             split_oos=np.repeat(np.array([0, 1, 2], dtype=np.int8), 10))
    return data, oos


def test_cli_compare_scores_declining_with_oos_data(tmp_path, capsys, monkeypatch):
    import sklearn_smoothbasis.__main__ as command_module

    every_method = command_module.search_spaces
    monkeypatch.setattr(command_module, "search_spaces", lambda *a, **k: {
        key: space for key, space in every_method(*a, **k).items()
        if key in ("zero_shot_cosine", "multi_head_router")})
    data, oos = _write_data(tmp_path)
    main(["compare", "--data", str(data), "--oos", str(oos), "--cv", "2", "--quiet"])
    out = capsys.readouterr().out
    assert "10 out-of-scope test queries, 10 for validation" in out
    lines = [line for line in out.splitlines()
             if line.endswith(tuple("0123456789")) and ("training questions  " in line
                                                      or "+ oos val" in line)]
    assert len(lines) == 4  # two methods, two thresholds
    assert "AUROC" in out and "oos recall" in out
    # The flag for none: declining scored without out-of-scope queries.
    main(["compare", "--data", str(data), "--decline-rate", "0.1", "--cv", "2",
          "--quiet"])
    out = capsys.readouterr().out
    assert "0.1 of them declined in CV" in out and "+ oos val" not in out


def test_cli_ask_declines_with_a_bundle_holding_a_threshold(tmp_path, capsys):
    data, oos = _write_data(tmp_path)
    model = tmp_path / "faq.npz"
    main(["fit", "--data", str(data), "--out", str(model), "--iterations", "2",
          "--decline-rate", "0.1", "--quiet"])
    out = capsys.readouterr().out
    assert "min_similarity" in out and "chosen by 3-fold cluster-stratified CV" in out
    bundle = load_bundle(model)
    assert bundle.min_similarity is not None
    queries = np.r_[np.load(data)["X"][:2], np.load(oos)["X_oos"][:2]]
    np.save(tmp_path / "q.npy", queries)
    main(["ask", "--model", str(model), "--embeddings", str(tmp_path / "q.npy"),
          "--quiet"])
    out = capsys.readouterr().out
    declined = bundle.retrieve(queries).declined
    assert not declined[:2].any() and declined[2:].any()
    line = f"no answer above similarity {bundle.min_similarity:.3f} (the best: "
    assert out.count(line) == declined.sum()
    # --min-similarity overrides the bundle's threshold.
    main(["ask", "--model", str(model), "--embeddings", str(tmp_path / "q.npy"),
          "--min-similarity", "-1", "--quiet"])
    assert "no answer" not in capsys.readouterr().out
    # --oos stores the threshold chosen with out-of-scope examples.
    main(["fit", "--data", str(data), "--out", str(model), "--iterations", "2",
          "--oos", str(oos), "--quiet"])
    assert "of 20 out-of-scope queries" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["ask", "--model", "x.npz", "--min-similarity", "1.5"],
     "argument --min-similarity: expected a finite number in [-1, 1], got '1.5'"),
    (["ask", "--model", "x.npz", "--min-similarity", "nan"],
     "argument --min-similarity: expected a finite number in [-1, 1], got 'nan'"),
    (["fit", "--out", "m.npz", "--min-similarity", "0.5", "--decline-rate", "0.1"],
     "argument --decline-rate: not allowed with argument --min-similarity"),
    (["fit", "--out", "m.pkl", "--min-similarity", "0.5"],
     "is stored in a retrieval bundle: use --out x.npz"),
    (["compare", "--decline-rate", "1"],
     "argument --decline-rate: expected a finite number in (0, 1)"),
])
def test_cli_rejects_bad_thresholds_by_name(argv, message, capsys, tmp_path,
                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_compare_with_one_question_per_cluster_calibrates_on_training_scores():
    """Nothing can be held out: the threshold comes from the training questions as
    the fitted model scores them (training data only, never the test questions)."""
    X, groups, answers = _problem(n_clusters=6, per_cluster=5, noise=0.3)
    train = np.arange(len(X)) % 5 == 0
    spaces = {"router": (MultiHeadRegressor(), {})}
    (row,) = compare_retrieval(
        X[train], groups[train], X[~train], groups[~train], answers, spaces=spaces,
        decline_rate=0.2,
    )
    model = MultiHeadRegressor().fit(X[train], answers[groups[train]],
                                     groups=groups[train])
    expected = threshold_keeping(model.retrieve(X[train], answers).confidence, 0.2)
    assert row["declining"]["train"]["min_similarity"] == expected
    assert "no cluster has two training questions" in row["declining"]["note"]
    assert row["declining"]["auroc"] is None


def test_compare_calibrates_the_cv_estimator_at_its_choice(monkeypatch):
    """score_declining calibrates a SmoothingBasisRegressorCV's best_estimator_
    (its chosen parameters), not the search again in every fold."""
    X, groups, answers = _problem(n_clusters=6, per_cluster=6, noise=0.3)
    train, test = retrieval_split(groups, n_train=4, random_state=0)
    model = RETRIEVERS[-1].fit(X[train], answers[groups[train]], groups=groups[train])
    import sklearn_smoothbasis.compare._protocol as protocol

    calibrated = []
    real = protocol.calibrate_min_similarity
    monkeypatch.setattr(protocol, "calibrate_min_similarity",
                        lambda estimator, *a, **k: calibrated.append(estimator)
                        or real(estimator, *a, **k))
    result = protocol.score_declining(
        model, X[train], groups[train], X[test], groups[test], answers, cv=2)
    assert calibrated == [model.best_estimator_]
    assert -1 <= result["train"]["min_similarity"] <= 1
