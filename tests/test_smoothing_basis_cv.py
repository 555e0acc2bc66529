"""SmoothingBasisRegressorCV: the choices and scores of the plain grid search, for
less work; its grids' errors; the refit model."""

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklearn_smoothbasis import SmoothingBasisRegressor, SmoothingBasisRegressorCV
from sklearn_smoothbasis.compare import split_dataset
from sklearn_smoothbasis.datasets import load_faq_demo, make_multicluster_regression
from sklearn_smoothbasis.metrics import recall_at_1_scorer
from sklearn_smoothbasis.model_selection import (
    ClusterStratifiedKFold,
    one_standard_error_refit,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _faq_like(n_clusters=24, rows=4, dim=8, seed=0):
    """One answer per cluster, its questions scattered around it."""
    rng = np.random.RandomState(seed)
    answers = rng.standard_normal((n_clusters, dim))
    groups = np.repeat(np.arange(n_clusters), rows)
    Y = answers[groups]
    X = Y @ (np.eye(dim) + 0.3 * rng.standard_normal((dim, dim)))
    X += 0.6 * rng.standard_normal(X.shape)
    return X, Y, groups


GRID = {
    "alpha": [0.1, 1.0, 10.0],
    "cosine_weight": [0.0, 0.5],
    "prior": ["identity", "shared", None],
    "routing_shrinkage": [1.0, "auto"],
    "routing_temperature": [0.05, 0.3],
}


def _cv_of(grid, **params):
    return SmoothingBasisRegressorCV(
        alphas=grid["alpha"], cosine_weights=grid.get("cosine_weight", [0.5]),
        priors=grid["prior"], routing_shrinkages=grid["routing_shrinkage"],
        routing_temperatures=grid["routing_temperature"], **params,
    )


def _grid_search(grid, X, Y, groups, folds, **params):
    with sklearn.config_context(enable_metadata_routing=True):
        return GridSearchCV(
            SmoothingBasisRegressor(**params), grid, scoring=recall_at_1_scorer,
            cv=folds,
        ).fit(X, Y, groups=groups)


def test_the_cold_path_scores_exactly_what_the_grid_search_scores():
    X, Y, groups = _faq_like()
    folds = ClusterStratifiedKFold(3, shuffle=True, random_state=0)
    params = {"n_basis": 3, "max_iter": 8, "random_state": 0}
    search = _grid_search(GRID, X, Y, groups, folds, **params)
    model = _cv_of(GRID, cv=folds, alpha_path="cold", **params).fit(
        X, Y, groups=groups
    )
    assert model.cv_results_["params"] == search.cv_results_["params"]
    for key in ("split0_test_score", "split2_test_score", "mean_test_score",
                "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(model.cv_results_[key], search.cv_results_[key])
    # a grid where the candidates differ (not a flat score that any choice matches)
    assert np.ptp(model.cv_results_["mean_test_score"]) > 0.1
    assert model.best_params_ == search.best_params_
    assert model.best_score_ == search.best_score_
    np.testing.assert_allclose(model.predict(X), search.predict(X), rtol=0, atol=1e-12)


def test_on_the_demo_the_warm_path_chooses_what_the_grid_search_chooses():
    data = load_faq_demo()
    X, groups, _, _ = split_dataset(data, random_state=0)
    Y = data.answers[groups]
    folds = ClusterStratifiedKFold(3, shuffle=True, random_state=0)
    grid = {"alpha": [0.3, 3.0], "prior": ["identity", "contrastive"],
            "routing_shrinkage": [1.0], "routing_temperature": [0.03, 0.1]}
    params = {"max_iter": 10, "random_state": 0}
    cold = _cv_of(grid, cv=folds, alpha_path="cold", **params).fit(X, Y, groups=groups)
    warm = _cv_of(grid, cv=folds, **params).fit(X, Y, groups=groups)
    # cold is the grid search's own scores (test above); warm starts differ by a
    # few held-out rows at most
    one_row = 1 / 49
    np.testing.assert_allclose(warm.cv_results_["mean_test_score"],
                               cold.cv_results_["mean_test_score"], atol=one_row)
    assert warm.best_params_ == cold.best_params_
    assert warm.best_score_ == pytest.approx(cold.best_score_, abs=one_row)
    # the same choice refits the same model
    np.testing.assert_array_equal(warm.predict(X), cold.predict(X))


def test_one_standard_error_chooses_what_the_grid_search_with_that_refit_chooses():
    X, Y, groups = _faq_like()
    folds = ClusterStratifiedKFold(3, shuffle=True, random_state=0)
    params = {"n_basis": 3, "max_iter": 8, "random_state": 0}
    grid = {**GRID, "alpha": [0.1, 1.0, 10.0], "prior": ["identity", "auto"]}
    model = _cv_of(grid, cv=folds, alpha_path="cold",
                   selection="one_standard_error", **params).fit(X, Y, groups=groups)
    # the reference: SmoothingBasisRegressor's defaults where they are candidates
    # (alpha=1, cosine_weight=0.5, prior="auto", routing_shrinkage="auto"), the
    # first candidate otherwise (routing_temperature: the default 0.03 is not one)
    reference = {"alpha": 1.0, "cosine_weight": 0.5, "prior": "auto",
                 "routing_shrinkage": "auto", "routing_temperature": 0.05}
    assert model._reference(model._grid(8, 8)) == reference
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            SmoothingBasisRegressor(**params), grid, scoring=recall_at_1_scorer,
            cv=folds, refit=one_standard_error_refit(reference),
        ).fit(X, Y, groups=groups)
    assert model.best_index_ == search.best_index_
    assert model.best_params_ == search.best_params_
    np.testing.assert_allclose(model.predict(X), search.predict(X), rtol=0, atol=1e-12)
    # the rule itself: the reference unless the best beats it by more than the
    # standard error of their paired difference over the folds
    mean = model.cv_results_["mean_test_score"]
    folds_scores = np.array([model.cv_results_[f"split{f}_test_score"]
                             for f in range(3)])
    best = int(np.argmax(mean))
    ref = model.cv_results_["params"].index(reference)
    difference = folds_scores[:, best] - folds_scores[:, ref]
    clearly_better = difference.mean() > difference.std(ddof=1) / np.sqrt(3)
    assert model.best_index_ == (best if clearly_better else ref)
    best_model = _cv_of(grid, cv=folds, alpha_path="cold", **params).fit(
        X, Y, groups=groups)
    assert best_model.best_index_ == best


def test_one_standard_error_needs_the_reference_among_the_candidates():
    results = {"params": [{"alpha": 0.1}], "split0_test_score": np.array([0.5]),
               "mean_test_score": np.array([0.5])}
    with pytest.raises(ValueError, match="No candidate has the reference"):
        one_standard_error_refit({"alpha": 1.0})(results)


def test_the_prior_is_fitted_once_per_fold_and_prior(monkeypatch):
    calls = {"prior": 0, "init": 0, "solve": 0}
    for method in ("_fit_prior", "_initial_basis", "_solve"):
        original = getattr(SmoothingBasisRegressor, method)

        def counted(self, *args, _original=original, _key=method, **kwargs):
            calls[{"_fit_prior": "prior", "_initial_basis": "init",
                   "_solve": "solve"}[_key]] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(SmoothingBasisRegressor, method, counted)
    X, Y, groups = _faq_like()
    model = _cv_of(GRID, cv=3, n_basis=3, max_iter=3, random_state=0)
    model.fit(X, Y, groups=groups)
    folds, priors, weights, alphas = 3, 3, 2, 3
    # one prior and one initial basis per fold, cosine weight and prior, one solver
    # run per alpha on top; and the refit
    assert calls == {"prior": folds * priors * weights + 1,
                     "init": folds * priors * weights + 1,
                     "solve": folds * priors * weights * alphas + 1}
    assert len(model.cv_results_["params"]) == 3 * 2 * 3 * 2 * 2


def test_the_refit_is_the_chosen_candidate_fitted_on_all_rows():
    X, Y, groups = _faq_like()
    model = _cv_of(GRID, n_basis=3, max_iter=8, random_state=0).fit(
        X, Y, groups=groups
    )
    best = model.best_params_
    alone = SmoothingBasisRegressor(n_basis=3, max_iter=8, random_state=0, **best)
    alone.fit(X, Y, groups=groups)
    np.testing.assert_array_equal(model.basis_, alone.basis_)
    np.testing.assert_array_equal(model.coefficients_, alone.coefficients_)
    np.testing.assert_array_equal(model.predict(X), alone.predict(X))
    np.testing.assert_array_equal(model.retrieve(X, Y[::4], k=2).indices,
                                  alone.retrieve(X, Y[::4], k=2).indices)
    assert model.alpha_ == best["alpha"]
    assert model.cosine_weight_ == best["cosine_weight"]
    assert model.prior_choice_ == best["prior"]
    assert model.routing_temperature_ == best["routing_temperature"]
    assert model.routing_shrinkage_ == alone.routing_shrinkage_
    assert model.best_score_ == model.cv_results_["mean_test_score"].max()
    assert model.cv_results_["rank_test_score"][model.best_index_] == 1
    assert model.n_splits_ == 3


def test_partial_fit_and_add_clusters_grow_the_refit_model():
    X, Y, groups = _faq_like()
    first = groups < 18
    model = _cv_of(GRID, n_basis=3, max_iter=5, random_state=0)
    model.partial_fit(X[first], Y[first], groups=groups[first])  # the first call fits
    alone = SmoothingBasisRegressor(n_basis=3, max_iter=5, random_state=0,
                                    **model.best_params_)
    alone.fit(X[first], Y[first], groups=groups[first])
    for grown in (model, alone):
        grown.partial_fit(X[~first], Y[~first], groups=groups[~first])
        grown.add_clusters([100], Y[:1])
    assert model.n_samples_seen_ == len(X)
    assert len(model.clusters_) == 25
    np.testing.assert_array_equal(model.coefficients_, alone.coefficients_)
    np.testing.assert_array_equal(model.predict(X), alone.predict(X))


def test_fold_fits_that_stop_at_max_iter_warn_once():
    X, Y, groups = _faq_like()
    model = _cv_of(GRID, n_basis=3, max_iter=1, random_state=0)
    with pytest.warns(ConvergenceWarning) as record:
        model.fit(X, Y, groups=groups)
    search = [w for w in record if "solver runs" in str(w.message)]
    assert len(search) == 1
    assert "54 of the 54 solver runs" in str(search[0].message)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"alphas": []}, "alphas is empty"),
        ({"alphas": [1.0, -0.5]}, "alphas must hold finite non-negative numbers; got "
                                   "-0.5"),
        ({"alphas": [np.inf]}, "alphas must hold finite non-negative numbers"),
        ({"routing_temperatures": [0.0]}, "routing_temperatures must hold finite "
                                          "positive numbers; got 0.0"),
        ({"routing_temperatures": [0.1, -1]}, "got -1"),
        ({"routing_temperatures": []}, "routing_temperatures is empty"),
        ({"routing_shrinkages": [0.0]}, "routing_shrinkages must hold numbers in "
                                        "(0, 1] or 'auto'"),
        ({"routing_shrinkages": ["ledoit"]}, "got 'ledoit'"),
        ({"cosine_weights": [1.5]}, "cosine_weights must hold numbers in [0, 1]"),
        ({"priors": ["ridge"]}, "priors must hold 'identity', 'shared', "
                                "'contrastive', 'auto' or None; got 'ridge'"),
        ({"priors": []}, "priors is empty"),
        ({"alphas": [1.0, 1.0]}, "alphas has 1.0 more than once"),
        ({"cv": 7}, "cannot make cv=7 folds"),
    ],
)
def test_bad_grids_are_clear_errors(params, message):
    X, Y, groups = _faq_like(n_clusters=3, rows=2)
    with pytest.raises(ValueError, match=None) as info:
        SmoothingBasisRegressorCV(**params).fit(X, Y, groups=groups)
    assert message in str(info.value)


