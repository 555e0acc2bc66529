"""One entry point for every file format of question clusters.

:func:`load_clusters` picks the reader of a path from its content and name, so the
``smoothbasis`` commands (``--data``) and any other caller read the same formats
the same way.
"""

import os
from pathlib import Path

from ._lda_database import load_lda_database
from ._loaders import load_embedded_clusters, load_jsonl_clusters

__all__ = ["load_clusters"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_DATABASE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def _is_sqlite(path):
    """Whether ``path`` is a file that starts like an SQLite 3 database."""
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def load_clusters(path, *, model=None, return_X_y=False):
    """Load question clusters from any supported file, chosen by its content.

    - an SQLite database in UnifyWeaver's LDA schema, a file that starts with the
      SQLite header or is named ``.db``, ``.sqlite`` or ``.sqlite3``:
      :func:`load_lda_database`;
    - a ``.jsonl`` file of texts: :func:`load_jsonl_clusters`;
    - anything else, an ``.npz`` archive or a dataset folder holding
      ``embeddings.npz``: :func:`load_embedded_clusters`.

    Every reader merges clusters that share an answer, with a warning (see
    :mod:`sklearn_smoothbasis.datasets`).

    Parameters
    ----------
    path : str or path-like
        The file or dataset folder.
    model : object with an ``encode`` method, default=None
        Sentence encoder for texts (JSONL, or database texts without a stored
        vector); None loads all-MiniLM-L6-v2 when a text needs it. Ignored for
        an ``.npz`` archive.
    return_X_y : bool, default=False
        If True, return ``(X, Y, groups)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        As the reader returns it.

    (X, Y, groups) : tuple of ndarray
        Returned instead when ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError, ValueError, ImportError
        As the reader raises them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_smoothbasis.datasets import load_clusters
    >>> path = getfixture("tmp_path") / "tiny.npz"
    >>> np.savez(path, X=np.eye(3), groups=[0, 0, 1], A=np.eye(2, 3))
    >>> load_clusters(path).groups.tolist()
    [0, 0, 1]
    """
    path = Path(os.fspath(path)).expanduser()
    if path.suffix in _DATABASE_SUFFIXES or _is_sqlite(path):
        return load_lda_database(path, model=model, return_X_y=return_X_y)
    if path.suffix == ".jsonl":
        return load_jsonl_clusters(path, model=model, return_X_y=return_X_y)
    return load_embedded_clusters(path, return_X_y=return_X_y)
