"""Model files: round trips, prediction from docs/format.rst alone, and every "
"refusal."""

import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Ridge

from sklearn_smoothbasis import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis.datasets import make_multicluster_regression
from sklearn_smoothbasis.io import RetrievalBundle, load, load_bundle, save, save_bundle

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = {
    "smoothing": SmoothingBasisRegressor(max_iter=5, random_state=0),
    "smoothing-hard-noprior": SmoothingBasisRegressor(
        max_iter=5, prior=None, routing="hard", random_state=0
    ),
    "smoothing-plain-cosine": SmoothingBasisRegressor(
        max_iter=5, prior="shared", routing_shrinkage=1.0, random_state=0
    ),
    "smoothing-low-rank": SmoothingBasisRegressor(
        max_iter=5, basis_rank=2, random_state=0
    ),
    "independent": IndependentProjectionRegressor(),
    "independent-whitened-hard": IndependentProjectionRegressor(
        routing_shrinkage="auto", routing="hard"
    ),
    "shared": SharedProjectionRegressor(),
    "multihead": MultiHeadRegressor(),
    "multihead-whitened": MultiHeadRegressor(routing_shrinkage=0.5),
}


@pytest.fixture(scope="module")
def data():
    X, Y, groups = make_multicluster_regression(
        n_clusters=9, n_features=6, n_targets=5, rows_per_cluster=(2, 4), random_state=0
    )
    labels = np.array([f"topic-{g}" for g in groups])
    rng = np.random.RandomState(1)
    X_new = rng.standard_normal((15, 6))
    return X, Y, labels, X_new


# --- Prediction written from docs/format.rst, with numpy, zipfile and json only. ---

def _read_model_file(path):
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
        arrays = {}
        for name in manifest["arrays"]:
            with archive.open(f"{name}.npy") as member:
                arrays[name] = np.load(member, allow_pickle=False)
    return manifest, arrays


def _predict_from_format_page(path, X, groups=None):
    manifest, A = _read_model_file(path)
    estimator, params = manifest["estimator"], manifest["params"]
    clusters = list(manifest["clusters"])
    rows = []
    for r, x in enumerate(np.asarray(X, dtype=np.float64)):
        g = None if groups is None else groups[r]
        i = clusters.index(g) if g in clusters else None
        w = None
        if i is None and estimator != "SharedProjectionRegressor":
            L = A.get("routing_transform")
            xl = x if L is None else x @ L
            norm = np.linalg.norm(xl)
            u = xl / norm if norm > 0 else xl
            s = A["routing_centroids"] @ u / params["routing_temperature"]
            w = np.exp(s - s.max())
            w /= w.sum()
            if params["routing"] == "hard":
                i, w = int(np.argmax(w)), None
        if estimator == "SmoothingBasisRegressor":
            c = A["coefficients"][i] if w is None else w @ A["coefficients"]
            y = np.zeros(manifest["dimensions"]["n_targets"])
            if "prior" in A:
                y += x @ A["prior"]
            if "basis" in A:
                for k, G in enumerate(A["basis"]):
                    y += c[k] * (x @ G)
            else:  # factored: G_k = U_k V_k^T, applied as (x U_k) V_k^T
                for k, (U, V) in enumerate(zip(A["basis_left"], A["basis_right"])):
                    y += c[k] * ((x @ U) @ V.T)
        elif estimator == "IndependentProjectionRegressor":
            y = x @ A["maps"][i] if w is None else sum(
                w_i * (x @ M) for w_i, M in zip(w, A["maps"])
            )
        elif estimator == "SharedProjectionRegressor":
            y = x @ A["coef"]
        else:
            y = A["target_means"][i] if w is None else w @ A["target_means"]
        rows.append(y)
    Y = np.array(rows)
    return Y.ravel() if manifest["targets_1d"] else Y


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_prediction_from_the_format_page_matches_predict(name, dtype, data, tmp_path):
    X, Y, labels, X_new = data
    model = sklearn.clone(ESTIMATORS[name]).fit(
        X.astype(dtype), Y.astype(dtype), groups=labels
    )
    path = tmp_path / "model.npz"
    save(model, path)
    # Routed (new rows, no label), known labels, and an unseen label (routed too).
    groups = list(labels[: len(X_new)])
    groups[3] = "never-seen"
    for queries, query_groups in [(X_new, None), (X_new, groups), (X, list(labels))]:
        expected = model.predict(queries.astype(dtype), groups=query_groups)
        got = _predict_from_format_page(path, queries.astype(dtype), query_groups)
        np.testing.assert_allclose(
            got, expected, atol=1e-6 if dtype == np.float64 else 1e-4
        )


