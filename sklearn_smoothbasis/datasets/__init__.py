"""Data: the planted-basis generator and loaders of embedded question clusters.

Every loader returns the same :class:`~sklearn.utils.Bunch` (``X``, ``Y``,
``groups``, ``answers``, texts where the source has them), and treats clusters
that share an answer the same way: retrieval ranks answers, so clusters whose
answer embeddings are exactly equal (the same answer text, since each distinct
text is embedded once) cannot be told apart by any model or metric. They are
merged into the first of them, which holds the questions of all, and a
``UserWarning`` names them; a question that then occurs twice in one cluster (the
same text, or the same embedding where there are no texts) is kept once, and the
warning counts the rows dropped. :func:`load_clusters` reads any supported file.
"""

from ._lda_database import load_lda_database
from ._load_clusters import load_clusters
from ._loaders import (
    embed_texts,
    load_embedded_clusters,
    load_encoder,
    load_faq_demo,
    load_jsonl_clusters,
)
from ._synthetic import make_multicluster_regression

__all__ = [
    "embed_texts",
    "load_clusters",
    "load_embedded_clusters",
    "load_encoder",
    "load_faq_demo",
    "load_jsonl_clusters",
    "load_lda_database",
    "make_multicluster_regression",
]
