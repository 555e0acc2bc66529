"""Reader of UnifyWeaver's LDA projection database (SQLite).

The schema (UnifyWeaver's ``docs/proposals/LDA_DATABASE_SCHEMA.md``) stores
question clusters in five tables: ``qa_clusters`` (``cluster_id``, ``name``),
``questions`` (``question_id``, ``text``), ``answers`` (``answer_id``,
``text``) and the links ``cluster_questions`` and ``cluster_answers``. Vectors
are not in the database: a row of ``embeddings`` (``model_id``,
``entity_type`` 'question' or 'answer', ``entity_id``, ``vector_path``) names
an ``.npy`` file, relative to the database's folder, and ``embedding_models``
names the model that made it.

The database is opened read-only with Python's :mod:`sqlite3`; the rows become
the loaders' common Bunch through :func:`._loaders._make_bunch`, which merges
clusters that share an answer.
"""

import sqlite3
import warnings
from contextlib import closing
from pathlib import Path

import numpy as np

from ._loaders import (
    _embed_texts,
    _load_default_encoder,
    _make_bunch,
    _mean_directions,
    _resolve_existing_file,
    _summary_descr,
    _unit_float32_rows,
)

__all__ = ["load_lda_database"]

_REQUIRED_TABLES = (
    "qa_clusters",
    "questions",
    "cluster_questions",
    "answers",
    "cluster_answers",
)
_ENTITY_TABLES = {"question": "questions", "answer": "answers"}


def _open_read_only(path):
    """A read-only connection to ``path`` and the names of its tables."""
    connection = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        tables = {
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise ValueError(f"{path}: not an SQLite database ({exc}).") from exc
    missing = [table for table in _REQUIRED_TABLES if table not in tables]
    if missing:
        connection.close()
        raise ValueError(
            f"{path}: not an LDA database: missing table(s) {', '.join(missing)} "
            f"(an LDA database has {', '.join(_REQUIRED_TABLES)})."
        )
    return connection, tables


def _linked_texts(connection, kind, cluster_names, source):
    """``{cluster_id: [(entity_id, text), ...]}`` of one link table, in id order.

    ``kind`` is 'question' or 'answer'. A link to a cluster or an entity that does
    not exist, or a blank text, is a ValueError naming the row.
    """
    table = _ENTITY_TABLES[kind]
    rows = connection.execute(
        f"SELECT link.cluster_id, link.{kind}_id, entity.{kind}_id, entity.text "
        f"FROM cluster_{table} AS link LEFT JOIN {table} AS entity "
        f"ON entity.{kind}_id = link.{kind}_id "
        f"ORDER BY link.cluster_id, link.{kind}_id"
    ).fetchall()
    linked = {}
    for cluster, entity, found, text in rows:
        where = f"{source}: cluster_{table} row (cluster {cluster}, {kind} {entity})"
        if cluster not in cluster_names:
            raise ValueError(f"{where} names a cluster that is not in qa_clusters.")
        if found is None:
            raise ValueError(f"{where} names a {kind} that is not in {table}.")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{source}: {kind} {entity} has no text.")
        linked.setdefault(cluster, []).append((entity, text))
    return linked


def _vector_files(connection, tables, embedding_model, source):
    """``{(entity_type, entity_id): (path, dimension)}`` of one model's stored vectors.

    The model is ``embedding_model`` (a name in ``embedding_models``) or, when
    None, the only model with stored vectors; no stored vector gives ``{}``.
    """
    if "embeddings" not in tables or "embedding_models" not in tables:
        if embedding_model is not None:
            raise ValueError(
                f"{source}: embedding_model={embedding_model!r}, but the database "
                "has no embeddings or embedding_models table."
            )
        return {}
    rows = connection.execute(
        "SELECT model.name, model.dimension, vector.entity_type, vector.entity_id, "
        "vector.vector_path FROM embeddings AS vector LEFT JOIN embedding_models "
        "AS model ON model.model_id = vector.model_id"
    ).fetchall()
    if embedding_model is None:
        names = sorted({str(row[0]) for row in rows})
        if len(names) > 1:
            raise ValueError(
                f"{source}: stored vectors of several models ({', '.join(names)}); "
                "choose one with embedding_model=<name>."
            )
    else:
        registered = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM embedding_models ORDER BY name"
            )
        ]
        if embedding_model not in registered:
            raise ValueError(
                f"{source}: embedding_model={embedding_model!r} is not in "
                "embedding_models (registered: "
                f"{', '.join(map(str, registered)) or 'none'})."
            )
        rows = [row for row in rows if row[0] == embedding_model]
    folder = Path(source).parent
    return {
        (kind, entity): (folder / vector_path, dimension)
        for _, dimension, kind, entity, vector_path in rows
    }


