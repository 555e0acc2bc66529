"""Numerical robustness: huge and tiny inputs, rank-deficient data, scale invariance."""

import numpy as np
import pytest

from sklearn_smoothbasis import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis.datasets import make_multicluster_regression

ESTIMATORS = [
    SharedProjectionRegressor(),
    IndependentProjectionRegressor(),
    MultiHeadRegressor(),
    SmoothingBasisRegressor(max_iter=5, random_state=0),
]


def _data(n_clusters=6, dtype=np.float64):
    X, Y, groups = make_multicluster_regression(n_clusters=n_clusters, random_state=0)
    return X.astype(dtype), Y.astype(dtype), groups


def _fitted_float_arrays(model):
    return {
        name: value
        for name, value in vars(model).items()
        if name.endswith("_")
        and isinstance(value, np.ndarray)
        and value.dtype.kind == "f"
    }


# Defect 4: fit returns a model whose every fitted array is finite, or raises a
# ValueError that names the input's magnitude.
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "scale", [1e-300, 1e-160, 1e-30, 1e-10, 1e10, 1e20, 1e30, 1e90, 1e160, 1e300]
)
@pytest.mark.parametrize("scaled", ["X", "y", "both"])
def test_fit_is_finite_or_names_the_magnitude(estimator, dtype, scale, scaled):
    X, Y, groups = _data()
    X = X * scale if scaled in ("X", "both") else X
    Y = Y * scale if scaled in ("y", "both") else Y
    if np.max(np.abs(X)) > np.finfo(dtype).max:
        pytest.skip("X is not representable in this dtype: the input check's business")
    X = X.astype(dtype)
    try:
        model = estimator.fit(X, Y, groups=groups)
    except ValueError as exc:
        assert "magnitude" in str(exc) or f"too large for {np.dtype(dtype)}" in str(exc)
        return
    for name, value in _fitted_float_arrays(model).items():
        assert np.isfinite(value).all(), name
    assert model.predict(X).dtype == dtype


@pytest.mark.parametrize(
    "Estimator", [SharedProjectionRegressor, IndependentProjectionRegressor]
)
@pytest.mark.parametrize("k", [300, 530])
def test_ridge_maps_of_huge_inputs_are_the_rescaled_maps(Estimator, k):
    # Scaling X by s = 2**k (exact) is the ridge problem of X with alpha / s**2, its
    # map divided by s. At k=530 X^T X overflowed (NaN coef_); alpha / s**2 is then
    # below rounding, the minimum-norm least-squares map.
    X, Y, groups = _data()
    s = 2.0**k
    scaled = Estimator(alpha=1.0).fit(X * s, Y, groups=groups)
    reference = Estimator(alpha=1.0 / s / s).fit(X, Y, groups=groups)
    np.testing.assert_allclose(
        scaled.predict(X * s, groups=groups),
        reference.predict(X, groups=groups),
        rtol=1e-7,
        atol=1e-12,
    )


def test_ridge_map_of_tiny_inputs_is_the_dominant_penalty_limit():
    # At X * 2**-530, X^T X underflows next to alpha: the map is X^T Y / alpha.
    X, Y, groups = _data()
    X_tiny = X * 2.0**-530
    model = SharedProjectionRegressor(alpha=2.0).fit(X_tiny, Y, groups=groups)
    np.testing.assert_allclose(model.coef_, X_tiny.T @ Y / 2.0, rtol=1e-12)


def test_smoothing_basis_rejects_magnitudes_its_solver_cannot_square():
    X, Y, groups = _data()
    with pytest.raises(ValueError, match=r"X has largest magnitude 2\.\d+e\+90"):
        SmoothingBasisRegressor().fit(X * 1e90, Y, groups=groups)
    with pytest.raises(ValueError, match=r"y has largest magnitude .* in float32"):
        SmoothingBasisRegressor().fit(X.astype(np.float32), Y * 1e20, groups=groups)
    # The whitening of routing used to fail here (LinAlgError) well inside the range.
    model = SmoothingBasisRegressor(max_iter=5).fit(
        X.astype(np.float32) * 1e8, Y, groups=groups
    )
    assert all(np.isfinite(v).all() for v in _fitted_float_arrays(model).values())


def test_y_that_overflows_the_dtype_of_X_is_named():
    X, Y, groups = _data()
    with pytest.raises(ValueError, match=r"y has values up to .*too large for float32"):
        MultiHeadRegressor().fit(X.astype(np.float32), Y * 1e300, groups=groups)


def test_non_finite_fitted_arrays_become_a_value_error(monkeypatch):
    X, Y, groups = _data()

    def broken(self, X, Y, starts):
        self.target_means_ = np.full((len(starts) - 1, Y.shape[1]), np.nan)

    monkeypatch.setattr(MultiHeadRegressor, "_fit_clusters", broken)
    with pytest.raises(ValueError, match="non-finite values in target_means_"):
        MultiHeadRegressor().fit(X, Y, groups=groups)


def test_linear_algebra_failures_become_a_value_error(monkeypatch):
    X, Y, groups = _data()

    def failing(*args):
        raise np.linalg.LinAlgError("Eigenvalues did not converge")

    monkeypatch.setattr("sklearn_smoothbasis._base.within_cluster_whitening", failing)
    with pytest.raises(
        ValueError, match=r"failed in linear algebra \(Eigenvalues did not"
    ):
        MultiHeadRegressor().fit(X, Y, groups=groups)