def test_prediction_from_the_format_page_with_1d_targets(data, tmp_path):
    X, Y, labels, X_new = data
    model = IndependentProjectionRegressor().fit(X, Y[:, 0], groups=labels)
    save(model, tmp_path / "model.npz")
    expected = model.predict(X_new)
    assert expected.ndim == 1
    got = _predict_from_format_page(tmp_path / "model.npz", X_new)
    np.testing.assert_allclose(got, expected, atol=1e-6)


# --- Round trips. ---

@pytest.mark.parametrize("name", ESTIMATORS)
def test_load_gives_back_the_same_model(name, data, tmp_path):
    X, Y, labels, X_new = data
    model = sklearn.clone(ESTIMATORS[name]).fit(X, Y, groups=labels)
    save(model, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(X_new), model.predict(X_new))
    np.testing.assert_array_equal(
        loaded.predict(X, groups=labels), model.predict(X, groups=labels)
    )
    np.testing.assert_array_equal(loaded.clusters_, model.clusters_)
    for attribute in ("n_iter_", "objective_", "loss_curve_", "n_basis_"):
        if hasattr(model, attribute):
            assert getattr(loaded, attribute) == getattr(model, attribute)
    # The loaded model is an ordinary estimator: pickle and clone work on it.
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.predict(X_new), model.predict(X_new))
    assert sklearn.clone(loaded).get_params() == model.get_params()