def _read_vector(path, dimension, entity, source):
    """One stored vector as a float64 row, or an error naming the file."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{source}: the embeddings table points {entity} to {path}, "
            "which does not exist."
        )
    try:
        vector = np.load(path, allow_pickle=False)
    except Exception as exc:  # not an .npy file, truncated, or pickled objects
        raise ValueError(
            f"{source}: cannot read the vector of {entity} from {path} ({exc})."
        ) from exc
    if (
        not isinstance(vector, np.ndarray)
        or vector.dtype.kind not in "biuf"
        or vector.ndim not in (1, 2)
        or (vector.ndim == 2 and vector.shape[0] != 1)
        or (dimension is not None and vector.size != dimension)
    ):
        expected = f"{dimension} numbers" if dimension is not None else "numbers"
        raise ValueError(
            f"{source}: {path} ({entity}) must hold one vector of {expected}; it "
            f"holds an array of shape {getattr(vector, 'shape', '?')}, dtype "
            f"{getattr(vector, 'dtype', '?')}."
        )
    return vector.astype(np.float64).ravel()


def _text_vectors(rows, stored, model, batch_size, source):
    """Unit float32 vectors of ``rows`` (``(kind, entity_id, text)`` triples).

    Equal texts of one kind get one vector: the stored vector of the first of
    their ids that has one, else one encoding by ``model`` (all texts to encode
    in one pass; the default encoder is loaded only when some text needs it).

    Returns
    -------
    vectors : dict
        ``{kind: ndarray of shape (n_rows_of_kind, n_dimensions)}``, rows in the
        order of ``rows``.
    """
    found = {}  # (kind, text) -> float64 vector, or None until one is found
    for kind, entity, text in rows:
        if found.get((kind, text)) is None:
            found[kind, text] = (
                _read_vector(*stored[kind, entity], f"{kind} {entity}", source)
                if (kind, entity) in stored
                else None
            )
    to_encode = [key for key, vector in found.items() if vector is None]
    if to_encode:
        encoder = _load_default_encoder() if model is None else model
        encoded = _embed_texts(
            encoder, [text for _, text in to_encode], batch_size, source
        )
        found.update(zip(to_encode, encoded.astype(np.float64)))
    vectors = {}
    for kind in dict.fromkeys(kind for kind, _, _ in rows):
        keys = list(dict.fromkeys((k, text) for k, _, text in rows if k == kind))
        widths = sorted({len(found[key]) for key in keys})
        if len(widths) > 1:
            raise ValueError(
                f"{source}: the {kind} vectors have different dimensions "
                f"({', '.join(map(str, widths))}): stored vectors and the encoder's "
                "must come from the same model."
            )
        distinct = _unit_float32_rows(
            np.vstack([found[key] for key in keys]),
            [f"{kind} {text!r}" for _, text in keys],
            source,
            "it has",
        )
        row_of = {key: row for row, key in enumerate(keys)}
        vectors[kind] = distinct[
            [row_of[kind, text] for k, _, text in rows if k == kind]
        ]
    return vectors


def load_lda_database(
    path, *, model=None, embedding_model=None, batch_size=64, return_X_y=False
):
    """Load question clusters from a UnifyWeaver LDA projection database.

    Reads the clusters (``qa_clusters``), their questions (``questions`` through
    ``cluster_questions``) and their answers (``answers`` through
    ``cluster_answers``) of an SQLite database in UnifyWeaver's LDA projection
    schema, opened read-only. A text with a vector stored for it (a row of the
    ``embeddings`` table naming an ``.npy`` file, relative to the database's
    folder) gets that vector; the other texts are embedded with ``model``.
    Vectors are L2-normalised; equal texts get one vector. A cluster with
    several answers gets the L2-normalised mean of its distinct answers.

    Clusters are ordered by ``cluster_id`` and questions by ``question_id``.
    Clusters that share an answer (equal vectors: equal texts, for instance
    the same FAQ imported twice) are merged into the first of them, and a
    question repeated in a merged cluster is kept once, with a ``UserWarning``
    naming them (as every loader does). A question in no cluster, and a
    cluster without a question or without an answer, are left out with a
    ``UserWarning`` that names them.

    Parameters
    ----------
    path : str or path-like
        The SQLite database file.
    model : object with an ``encode`` method, default=None
        Sentence encoder for the texts without a stored vector, as in
        :func:`load_jsonl_clusters`; it must be the model that made the stored
        vectors, if any. If None and a text needs encoding, all-MiniLM-L6-v2 is
        loaded offline (the ``embed`` extra).
    embedding_model : str, default=None
        Name (in ``embedding_models``) of the model whose stored vectors to use.
        If None, the only model with stored vectors, if any.
    batch_size : int, default=64
        Number of texts passed to ``model.encode`` at once.
    return_X_y : bool, default=False
        If True, return ``(X, Y, groups)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        The same attributes as :func:`load_faq_demo`: ``X``, ``Y``, ``groups``,
        ``answers``, ``cluster_ids`` (the clusters' ``name``, or their
        ``cluster_id`` where the name is empty; a name shared by clusters with
        different answers gets `` (cluster <id>)`` appended), ``questions``,
        ``answer_texts`` and ``DESCR``.

    (X, Y, groups) : tuple of ndarray
        Returned instead when ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist, or a stored vector's ``.npy`` file does not.
    ValueError
        If the file is not an SQLite database or lacks one of the five tables, a
        link names a cluster, question or answer that does not exist, a text is
        blank, a stored vector is not one vector of the model's dimension, the
        vectors' dimensions differ, stored vectors of several models exist and
        ``embedding_model`` is not given, or no cluster has both a question and
        an answer.
    ImportError
        If a text needs encoding, ``model`` is None and the ``embed`` extra is
        not installed.

    See Also
    --------
    load_jsonl_clusters : Embed a JSONL file of question/answer texts.

    Examples
    --------
    A database with two clusters, embedded by a toy encoder that counts
    letters:

    >>> import sqlite3
    >>> import numpy as np
    >>> from sklearn_smoothbasis.datasets import load_lda_database
    >>> path = getfixture("tmp_path") / "lda.db"
    >>> with sqlite3.connect(path) as db:
    ...     _ = db.executescript('''
    ...         CREATE TABLE qa_clusters (cluster_id INTEGER PRIMARY KEY, name TEXT);
    ...         CREATE TABLE questions (question_id INTEGER PRIMARY KEY, text TEXT);
    ...         CREATE TABLE answers (answer_id INTEGER PRIMARY KEY, text TEXT);
    ...         CREATE TABLE cluster_questions (cluster_id INT, question_id INT);
    ...         CREATE TABLE cluster_answers (cluster_id INT, answer_id INT);
    ...         INSERT INTO qa_clusters VALUES (1, 'tea'), (2, 'coffee');
    ...         INSERT INTO questions VALUES (1, 'how to brew tea?'), (2, 'tea time'),
    ...                                      (3, 'best coffee grind');
    ...         INSERT INTO answers VALUES (1, 'Steep it for three minutes.'),
    ...                                    (2, 'Medium for drip.');
    ...         INSERT INTO cluster_questions VALUES (1, 1), (1, 2), (2, 3);
    ...         INSERT INTO cluster_answers VALUES (1, 1), (2, 2);
    ...     ''')
    >>> class LetterCounts:
    ...     def encode(self, texts):
    ...         return np.array([[t.count(c) + 1 for c in "aeiou"] for t in texts])
    >>> data = load_lda_database(path, model=LetterCounts())
    >>> data.X.shape, data.groups.tolist(), data.cluster_ids
    ((3, 5), [0, 0, 1], ['tea', 'coffee'])
    """
    path = _resolve_existing_file(path, "LDA database")
    source = str(path)
    connection, tables = _open_read_only(path)
    with closing(connection):
        try:
            names = dict(
                connection.execute(
                    "SELECT cluster_id, name FROM qa_clusters ORDER BY cluster_id"
                ).fetchall()
            )
            questions = _linked_texts(connection, "question", names, source)
            answers = _linked_texts(connection, "answer", names, source)
            n_unlinked = connection.execute(
                "SELECT COUNT(*) FROM questions WHERE question_id NOT IN "
                "(SELECT question_id FROM cluster_questions)"
            ).fetchone()[0]
            stored = _vector_files(connection, tables, embedding_model, source)
        except sqlite3.Error as exc:  # a column of the schema is missing, ...
            raise ValueError(
                f"{source}: does not follow the LDA database schema ({exc})."
            ) from exc

    usable = [c for c in names if c in questions and c in answers]
    left_out = [
        f"cluster {c} ({names[c]!r}) has no "
        + ("question" if c not in questions else "answer")
        for c in names
        if c not in usable
    ]
    if n_unlinked:
        left_out.append(f"{n_unlinked} question(s) are in no cluster")
    if left_out:
        warnings.warn(
            f"{source}: left out what cannot be a training pair: "
            + "; ".join(left_out)
            + ".",
            UserWarning,
            stacklevel=2,
        )
    if not usable:
        raise ValueError(f"{source}: no cluster has both a question and an answer.")

    # per cluster, its distinct answer texts, each with the first id that has it
    first_answer_id = [
        {text: entity for entity, text in reversed(answers[c])} for c in usable
    ]
    answer_texts = [list(dict.fromkeys(text for _, text in answers[c])) for c in usable]
    answers_of_name = {}
    for cluster, texts in zip(usable, answer_texts):
        answers_of_name.setdefault(names[cluster] or str(cluster), set()).add(
            tuple(texts)
        )
    cluster_ids = [
        label if len(answers_of_name[label]) == 1 else f"{label} (cluster {c})"
        for c in usable
        for label in [names[c] or str(c)]
    ]
    question_rows = [
        ("question", entity, text) for c in usable for entity, text in questions[c]
    ]
    answer_rows = [
        ("answer", ids[text], text)
        for ids, texts in zip(first_answer_id, answer_texts)
        for text in texts
    ]
    vectors = _text_vectors(
        question_rows + answer_rows, stored, model, batch_size, source
    )
    answer_vectors = _mean_directions(
        vectors["answer"],
        np.array([len(texts) for texts in answer_texts]),
        cluster_ids,
        source,
    )
    groups = np.repeat(np.arange(len(usable)), [len(questions[c]) for c in usable])
    return _make_bunch(
        vectors["question"],
        groups,
        answer_vectors,
        source=source,
        descr=_summary_descr("UnifyWeaver LDA database", path),
        cluster_ids=cluster_ids,
        questions=[text for _, _, text in question_rows],
        answer_texts=answer_texts,
        return_X_y=return_X_y,
    )
