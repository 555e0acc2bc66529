"""The retrieval comparison of ``smoothbasis compare`` and ``benchmarks/retrieval.py``.

Three parts, one module each:

- the protocol: split each cluster's questions into training and held-out ones
  (:func:`retrieval_split`, :func:`split_dataset`), tune every method alike by
  cluster-stratified cross-validation on the training questions (:func:`tune`), and
  score each tuned model's routed predictions of the held-out questions
  (:func:`compare_retrieval`), and optionally how well each declines queries no
  answer fits (:func:`score_declining`);
- the methods compared and the grid each is tuned over (:func:`search_spaces`),
  keyed by stable method keys such as ``"smoothing_basis"``, with the names
  tables show in :data:`METHOD_NAMES`;
- the report: a text or Markdown table (:func:`format_table`, and
  :func:`format_declining_table` for declining) and a bar chart
  (:func:`plot_table`).
"""

from ._methods import METHOD_NAMES, search_spaces
from ._protocol import (
    compare_retrieval,
    retrieval_split,
    score_declining,
    split_dataset,
    tune,
)
from ._report import format_declining_table, format_table, plot_table

__all__ = [
    "METHOD_NAMES",
    "compare_retrieval",
    "format_declining_table",
    "format_table",
    "plot_table",
    "retrieval_split",
    "score_declining",
    "search_spaces",
    "split_dataset",
    "tune",
]
