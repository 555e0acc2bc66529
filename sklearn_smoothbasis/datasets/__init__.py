"""Data: the planted-basis generator and loaders of embedded question clusters."""

from ._lda_database import load_lda_database
from ._load_clusters import load_clusters
from ._loaders import load_embedded_clusters, load_faq_demo, load_jsonl_clusters
from ._synthetic import make_multicluster_regression

__all__ = [
    "load_clusters",
    "load_embedded_clusters",
    "load_faq_demo",
    "load_jsonl_clusters",
    "load_lda_database",
    "make_multicluster_regression",
]