def test_the_identity_prior_needs_a_square_map():
    X, Y, groups = make_multicluster_regression(
        n_clusters=6, n_features=4, n_targets=3, random_state=0
    )
    with pytest.raises(ValueError, match="priors has 'identity'"):
        SmoothingBasisRegressorCV(priors=["identity"]).fit(X, Y, groups=groups)
    # "auto" leaves it out there
    model = SmoothingBasisRegressorCV(
        alphas=[1.0], routing_temperatures=[0.1], max_iter=2, random_state=0
    ).fit(X, Y, groups=groups)
    assert sorted(set(model.cv_results_["param_prior"])) == ["contrastive", "shared"]


def test_it_tunes_inside_a_grid_search_over_what_it_does_not_search():
    X, Y, groups = _faq_like()
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            _cv_of(GRID | {"prior": ["identity"], "cosine_weight": [0.5]},
                   max_iter=3, random_state=0),
            {"n_basis": [1, 2]}, scoring=recall_at_1_scorer,
            cv=ClusterStratifiedKFold(2),
        ).fit(X, Y, groups=groups)
    assert search.best_estimator_.n_basis_ == search.best_params_["n_basis"]


def test_io_saves_the_refitted_model(tmp_path):
    from sklearn_smoothbasis.io import (
        RetrievalBundle,
        load,
        load_bundle,
        save,
        save_bundle,
    )

    X, Y, groups = _faq_like()
    model = _cv_of(GRID, n_basis=3, max_iter=3, random_state=0).fit(
        X, Y, groups=groups
    )
    save(model, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert type(loaded) is SmoothingBasisRegressor
    assert loaded.get_params()["alpha"] == model.alpha_
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    save_bundle(RetrievalBundle(model, Y[::4]), tmp_path / "bundle.npz")
    bundle = load_bundle(tmp_path / "bundle.npz")
    np.testing.assert_array_equal(bundle.retrieve(X, k=3).indices,
                                  model.retrieve(X, Y[::4], k=3).indices)


def test_compare_tunes_the_smoothing_basis_on_the_grid_search_folds():
    from sklearn_smoothbasis.compare import compare_retrieval, search_spaces

    X, Y, groups = _faq_like(rows=5)
    answers = Y[::5]
    train = np.arange(len(X)) % 5 < 3
    rows = {}
    for efficient in (True, False):
        estimator, grid = search_spaces(8, 8, n_basis=2, max_iter=3,
                                        efficient_cv=efficient)["smoothing_basis"]
        if efficient:
            estimator.set_params(alpha_path="cold")
        rows[efficient] = compare_retrieval(
            X[train], groups[train], X[~train], groups[~train], answers,
            spaces={"smoothing_basis": (estimator, grid)}, cv=3, random_state=1,
        )[0]
    assert rows[True]["params"] == rows[False]["params"]
    for key in ("recall_at_1", "mrr", "mean_cosine"):
        assert rows[True][key] == rows[False][key]
