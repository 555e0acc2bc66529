"""The shared prior map: its ridge strength chosen by exact leave-one-out retrieval."""

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning

import sklearn_smoothbasis._prior as prior_module
import sklearn_smoothbasis._smoothing_basis as smoothing_basis_module
from sklearn_smoothbasis import SharedProjectionRegressor, SmoothingBasisRegressor
from sklearn_smoothbasis._linalg import linear_map
from sklearn_smoothbasis._loss import ContrastiveLoss
from sklearn_smoothbasis._prior import (
    _CONTRASTIVE_TEMPERATURE,
    FALLBACK_PRIOR_ALPHA,
    PRIOR_ALPHA_GRID,
    contrastive_map,
    ridge_loo_predictions,
    select_prior_alpha,
)
from sklearn_smoothbasis._ranking import target_indices
from sklearn_smoothbasis.metrics import mean_reciprocal_rank


def _unit(M):
    return M / np.linalg.norm(M, axis=1, keepdims=True)


def _paraphrased_answers(mapping, n_clusters=15, rows=3, d=8, random_state=0):
    """Paraphrased questions whose answer is ``mapping`` of their cluster's centre.

    ``mapping="same"``: the answers are the centres (zero-shot retrieval is right);
    ``"rotated"``: a fixed random rotation of them (the identity is useless).
    """
    rng = np.random.RandomState(random_state)
    centres = _unit(rng.standard_normal((n_clusters, d)))
    rotation = np.eye(d)
    if mapping == "rotated":
        rotation = np.linalg.qr(rng.standard_normal((d, d)))[0]
    groups = np.repeat(np.arange(n_clusters), rows)
    X = _unit(centres[groups] + 0.4 * rng.standard_normal((len(groups), d)))
    return X, (centres @ rotation)[groups], groups, np.arange(0, len(groups) + 1, rows)


@pytest.mark.parametrize("n_samples", [6, 30])  # fewer, more rows than features
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loo_predictions_equal_refits_without_the_row(n_samples, dtype):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n_samples, 10)).astype(dtype)
    Z = rng.standard_normal((n_samples, 4)).astype(dtype)
    alphas, rows = [0.1, 1.0, 30.0], np.array([0, 3, n_samples - 1])
    for alpha, predicted in zip(alphas, ridge_loo_predictions(X, Z, alphas, rows)):
        for row, prediction in zip(rows, predicted):
            rest = np.delete(np.arange(n_samples), row)
            ridge = SharedProjectionRegressor(alpha=alpha).fit(
                X[rest].astype(np.float64), Z[rest].astype(np.float64))
            rtol = 1e-4 if dtype == np.float32 else 1e-8
            expected = X[row] @ ridge.coef_
            np.testing.assert_allclose(prediction, expected, rtol=rtol, atol=rtol)


def test_selected_alpha_maximises_loo_mean_reciprocal_rank():
    X, Y, groups, starts = _paraphrased_answers("rotated", random_state=1)
    center = np.eye(X.shape[1])
    alphas = PRIOR_ALPHA_GRID * np.mean(np.sum(X**2, axis=1))
    scores = [
        mean_reciprocal_rank(Y, X @ center + Z_loo, candidates=np.unique(Y, axis=0))
        for Z_loo in ridge_loo_predictions(X, Y - X @ center, alphas, np.arange(len(X)))
    ]
    best = alphas[np.argmax(scores)]
    assert select_prior_alpha(X, Y, starts, True) == pytest.approx(best)


def test_alpha_follows_how_far_answers_are_from_questions():
    for random_state in range(3):
        # Answers equal the question centres: the prior should stay near the identity.
        X, Y, _, starts = _paraphrased_answers("same", random_state=random_state)
        assert select_prior_alpha(X, Y, starts, True) >= 30
        # Answers rotated away: the identity retrieves nothing, the ridge map must move.
        X, Y, _, starts = _paraphrased_answers("rotated", random_state=random_state)
        assert select_prior_alpha(X, Y, starts, True) <= 1
    # Candidates are in units of the mean squared row norm: X times c, alpha times c^2.
    assert select_prior_alpha(3 * X, Y, starts, False) == pytest.approx(
        9 * select_prior_alpha(X, Y, starts, False))


