"""Serialisation and parallel backends, as a scikit-learn user would use them."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklearn_smoothbasis import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis.datasets import make_multicluster_regression
from sklearn_smoothbasis.model_selection import ClusterStratifiedKFold

ESTIMATORS = [
    SmoothingBasisRegressor(max_iter=10, random_state=0),
    IndependentProjectionRegressor(),
    SharedProjectionRegressor(),
    MultiHeadRegressor(),
    MultiHeadRegressor(routing_shrinkage=0.5),  # stores a whitening transform
]


@pytest.fixture(scope="module")
def data():
    return make_multicluster_regression(
        n_clusters=10,
        n_basis=2,
        n_features=6,
        n_targets=6,
        rows_per_cluster=6,
        random_state=0,
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: repr(e))
def test_round_trips(estimator, data, tmp_path):
    X, Y, groups = data
    model = sklearn.base.clone(estimator).fit(X, Y, groups=groups)
    expected = model.predict(X)
    assert np.array_equal(pickle.loads(pickle.dumps(model)).predict(X), expected)
    joblib.dump(model, tmp_path / "model.joblib")
    assert np.array_equal(joblib.load(tmp_path / "model.joblib").predict(X), expected)
    sio = pytest.importorskip("skops.io")
    dumped = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=dumped)
    # skops trusts scikit-learn and numpy, not us: the user trusts our classes
    # explicitly.
    assert any(name.endswith("." + type(model).__name__) for name in untrusted)
    assert all(name.startswith("sklearn_smoothbasis.") for name in untrusted)
    from skops.io.exceptions import UntrustedTypesFoundException

    with pytest.raises(UntrustedTypesFoundException, match="[Uu]ntrusted"):
        sio.loads(dumped)
    loaded = sio.loads(dumped, trusted=untrusted)
    assert np.array_equal(
        loaded.predict(X, groups=groups), model.predict(X, groups=groups)
    )


def test_grid_search_on_the_dask_backend(data):
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    X, Y, groups = data
    grid = {"alpha": [0.1, 1.0], "routing_temperature": [0.05, 0.5]}
    search = GridSearchCV(SmoothingBasisRegressor(max_iter=5, random_state=0), grid,
                          cv=ClusterStratifiedKFold(3), n_jobs=2)
    with (
        distributed.Client(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
        ),
        joblib.parallel_config(backend="dask"),
    ):
        with (
            sklearn.config_context(enable_metadata_routing=True),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X, Y, groups=groups)
    with (
        sklearn.config_context(enable_metadata_routing=True),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = sklearn.base.clone(search).set_params(n_jobs=1).fit(X, Y, groups=groups)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    # The score is R^2 of predictions with the groups given, which routing does not
    # touch: candidates that differ only in routing_temperature tie, up to the
    # rounding of sums the backend's chunks order differently. The choice must be
    # one of the best, to rounding.
    scores = local.cv_results_["mean_test_score"]
    best = np.flatnonzero(np.isclose(scores, scores.max(), rtol=1e-9, atol=0))
    assert search.best_index_ in best
    assert search.best_params_["alpha"] == local.best_params_["alpha"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_n_jobs_inside_the_dask_backend(data):
    distributed = pytest.importorskip("distributed")
    X, Y, groups = data
    params = dict(max_iter=5, random_state=0)
    reference = SmoothingBasisRegressor(**params).fit(X, Y, groups=groups)
    with (
        distributed.Client(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
        ),
        joblib.parallel_config(backend="dask"),
    ):
        with sklearn.config_context(working_memory=0.005):  # several chunks
            model = SmoothingBasisRegressor(n_jobs=2, **params).fit(X, Y, groups=groups)
            fitted = IndependentProjectionRegressor(n_jobs=2).fit(X, Y, groups=groups)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-6)
    np.testing.assert_allclose(
        fitted.predict(X),
        IndependentProjectionRegressor().fit(X, Y, groups=groups).predict(X),
    )
