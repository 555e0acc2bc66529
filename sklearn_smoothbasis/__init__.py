"""Per-cluster linear maps over a shared smoothing basis, for scikit-learn."""

from ._base import NoGroupsWarning
from ._baselines import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
)
from ._smoothing_basis import SmoothingBasisRegressor
from ._smoothing_basis_cv import SmoothingBasisRegressorCV

__version__ = "0.1.0.dev0"

__all__ = [
    "IndependentProjectionRegressor",
    "MultiHeadRegressor",
    "NoGroupsWarning",
    "SharedProjectionRegressor",
    "SmoothingBasisRegressor",
    "SmoothingBasisRegressorCV",
]