def test_one_row_per_cluster_falls_back():
    X, Y, _, _ = _paraphrased_answers("rotated", rows=1)
    starts = np.arange(len(X) + 1)
    assert select_prior_alpha(X, Y, starts, True) == FALLBACK_PRIOR_ALPHA
    model = SmoothingBasisRegressor(prior="contrastive", n_basis=2, max_iter=5, tol=0)
    model.fit(X, Y, groups=np.arange(len(X)))
    assert model.prior_alpha_ == FALLBACK_PRIOR_ALPHA
    assert model.prior_n_iter_ == 0  # the contrastive prior keeps the ridge map


def test_estimator_stores_the_alpha_it_used():
    X, Y, groups, starts = _paraphrased_answers("rotated")
    fast = dict(n_basis=2, max_iter=5, tol=0, prior="shared")
    auto = SmoothingBasisRegressor(**fast).fit(X, Y, groups=groups)
    assert auto.prior_alpha_ == pytest.approx(select_prior_alpha(X, Y, starts, True))
    correction = SharedProjectionRegressor(alpha=auto.prior_alpha_).fit(X, Y - X).coef_
    np.testing.assert_allclose(auto.prior_, np.eye(8) + correction, atol=1e-10)
    fixed = SmoothingBasisRegressor(prior_alpha=2.0, **fast).fit(X, Y, groups=groups)
    assert fixed.prior_alpha_ == 2.0
    identity = SmoothingBasisRegressor(**{**fast, "prior": "identity"})
    assert identity.fit(X, Y, groups=groups).prior_alpha_ is None


def test_many_distinct_targets_are_ranked_against_a_bounded_subset(monkeypatch):
    """A distinct target per row (general regression): the cap on candidates keeps
    every scored row's own target, so the choice is still made, and still right."""
    problems = []
    for random_state in range(3):
        X, Y, _, starts = _paraphrased_answers("rotated", random_state=random_state)
        Y = Y + 0.01 * np.random.RandomState(0).standard_normal(Y.shape)
        problems.append((X, Y, starts))
    uncapped = [select_prior_alpha(X, Y, starts, True) for X, Y, starts in problems]
    monkeypatch.setattr("sklearn_smoothbasis._prior._MAX_SCORED_ROWS", 12)
    monkeypatch.setattr("sklearn_smoothbasis._prior._MAX_CANDIDATES", 10)  # of 45
    capped = [select_prior_alpha(X, Y, starts, True) for X, Y, starts in problems]
    # 12 of 45 rows ranked against 10 of 45 targets (plus their own) choose what all
    # of them choose on these problems (0.1, 0.1 and 0.32 times the mean squared norm).
    assert capped == uncapped
    assert len(set(uncapped)) > 1  # the choice depends on the data


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_contrastive_map_lowers_its_loss_and_ranks_training_targets_higher(
    random_state,
):
    # What it guarantees on any data; that it also helps held-out questions is a
    # property of real embeddings, measured in benchmarks/retrieval.py.
    X, Y, _, _ = _paraphrased_answers("rotated", random_state=random_state)
    ridge = SharedProjectionRegressor(method="ridge", alpha=1.0).fit(X, Y).coef_
    refined, n_iter, converged = contrastive_map(X, Y, ridge)
    assert converged and n_iter > 0
    targets = np.unique(Y, axis=0)
    own = np.array([np.flatnonzero((targets == y).all(axis=1))[0] for y in Y])
    loss = ContrastiveLoss(_CONTRASTIVE_TEMPERATURE)
    unit_targets = _unit(targets)
    before = loss.value_and_gradient(X @ ridge, unit_targets, own)[0]
    after = loss.value_and_gradient(X @ refined, unit_targets, own)[0]
    assert after < 0.5 * before
    assert (
        mean_reciprocal_rank(Y, X @ refined) > mean_reciprocal_rank(Y, X @ ridge) + 0.05
    )


def test_contrastive_map_keeps_dtype_and_needs_two_targets():
    X, Y, _, _ = _paraphrased_answers("rotated")
    anchor = np.eye(X.shape[1], dtype=np.float32)
    refined = contrastive_map(X.astype(np.float32), Y.astype(np.float32), anchor)[0]
    assert refined.dtype == np.float32
    one_target = np.repeat(Y[:1], len(Y), axis=0)
    assert contrastive_map(X, one_target, anchor) == (anchor, 0, True)
    # One row per cluster (no target repeats): nothing but memorisation to learn.
    singletons = np.unique(Y, axis=0, return_index=True)[1]
    assert contrastive_map(X[singletons], Y[singletons], anchor) == (anchor, 0, True)
    # Rows with a zero target are left out; the other rows still define two classes.
    Y_zero = Y.copy()
    Y_zero[:3] = 0.0
    assert np.all(np.isfinite(contrastive_map(X, Y_zero, anchor)[0]))


