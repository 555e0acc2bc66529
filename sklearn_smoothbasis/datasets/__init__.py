"""Data: the planted-basis generator and loaders of embedded question clusters."""

from ._synthetic import make_multicluster_regression

__all__ = ["make_multicluster_regression"]