# Defect 5: alpha=0 is the minimum-norm least-squares map, rank deficient or not.
def _minimum_norm_map(X, Y):
    return np.linalg.lstsq(X, Y, rcond=None)[0]


def test_shared_alpha_zero_on_constant_X_is_the_minimum_norm_map():
    X, Y, groups = _data()
    X = np.ones_like(X)
    model = SharedProjectionRegressor(alpha=0).fit(X, Y, groups=groups)
    np.testing.assert_allclose(model.coef_, _minimum_norm_map(X, Y), atol=1e-10)
    pinv = SharedProjectionRegressor(method="pinv").fit(X, Y, groups=groups)
    np.testing.assert_allclose(model.coef_, pinv.coef_, atol=1e-12)


def test_independent_alpha_zero_with_a_repeated_row_is_the_minimum_norm_map():
    X, Y, groups = _data()
    first = np.flatnonzero(groups == 0)
    X[first[1]] = X[first[0]]  # cluster 0 now has a repeated row
    Y[first[1]] = Y[first[0]]
    model = IndependentProjectionRegressor(alpha=0).fit(X, Y, groups=groups)
    for i, cluster in enumerate(model.clusters_):
        rows = groups == cluster
        np.testing.assert_allclose(
            model.maps_[i], _minimum_norm_map(X[rows], Y[rows]), atol=1e-8
        )


def test_alpha_zero_of_full_rank_data_is_least_squares():
    rng = np.random.RandomState(0)
    X, Y = rng.standard_normal((40, 5)), rng.standard_normal((40, 3))
    model = SharedProjectionRegressor(alpha=0).fit(X, Y)
    np.testing.assert_allclose(model.coef_, _minimum_norm_map(X, Y), rtol=1e-10)


# Defect 3: a cosine of finite nonzero rows does not depend on their scale.
@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_routed_prediction_does_not_depend_on_the_scale_of_the_query(scale):
    X, Y, groups = _data()
    model = MultiHeadRegressor().fit(X, Y, groups=groups)
    # Was off by up to 1.9 at 1e-200: every cluster got weight 1/6.
    # 1e-200 is not a power of two: equal to rounding.
    np.testing.assert_allclose(
        model.predict(X * scale), model.predict(X), rtol=1e-9, atol=1e-14
    )
    np.testing.assert_allclose(
        model._routing_weights(X * scale),
        model._routing_weights(X),
        rtol=1e-9,
        atol=1e-14,
    )


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_routing_of_huge_and_tiny_training_rows_is_that_of_moderate_ones(scale):
    X, Y, groups = _data()
    for routing_shrinkage in (1.0, "auto"):
        reference = MultiHeadRegressor(routing_shrinkage=routing_shrinkage).fit(
            X, Y, groups
        )
        scaled = MultiHeadRegressor(routing_shrinkage=routing_shrinkage).fit(
            X * scale, Y, groups
        )
        np.testing.assert_allclose(
            scaled.routing_centroids_,
            reference.routing_centroids_,
            rtol=1e-10,
            atol=1e-12,
        )
        np.testing.assert_allclose(
            scaled.predict(X * scale), reference.predict(X), rtol=1e-10
        )


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_retrieval_metrics_do_not_depend_on_scale(scale):
    from sklearn_smoothbasis.metrics import (
        mean_cosine_similarity,
        mean_reciprocal_rank,
        recall_at_k,
    )

    rng = np.random.RandomState(0)
    Y = rng.standard_normal((30, 8))
    Y_pred = Y + 0.8 * rng.standard_normal((30, 8))
    # recall_at_k(Y * 1e200, Y * 1e200) was 0.0, mean_cosine_similarity at 1e-200 too.
    assert recall_at_k(Y * scale, Y * scale) == 1.0
    assert mean_cosine_similarity(Y * scale, Y * scale) == pytest.approx(1.0)
    assert recall_at_k(Y * scale, Y_pred * scale) == recall_at_k(Y, Y_pred)
    assert mean_reciprocal_rank(Y * scale, Y_pred) == mean_reciprocal_rank(Y, Y_pred)
    assert mean_cosine_similarity(Y, Y_pred * scale) == pytest.approx(
        mean_cosine_similarity(Y, Y_pred), rel=1e-12
    )


def test_minimum_norm_map_of_tiny_float32_rows_is_scaled_too():
    # Found by the fuzz suite: with alpha=0 the rows were not rescaled, X^T X of
    # float32 rows of 1e-20 was subnormal and the pseudo-inverse overflowed.
    X = np.array([[1.7640524e-16], [4.0015722e-17]], dtype=np.float32) * np.float32(
        2.0**-12
    )
    Y = np.array([[0.978738], [2.2408931]], dtype=np.float32)
    model = SharedProjectionRegressor(alpha=0.0).fit(X, Y)
    expected = np.linalg.lstsq(X.astype(np.float64), Y.astype(np.float64), rcond=None)[
        0
    ]
    np.testing.assert_allclose(model.coef_, expected, rtol=1e-5)
