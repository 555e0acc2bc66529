"""The methods the comparison runs, each with the grid it is tuned over.

Each method has a stable key (``"smoothing_basis"``, ...) by which code asks for it,
and a display name (:data:`METHOD_NAMES`) that tables and plots show. Why the grids
are what they are is told in the documentation of ``smoothbasis compare`` and
measured by ``benchmarks/model_selection.py``.
"""

from collections.abc import Sequence

from .._baselines import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
)
from .._smoothing_basis import SmoothingBasisRegressor
from .._smoothing_basis_cv import SmoothingBasisRegressorCV

#: Display name of each method key of :func:`search_spaces`.
METHOD_NAMES = {
    "zero_shot_cosine": "zero-shot cosine",
    "multi_head_router": "multi-head router",
    "shared_ridge_map": "shared ridge map",
    "independent_ridge_maps": "independent ridge maps",
    "smoothing_basis": "smoothing basis",
}


# The smoothing basis's candidates; its prior and routing shrinkage are its defaults.
_SMOOTHING_BASIS_ALPHAS = [0.1, 0.3, 1.0, 3.0]
_SMOOTHING_BASIS_TEMPERATURES = [0.03, 0.1]
_ROUTING_SHRINKAGES = [1.0, "auto"]


def search_spaces(n_features, n_targets, *, n_basis="auto", max_iter=20,
                  cosine_weight=0.5, random_state=0, efficient_cv=True):
    """The methods compared and the grid each is tuned over.

    Parameters
    ----------
    n_features, n_targets : int
        Embedding sizes; zero-shot cosine needs them equal.
    n_basis : int or "auto", default="auto"
        Basis size of :class:`~sklearn_smoothbasis.SmoothingBasisRegressor`.
    max_iter : int, default=20
        Iterations of its solver.
    cosine_weight : float or sequence of float, default=0.5
        Its cosine weight: one value fixes it, a sequence of values is tuned over.
    random_state : int, default=0
        Seed of the estimators.
    efficient_cv : bool, default=True
        Tune the smoothing basis with
        :class:`~sklearn_smoothbasis.SmoothingBasisRegressorCV` (its grid is empty:
        it searches inside ``fit``); ``False``: a
        :class:`~sklearn_smoothbasis.SmoothingBasisRegressor` with the same
        candidates as a plain grid, for measuring one against the other.

    Returns
    -------
    spaces : dict
        ``method -> (estimator, param_grid)``, keyed by the stable method keys of
        :data:`METHOD_NAMES` (``"zero_shot_cosine"`` only when ``n_features ==
        n_targets``). An empty grid means no tuning, except for a
        :class:`~sklearn_smoothbasis.SmoothingBasisRegressorCV`, which tunes itself.

    Notes
    -----
    The baselines are cheap, so their one or two parameters get logarithmic grids,
    and every baseline that routes also chooses between plain cosine routing and
    routing whitened by the within-cluster covariance (``routing_shrinkage`` 1.0 or
    ``"auto"``): 32 candidates for the independent maps, 16 for the multi-head
    router, 7 for the shared map. The smoothing basis gets 8, ``alpha`` and
    ``routing_temperature`` (times the number of cosine weights when those are
    tuned); its prior, the prior's strength and its routing's shrinkage are chosen
    inside ``fit`` (:ref:`bench-model-selection`: cross-validation is biased
    between priors and cannot tell close shrinkages apart).
    The smoothing basis is tuned by
    :class:`~sklearn_smoothbasis.SmoothingBasisRegressorCV` over that grid: one
    prior per fold, one solver run per alpha along a warm-started path, both
    temperatures scored from each. It keeps its defaults (``alpha=1``,
    ``routing_temperature=0.03``) unless another candidate beats them by more
    than one standard error over the folds (``selection="one_standard_error"``):
    three folds of a few dozen questions cannot separate neighbouring candidates
    reliably. ``efficient_cv=False`` gives the plain grid, which takes the best
    mean score as the other methods' grids do.

    Examples
    --------
    >>> spaces = search_spaces(384, 384)
    >>> list(spaces)  # doctest: +NORMALIZE_WHITESPACE
    ['zero_shot_cosine', 'multi_head_router', 'shared_ridge_map',
     'independent_ridge_maps', 'smoothing_basis']
    >>> estimator, grid = spaces["smoothing_basis"]
    >>> type(estimator).__name__, grid
    ('SmoothingBasisRegressorCV', {})
    >>> estimator, grid = search_spaces(384, 384, efficient_cv=False)["smoothing_basis"]
    >>> sorted(grid)
    ['alpha', 'routing_temperature']
    >>> sorted(search_spaces(384, 384, cosine_weight=[0.0, 0.5],
    ...                      efficient_cv=False)["smoothing_basis"][1])
    ['alpha', 'cosine_weight', 'routing_temperature']
    """
    tuned_weights = isinstance(cosine_weight, Sequence)
    temperatures = [0.01, 0.02, 0.05, 0.1]
    routing_shrinkages = _ROUTING_SHRINKAGES
    spaces = {}
    if n_features == n_targets:
        spaces["zero_shot_cosine"] = (SharedProjectionRegressor(method="identity"), {})
    spaces["multi_head_router"] = (
        MultiHeadRegressor(),
        {"routing_temperature": [0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5],
         "routing_shrinkage": routing_shrinkages},
    )
    spaces["shared_ridge_map"] = (
        SharedProjectionRegressor(method="ridge"),
        {"alpha": [10.0**e for e in range(-3, 4)]},
    )
    spaces["independent_ridge_maps"] = (
        IndependentProjectionRegressor(method="ridge"),
        {"alpha": [0.01, 0.1, 1.0, 10.0], "routing_temperature": temperatures,
         "routing_shrinkage": routing_shrinkages},
    )
    weights = list(cosine_weight) if tuned_weights else [cosine_weight]
    fixed = {"n_basis": n_basis, "max_iter": max_iter, "random_state": random_state}
    if efficient_cv:
        default = SmoothingBasisRegressor()
        spaces["smoothing_basis"] = (
            SmoothingBasisRegressorCV(
                alphas=_SMOOTHING_BASIS_ALPHAS, priors=[default.prior],
                cosine_weights=weights,
                routing_temperatures=_SMOOTHING_BASIS_TEMPERATURES,
                routing_shrinkages=[default.routing_shrinkage],
                selection="one_standard_error", **fixed,
            ),
            {},
        )
    else:
        spaces["smoothing_basis"] = (
            SmoothingBasisRegressor(cosine_weight=weights[0], **fixed),
            {
                "alpha": _SMOOTHING_BASIS_ALPHAS,
                "routing_temperature": _SMOOTHING_BASIS_TEMPERATURES,
                **({"cosine_weight": weights} if tuned_weights else {}),
            },
        )
    return spaces