@pytest.mark.parametrize(
    "groups",
    [
        lambda g: g,                                             # numpy str
        lambda g: np.array(list(g), dtype=object),               # Python str
        lambda g: np.array([int(s.split("-")[1]) for s in g]),   # int
        lambda g: np.array([int(s.split("-")[1]) / 2 for s in g]),  # float
    ],
    ids=["str", "object", "int", "float"],
)
def test_cluster_labels_keep_their_type(groups, data, tmp_path):
    X, Y, labels, _ = data
    groups = groups(labels)
    model = MultiHeadRegressor().fit(X, Y, groups=groups)
    save(model, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert loaded.clusters_.dtype == model.clusters_.dtype
    np.testing.assert_array_equal(loaded.clusters_, model.clusters_)
    np.testing.assert_array_equal(
        loaded.predict(X, groups=groups), model.predict(X, groups=groups)
    )


def test_feature_names_and_array_prior_are_kept(data, tmp_path):
    pd = pytest.importorskip("pandas")
    X, Y, labels, X_new = data
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    prior = np.eye(6, 5)
    model = SmoothingBasisRegressor(max_iter=5, prior=prior, random_state=0)
    model.fit(frame, Y, groups=labels)
    save(model, tmp_path / "model.npz")
    manifest, _ = _read_model_file(tmp_path / "model.npz")
    assert manifest["params_not_stored"] == ["prior"]
    loaded = load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
    np.testing.assert_array_equal(loaded.prior, prior)
    new = pd.DataFrame(X_new, columns=frame.columns)
    np.testing.assert_array_equal(loaded.predict(new), model.predict(new))


def test_a_loaded_model_works_with_skops(data, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, Y, labels, X_new = data
    model = SmoothingBasisRegressor(max_iter=5, random_state=0).fit(X, Y, groups=labels)
    save(model, tmp_path / "model.npz")
    sio.dump(load(tmp_path / "model.npz"), tmp_path / "model.skops")
    trusted = sio.get_untrusted_types(file=tmp_path / "model.skops")
    again = sio.load(tmp_path / "model.skops", trusted=trusted)
    np.testing.assert_array_equal(again.predict(X_new), model.predict(X_new))


def test_bundle_round_trip(data, tmp_path):
    X, Y, labels, X_new = data
    model = SmoothingBasisRegressor(max_iter=5, random_state=0).fit(X, Y, groups=labels)
    answers = np.unique(Y, axis=0).astype(np.float32)
    texts = [f"Answer {j}.\nSecond line." for j in range(len(answers))]
    bundle = RetrievalBundle(model, answers, labels=list(range(len(answers))),
                             texts=texts, encoder="all-MiniLM-L6-v2")
    save_bundle(bundle, tmp_path / "faq.npz")
    loaded = load_bundle(tmp_path / "faq.npz")
    assert (loaded.labels, loaded.texts, loaded.encoder) == (bundle.labels, texts,
                                                             "all-MiniLM-L6-v2")
    assert loaded.answers.dtype == np.float32
    np.testing.assert_array_equal(loaded.answers, answers)
    expected = model.retrieve(X_new, answers, k=3)
    got = loaded.retrieve(X_new, k=3)
    np.testing.assert_array_equal(got.indices, expected.indices)
    # load reads the model part of a bundle.
    np.testing.assert_array_equal(
        load(tmp_path / "faq.npz").predict(X_new), model.predict(X_new)
    )


@pytest.mark.parametrize(
    "name", ["smoothing", "smoothing-low-rank", "independent", "shared", "multihead"]
)
def test_a_loaded_model_grows_as_the_saved_one(name, data, tmp_path):
    X, Y, labels, X_new = data
    model = sklearn.clone(ESTIMATORS[name]).fit(X, Y, groups=labels)
    save(model, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert loaded.n_samples_seen_ == len(X)
    # X and Y have 6 and 5 columns: only the estimators with a map can go back.
    new_answer = Y[:1] + 0.1
    if name != "multihead":
        for grown in (model, loaded):
            grown.add_clusters(["new-topic"], new_answer)
    rng = np.random.RandomState(3)
    more = rng.choice(len(X), 6, replace=False)
    for grown in (model, loaded):
        grown.partial_fit(X[more] + 0.01, Y[more], groups=labels[more])
    np.testing.assert_allclose(loaded.predict(X_new), model.predict(X_new), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_array_equal(loaded.clusters_, model.clusters_)
    # Saved again after growing, it loads with the grown rows.
    save(loaded, tmp_path / "grown.npz")
    assert load(tmp_path / "grown.npz").n_samples_seen_ == len(X) + 6


def test_keep_rows_false_stores_what_prediction_needs_only(data, tmp_path):
    X, Y, labels, X_new = data
    model = MultiHeadRegressor().fit(X, Y, groups=labels)
    save(model, tmp_path / "lean.npz", keep_rows=False)
    manifest, arrays = _read_model_file(tmp_path / "lean.npz")
    assert "rows" not in manifest and "rows_X" not in arrays
    loaded = load(tmp_path / "lean.npz")
    np.testing.assert_array_equal(loaded.predict(X_new), model.predict(X_new))
    with pytest.raises(ValueError, match="saved with keep_rows=False"):
        loaded.partial_fit(X, Y, groups=labels)


def test_bundle_rejects_inconsistent_parts(data):
    X, Y, _labels, _ = data
    model = SharedProjectionRegressor().fit(X, Y)
    with pytest.raises(
        ValueError, match="answers has 4 columns but the model predicts 5"
    ):
        RetrievalBundle(model, Y[:, :4])
    with pytest.raises(ValueError, match="texts has 2 entries but there are 3 answers"):
        RetrievalBundle(model, Y[:3], texts=["a", "b"])
    with pytest.raises(
        ValueError, match="labels has 4 entries but there are 3 answers"
    ):
        RetrievalBundle(model, Y[:3], labels=[1, 2, 3, 4])
    with pytest.raises(NotFittedError):
        RetrievalBundle(SharedProjectionRegressor(), Y)


# --- Writing. ---

def test_save_rejects_what_it_cannot_write(data, tmp_path):
    X, Y, labels, _ = data
    with pytest.raises(NotFittedError):
        save(MultiHeadRegressor(), tmp_path / "model.npz")
    with pytest.raises(TypeError, match="save writes the package's four estimators"):
        save(Ridge().fit(X, Y), tmp_path / "model.npz")
    model = MultiHeadRegressor().fit(X, Y, groups=labels)
    with pytest.raises(ValueError, match="The folder of .* does not exist"):
        save(model, tmp_path / "missing" / "model.npz")
    with pytest.raises(ValueError, match="is a folder, not a file name"):
        save(model, tmp_path)
    dates = np.array(
        ["2024-01-01"] * 10 + ["2024-01-02"] * (len(X) - 10), dtype="M8[D]"
    )
    with pytest.raises(
        ValueError, match="Cluster labels of dtype datetime64.*cannot be stored"
    ):
        save(MultiHeadRegressor().fit(X, Y, groups=dates), tmp_path / "model.npz")


def test_a_failed_save_leaves_the_old_file(data, tmp_path, monkeypatch):
    X, Y, labels, _X_new = data
    model = MultiHeadRegressor().fit(X, Y, groups=labels)
    path = tmp_path / "model.npz"
    save(model, path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", broken)
    with pytest.raises(OSError, match="disk full"):
        save(IndependentProjectionRegressor().fit(X, Y, groups=labels), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


# --- Reading bad files: always a ValueError naming the problem. ---

@pytest.fixture
def saved(data, tmp_path):
    X, Y, labels, _ = data
    model = SmoothingBasisRegressor(max_iter=5, random_state=0).fit(X, Y, groups=labels)
    path = tmp_path / "model.npz"
    save(model, path)
    return path


def _rewrite(path, *, manifest=None, members=None, drop=()):
    """Copy the archive with an edited manifest, replaced or dropped members."""
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    if manifest is not None:
        old = json.loads(contents["manifest.json"])
        manifest(old)
        contents["manifest.json"] = json.dumps(old).encode()
    contents.update(members or {})
    for name in drop:
        del contents[name]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def _npy_bytes(array, allow_pickle=False):
    stream = io.BytesIO()
    np.lib.format.write_array(stream, array, allow_pickle=allow_pickle)
    return stream.getvalue()


class _RunsCodeWhenUnpickled:
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _RunsCodeWhenUnpickled.ran = True
    return 0


def test_a_pickled_object_array_is_refused_unread(saved):
    payload = np.empty((9, 3), dtype=object)
    payload[:] = _RunsCodeWhenUnpickled()

    def declare(manifest):
        manifest["arrays"]["coefficients"] = {"dtype": "|O", "shape": [9, 3]}

    _rewrite(saved, manifest=declare,
             members={"coefficients.npy": _npy_bytes(payload, allow_pickle=True)})
    with pytest.raises(
        ValueError, match="array 'coefficients' must be declared with dtype"
    ):
        load(saved)
    # Declared as floats, the member still holds objects: refused from its header.
    _rewrite(saved, manifest=lambda m: m["arrays"]["coefficients"].update(dtype="<f8"))
    with pytest.raises(
        ValueError, match="coefficients.npy holds Python objects .a pickle."
    ):
        load(saved)
    assert not _RunsCodeWhenUnpickled.ran


def test_truncated_and_corrupt_files(saved, tmp_path):
    data = saved.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ValueError, match="not a readable ZIP archive.*truncated or corrupt"
    ):
        load(truncated)
    # Flip one byte inside the basis data: the ZIP checksum catches it.
    corrupt = tmp_path / "corrupt.npz"
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("basis.npy")
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    corrupt.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    with pytest.raises(
        ValueError, match="basis.npy cannot be read .*corrupt or truncated"
    ):
        load(corrupt)
    text = tmp_path / "model.txt"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="is not a model file"):
        load(text)
    with pytest.raises(ValueError, match="does not exist"):
        load(tmp_path / "nothing.npz")
    with pytest.raises(ValueError, match="is a folder"):
        load(tmp_path)


def _set(key, value):
    def edit(manifest):
        manifest[key] = value
    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            _set("format_version", 3),
            "format version 3; this version .* reads format versions 1 and 2",
        ),
        (
            _set("format", "other"),
            "does not declare format 'sklearn-smoothbasis-model'",
        ),
        (_set("estimator", "Ridge"), "unknown estimator 'Ridge'"),
        (
            _set("clusters", "a,b"),
            "field 'clusters' of manifest.json is missing or not a list",
        ),
        (lambda m: m.pop("params"), "field 'params' of manifest.json is missing"),
        (
            lambda m: m["clusters"].reverse(),
            "cluster labels must be sorted and distinct",
        ),
        (
            lambda m: m["clusters"].pop(),
            "8 cluster labels but dimension n_clusters is 9",
        ),
        (
            lambda m: m["dimensions"].update(n_basis=0),
            "dimension 'n_basis' must be a positive",
        ),
        (
            lambda m: m["dimensions"].pop("n_basis"),
            "dimension 'n_basis' of array 'basis' is missing",
        ),
        (
            lambda m: m["arrays"]["basis"].update(shape=[1, 2, 3]),
            r"array 'basis' is declared with shape \[1, 2, 3\]; the manifest's "
            r"dimensions require",
        ),
        (
            lambda m: m["arrays"]["coefficients"].update(dtype="<f4"),
            r"coefficients.npy has dtype <f8 and shape \[9, 3\]; manifest.json "
            r"declares <f4",
        ),
        (lambda m: m["params"].update(routing="sideways"), "invalid parameters"),
        (
            lambda m: m["params"].update(colour="red"),
            "parameters unknown to SmoothingBasisRegressor: colour",
        ),
        (
            lambda m: m["fitted"].update({"__class__": 1}),
            "fitted attribute name '__class__' is not allowed",
        ),
        (
            lambda m: m["rows"]["per_cluster"].pop(),
            "rows.per_cluster must be a list of 9 non-negative",
        ),
        (
            lambda m: m["rows"]["per_cluster"].__setitem__(0, 100),
            "rows.per_cluster adds up to .* rows but dimension n_rows is",
        ),
        (
            lambda m: m["rows"].update(answer_neighbors=None),
            "rows.answer_neighbors must be a list",
        ),
        (lambda m: m.pop("rows"), "arrays rows_X and rows_Y need the 'rows' section"),
    ],
)
def test_a_manifest_that_does_not_match_is_refused(saved, edit, message):
    _rewrite(saved, manifest=edit)
    with pytest.raises(ValueError, match=message):
        load(saved)


_NAN_COEFFICIENTS = np.zeros((9, 3))
_NAN_COEFFICIENTS[0, 0] = np.nan


@pytest.mark.parametrize(
    "rewrite, message",
    [
        ({"drop": ["coefficients.npy"]}, "coefficients.npy is missing"),
        (
            {
                "manifest": lambda m: m["arrays"].pop("coefficients"),
                "drop": ["coefficients.npy"],
            },
            "array 'coefficients', required by SmoothingBasisRegressor, is missing",
        ),
        (
            {"members": {"extra.npy": _npy_bytes(np.zeros(3))}},
            "members not declared in manifest.json: extra.npy",
        ),
        ({"drop": ["manifest.json"]}, "manifest.json is missing"),
        (
            {"members": {"manifest.json": b"{not json"}},
            "manifest.json is not valid JSON",
        ),
        (
            {"members": {"coefficients.npy": _npy_bytes(_NAN_COEFFICIENTS)}},
            "array 'coefficients' holds NaN or infinite values",
        ),
        (
            {"members": {"coefficients.npy": b"plain bytes, no array"}},
            "coefficients.npy is not a .npy array",
        ),
    ],
    ids=[
        "member-missing",
        "array-undeclared",
        "extra-member",
        "no-manifest",
        "bad-json",
        "nan",
        "not-npy",
    ],
)
def test_missing_undeclared_and_bad_members_are_refused(saved, rewrite, message):
    _rewrite(saved, **rewrite)
    with pytest.raises(ValueError, match=message):
        load(saved)


def test_format_version_1_unless_the_basis_is_factored(data, tmp_path):
    # Files without a factored basis are exactly those of version 1, so every
    # reader of version 1 still reads them; a factored basis needs version 2.
    X, Y, labels, _ = data
    for basis_rank, version in ((None, 1), (2, 2)):
        model = SmoothingBasisRegressor(max_iter=2, basis_rank=basis_rank,
                                        random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            save(model.fit(X, Y, groups=labels), tmp_path / "model.npz")
        manifest, arrays = _read_model_file(tmp_path / "model.npz")
        assert manifest["format_version"] == version
        assert ("basis" in arrays) == (basis_rank is None)
        assert manifest["dimensions"].get("basis_rank") == basis_rank


@pytest.fixture
def saved_factored(data, tmp_path):
    X, Y, labels, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SmoothingBasisRegressor(max_iter=2, basis_rank=2, random_state=0).fit(
            X, Y, groups=labels)
    path = tmp_path / "factored.npz"
    save(model, path)
    return path


@pytest.mark.parametrize(
    "rewrite, message",
    [
        (
            {"manifest": lambda m: m["arrays"].pop("basis_right"),
             "drop": ["basis_right.npy"]},
            "holds either the array 'basis' or both 'basis_left' and 'basis_right'; "
            "got basis_left",
        ),
        (
            {"manifest": lambda m: m.update(format_version=1)},
            "factored basis arrays need format version 2",
        ),
        (
            {"manifest": lambda m: m["params"].update(basis_rank=1)},
            "parameter basis_rank=1 does not match the factored basis's dimension "
            "basis_rank=2",
        ),
    ],
    ids=["half-factored", "version-1", "rank-mismatch"],
)
def test_a_bad_factored_basis_is_refused(saved_factored, rewrite, message):
    _rewrite(saved_factored, **rewrite)
    with pytest.raises(ValueError, match=message):
        load(saved_factored)


def test_a_dense_basis_with_basis_rank_is_refused(saved):
    _rewrite(saved, manifest=lambda m: m["params"].update(basis_rank=2))
    with pytest.raises(ValueError, match="basis_rank=2 but the basis is not factored"):
        load(saved)


def test_load_bundle_needs_answers(saved):
    with pytest.raises(
        ValueError, match="a model without answers, not a retrieval bundle"
    ):
        load_bundle(saved)