def test_contrastive_map_reports_unfinished_optimisation():
    X, Y, _, _ = _paraphrased_answers("rotated")
    assert contrastive_map(X, Y, np.eye(X.shape[1]), max_iter=1)[2] is False


@pytest.mark.filterwarnings("ignore:SmoothingBasisRegressor did not converge")
def test_estimator_contrastive_prior_refines_the_shared_map():
    X, Y, groups, _ = _paraphrased_answers("rotated")
    shared = SmoothingBasisRegressor(prior="shared", max_iter=5).fit(
        X, Y, groups=groups
    )
    model = SmoothingBasisRegressor(prior="contrastive", max_iter=5)
    model.fit(X, Y, groups=groups)
    assert model.prior_alpha_ == shared.prior_alpha_
    assert model.prior_n_iter_ > 0 and shared.prior_n_iter_ is None
    expected = contrastive_map(X, Y, shared.prior_)[0]
    np.testing.assert_allclose(model.prior_, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.filterwarnings("ignore:SmoothingBasisRegressor did not converge")
def test_estimator_warns_when_contrastive_prior_is_unfinished(monkeypatch):
    X, Y, groups, _ = _paraphrased_answers("rotated")
    monkeypatch.setattr(
        smoothing_basis_module, "contrastive_map",
        lambda X, Y, anchor: contrastive_map(X, Y, anchor, max_iter=1),
    )
    with pytest.warns(ConvergenceWarning, match="contrastive prior"):
        SmoothingBasisRegressor(prior="contrastive", max_iter=5).fit(
            X, Y, groups=groups
        )


def test_contrastive_map_does_not_depend_on_working_memory():
    X, Y, _, _ = _paraphrased_answers("rotated")
    anchor = np.eye(X.shape[1])
    expected = contrastive_map(X, Y, anchor)[0]
    # 1 KiB of working memory: every chunk holds one or two rows.
    with sklearn.config_context(working_memory=2**-10):
        chunked = contrastive_map(X, Y, anchor)[0]
    # Equal up to where L-BFGS stops (the sums are taken in another order).
    np.testing.assert_allclose(chunked, expected, rtol=0, atol=1e-4)


def test_bounded_candidates_keep_the_scored_rows_targets(monkeypatch):
    monkeypatch.setattr(prior_module, "_MAX_CANDIDATES", 4)
    X, Y, _, _ = _paraphrased_answers("rotated", n_clusters=15)
    scored = np.array([0, 10, 44])
    candidates = prior_module._bounded_candidates(Y, scored)
    assert len(candidates) <= 4 + len(scored)
    assert target_indices(Y[scored], candidates).min() >= 0  # all present
    # under the cap
    assert len(prior_module._bounded_candidates(Y[:9], scored[:1])) == 3


def test_contrastive_map_with_bounded_rows_and_candidates(monkeypatch):
    X, Y, _, _ = _paraphrased_answers("rotated", n_clusters=15, rows=4)
    ridge = SharedProjectionRegressor(method="ridge", alpha=1.0).fit(X, Y).coef_
    unbounded = contrastive_map(X, Y, ridge)[0]
    monkeypatch.setattr(prior_module, "_MAX_CONTRASTIVE_ROWS", 30)
    monkeypatch.setattr(prior_module, "_MAX_CANDIDATES", 5)
    bounded, _, converged = contrastive_map(X, Y, ridge)
    assert converged and not np.allclose(bounded, unbounded)
    used = prior_module._evenly_spaced(np.arange(len(X)), 30)
    X_used, Y_used = X[used], Y[used]
    assert mean_reciprocal_rank(Y_used, X_used @ bounded) > mean_reciprocal_rank(
        Y_used, X_used @ ridge)


# prior="auto": the prior chosen by held-out retrieval.


def _nuisance_paraphrases(n_clusters=15, rows=4, d=8, random_state=0):
    """Answers equal to their cluster's centre, questions that stray from it far along
    two directions shared by every cluster: what tells the answers apart is learnt
    from how a cluster's paraphrases vary, which the contrastive refinement uses."""
    rng = np.random.RandomState(random_state)
    centres = _unit(rng.standard_normal((n_clusters, d)))
    nuisance = np.linalg.qr(rng.standard_normal((d, d)))[0][:, :2]
    groups = np.repeat(np.arange(n_clusters), rows)
    X = _unit(centres[groups] + 0.1 * rng.standard_normal((len(groups), d))
              + 1.5 * rng.standard_normal((len(groups), 2)) @ nuisance.T)
    return X, centres[groups], groups, np.arange(0, len(groups) + 1, rows)


def test_held_out_folds_keep_the_rest_of_each_cluster():
    starts = np.array([0, 1, 4, 6, 18])  # a singleton, 3 rows, 2 rows, 12 rows
    folds = prior_module.held_out_folds(starts, n_folds=5)
    held = np.concatenate(folds)
    assert sorted(held) == list(range(1, 18))  # every row of a cluster of two or more
    cluster = np.repeat(np.arange(4), np.diff(starts))
    for fold in folds:  # small clusters lose one row per fold, the large one a fifth
        counts = np.bincount(cluster[fold], minlength=4)
        assert counts[0] == 0 and counts[1] <= 1 and counts[2] <= 1 and counts[3] <= 3
    assert prior_module.held_out_folds(np.arange(6)) == []


@pytest.mark.parametrize("rows", [3, 4])
def test_auto_recorded_scores_are_the_held_out_criterion(rows):
    """Recomputed by hand: each candidate refitted without each held-out row, and
    without it and the next row of its cluster; the reciprocal ranks of the held-out
    rows' targets extrapolated to the full cluster; the choice is the best score."""
    X, Y, groups, starts = _paraphrased_answers("rotated", rows=rows, random_state=rows)
    model = SmoothingBasisRegressor(prior="auto", n_basis=2, max_iter=5, tol=0)
    model.fit(X, Y, groups=groups)
    alpha, center = select_prior_alpha(X, Y, starts, True), np.eye(X.shape[1])
    ridge = linear_map(X, Y, "ridge", alpha, center=center)
    refined = contrastive_map(X, Y, ridge)[0]
    targets = np.unique(Y, axis=0)
    reciprocal_ranks = {}
    for fold in prior_module.held_out_folds(starts):
        for left_out in (1, 2):
            # the next row of the same cluster, cyclically
            partners = (fold - fold % rows) + (fold % rows + 1) % rows
            dropped = fold if left_out == 1 else np.concatenate([fold, partners])
            kept = np.setdiff1d(np.arange(len(X)), dropped)
            fold_ridge = linear_map(X[kept], Y[kept], "ridge", alpha, center=center)
            fold_refined = contrastive_map(X[kept], Y[kept], fold_ridge,
                                           init=refined + fold_ridge - ridge)[0]
            for name, fold_map in [("identity", center), ("shared", fold_ridge),
                                   ("contrastive", fold_refined)]:
                for row in fold:
                    similarity = _unit(targets) @ (X[row] @ fold_map)
                    own = similarity[np.flatnonzero((targets == Y[row]).all(axis=1))[0]]
                    reciprocal_ranks[name, left_out, row] = 1 / np.sum(
                        similarity >= own
                    )
    weight = np.log(rows / (rows - 1)) / np.log((rows - 1) / (rows - 2))
    row_scores = {
        name: np.array(
            [
                (1 + weight) * reciprocal_ranks[name, 1, row]
                - weight * reciprocal_ranks[name, 2, row]
                for row in range(len(X))
            ]
        )
        for name in ("identity", "shared", "contrastive")
    }
    expected = {name: np.mean(scores) for name, scores in row_scores.items()}
    assert model.prior_scores_ == pytest.approx(expected, abs=1e-6)
    # The one-standard-error rule, by hand: the first candidate whose mean paired
    # difference from the best is at most its standard error.
    best = max(expected, key=expected.get)
    errors = {
        name: np.std(row_scores[best] - scores, ddof=1) / np.sqrt(len(X))
        for name, scores in row_scores.items()
    }
    assert model.prior_standard_errors_ == pytest.approx(errors, abs=1e-6)
    assert model.prior_choice_ == next(
        name for name in expected if expected[best] - expected[name] <= errors[name]
    )
    # The identity does not learn: its score is its exact reciprocal rank.
    assert expected["identity"] == pytest.approx(
        mean_reciprocal_rank(Y, X, candidates=targets))


@pytest.mark.filterwarnings("ignore:SmoothingBasisRegressor did not converge")
def test_auto_uses_the_chosen_candidates_map():
    X, Y, groups, _ = _paraphrased_answers("rotated")
    auto = SmoothingBasisRegressor(prior="auto", max_iter=5, random_state=0)
    auto.fit(X, Y, groups=groups)
    fixed = SmoothingBasisRegressor(
        prior=auto.prior_choice_, max_iter=5, random_state=0
    )
    fixed.fit(X, Y, groups=groups)
    np.testing.assert_allclose(auto.prior_, fixed.prior_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(auto.predict(X), fixed.predict(X), rtol=1e-5, atol=1e-7)
    assert fixed.prior_scores_ is None and fixed.prior_choice_ == auto.prior_choice_


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_auto_keeps_the_identity_when_answers_are_the_questions(random_state):
    # Zero-shot is right: the identity, or a ridge map so strongly shrunk toward it
    # that it retrieves as well; the refinement that moves away is not chosen.
    X, Y, _, starts = _paraphrased_answers("same", random_state=random_state)
    selected = prior_module.select_prior(X, Y, starts)
    assert selected.choice in ("identity", "shared")
    assert selected.scores["identity"] >= selected.scores["contrastive"]
    if selected.choice == "shared":
        assert selected.alpha >= 10 * np.mean(np.sum(X**2, axis=1))


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_auto_leaves_the_identity_for_a_distinct_linear_map(random_state):
    X, Y, _, starts = _paraphrased_answers("rotated", random_state=random_state)
    selected = prior_module.select_prior(X, Y, starts)
    assert selected.choice in ("shared", "contrastive")
    assert selected.scores[selected.choice] > selected.scores["identity"] + 0.3


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_auto_refines_where_paraphrases_carry_the_signal(random_state):
    # Enough clusters that the contrastive map's gain exceeds the criterion's noise.
    X, Y, _, starts = _nuisance_paraphrases(n_clusters=40, random_state=random_state)
    selected = prior_module.select_prior(X, Y, starts)
    assert selected.choice == "contrastive"


def test_one_standard_error_rule_prefers_the_simpler_within_the_noise():
    rng = np.random.RandomState(0)
    noise = rng.uniform(0, 1, 200)
    rows = {"identity": noise, "shared": noise + rng.normal(0.01, 0.3, 200)}
    choice, errors = prior_module.simplest_within_one_standard_error(rows)
    best = max(rows, key=lambda name: rows[name].mean())
    assert errors[best] == 0
    assert choice == "identity"  # a gain far below its standard error
    rows["contrastive"] = noise + 0.2 + rng.normal(0, 0.3, 200)
    choice, errors = prior_module.simplest_within_one_standard_error(rows)
    assert choice == "contrastive" and errors["identity"] > 0
    # identical rows: the simplest, whatever comes after
    assert prior_module.simplest_within_one_standard_error(
        {"a": noise, "b": noise.copy()})[0] == "a"


@pytest.mark.parametrize("square", [True, False])
def test_auto_takes_the_contrastive_map_where_the_criterion_costs_too_much(
    monkeypatch, square
):
    X, Y, _, starts = _nuisance_paraphrases(n_clusters=40, random_state=0)
    Y = Y if square else Y[:, :5]
    n_distinct = len(np.unique(Y, axis=0))
    monkeypatch.setattr(prior_module, "CRITERION_MAX_COST", len(X) * n_distinct - 1)
    selected = prior_module.select_prior(X, Y, starts)
    assert selected.choice == "contrastive" and selected.scores == {}
    ridge, _ = prior_module.ridge_prior(X, Y, starts)
    np.testing.assert_allclose(selected.prior, contrastive_map(X, Y, ridge)[0])
    # One row per cluster: no paraphrases to refine with, the ridge map.
    singletons = starts[:-1]
    selected = prior_module.select_prior(X[singletons], Y[singletons],
                                         np.arange(len(singletons) + 1))
    assert selected.choice == "shared" and selected.scores == {}
    # At the limit itself the criterion runs.
    monkeypatch.setattr(prior_module, "CRITERION_MAX_COST", len(X) * n_distinct)
    assert prior_module.select_prior(X, Y, starts).scores


def test_auto_without_square_maps_or_paraphrases():
    X, Y, groups, starts = _paraphrased_answers("rotated")
    # answers in another space
    selected = prior_module.select_prior(X, Y[:, :5], starts)
    assert set(selected.scores) == {"shared", "contrastive"}
    singletons = np.arange(0, len(X), 3)  # one row per cluster: nothing to hold out
    model = SmoothingBasisRegressor(prior="auto", n_basis=2, max_iter=5, tol=0)
    model.fit(X[singletons], Y[singletons], groups=groups[singletons])
    assert model.prior_choice_ == "shared" and model.prior_scores_ == {}
    shared = SmoothingBasisRegressor(prior="shared", n_basis=2, max_iter=5, tol=0)
    shared.fit(X[singletons], Y[singletons], groups=groups[singletons])
    np.testing.assert_allclose(model.prior_, shared.prior_)
