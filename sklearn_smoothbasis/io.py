"""Model files that other programs and languages can read: arrays and a JSON manifest.

A model file is a ZIP archive (stored, not compressed) holding ``manifest.json`` and
one NumPy ``.npy`` file per array; ``numpy.load`` opens it as an ``.npz``. The
manifest names the estimator, the format version, the parameters prediction needs,
the cluster labels, and the dtype and shape of every array. The format, field by
field, and the prediction rule are in ``docs/format.rst``.

Loading never runs code from the file: there is no pickle in it, arrays are read
with ``allow_pickle=False`` after their header has been checked against the
manifest, and labels and texts are JSON. A file from an untrusted source can at
worst fail to load, with a ``ValueError`` that names the problem; ``load`` never
returns a partly loaded model.

A *retrieval bundle* is a model file with an ``answers`` section: the answer
embeddings that :meth:`retrieve` ranks, their labels and texts, and the name of the
encoder that embedded them (see :class:`RetrievalBundle`).
"""

import io
import json
import math
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_array, check_is_fitted

from . import __version__
from ._baselines import (
    IndependentProjectionRegressor,
    MultiHeadRegressor,
    SharedProjectionRegressor,
)
from ._declining import check_min_similarity
from ._files import atomic_write, check_writable
from ._linalg import cluster_starts
from ._smoothing_basis import SmoothingBasisRegressor
from ._smoothing_basis_cv import SmoothingBasisRegressorCV

__all__ = ["RetrievalBundle", "load", "load_bundle", "save", "save_bundle"]

FORMAT_NAME = "sklearn-smoothbasis-model"
# Version 2 added the factored basis of basis_rank (arrays basis_left and
# basis_right, dimension basis_rank); a file without it is written as version 1, which
# every reader of version 1 reads as before.
FORMAT_VERSION = 2
_FORMAT_VERSIONS = (1, 2)
_FACTORED_ARRAYS = ("basis_left", "basis_right")
MANIFEST = "manifest.json"

_ESTIMATORS = {
    cls.__name__: cls
    for cls in (
        SmoothingBasisRegressor,
        IndependentProjectionRegressor,
        SharedProjectionRegressor,
        MultiHeadRegressor,
    )
}

# The arrays of each estimator: file name -> (fitted attribute, shape in named
# dimensions, whether it may be absent, meaning None).
_CLUSTER_ARRAYS = {"centroids": ("centroids_", ("n_clusters", "n_features"), False)}
_ROUTING_ARRAYS = {
    "routing_centroids": ("routing_centroids_", ("n_clusters", "n_features"), False),
    "routing_transform": ("routing_transform_", ("n_features", "n_features"), True),
}
_ARRAYS = {
    "SmoothingBasisRegressor": {
        **_CLUSTER_ARRAYS, **_ROUTING_ARRAYS,
        "basis": ("basis_", ("n_basis", "n_features", "n_targets"), True),
        "basis_left": ("basis_left_", ("n_basis", "n_features", "basis_rank"), True),
        "basis_right": ("basis_right_", ("n_basis", "n_targets", "basis_rank"), True),
        "coefficients": ("coefficients_", ("n_clusters", "n_basis"), False),
        "prior": ("prior_", ("n_features", "n_targets"), True),
        "target_means": ("target_means_", ("n_clusters", "n_targets"), True),
    },
    "IndependentProjectionRegressor": {
        **_CLUSTER_ARRAYS, **_ROUTING_ARRAYS,
        "maps": ("maps_", ("n_clusters", "n_features", "n_targets"), False),
    },
    "SharedProjectionRegressor": {
        **_CLUSTER_ARRAYS,
        "coef": ("coef_", ("n_features", "n_targets"), False),
    },
    "MultiHeadRegressor": {
        **_CLUSTER_ARRAYS, **_ROUTING_ARRAYS,
        "target_means": ("target_means_", ("n_clusters", "n_targets"), False),
    },
}
# Little-endian IEEE floats only, written and read as such on every machine.
_FLOAT_DTYPES = {"<f4": np.float32, "<f8": np.float64}
_ANSWER_ARRAY = "answer_embeddings"
# The rows a model was fitted on, kept so that partial_fit and add_clusters can grow it.
_ROW_ARRAYS = {"rows_X": ("n_rows", "n_features"), "rows_Y": ("n_rows", "n_targets")}
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _json_scalar(value):
    """``value`` as a JSON scalar (or flat list of them), or ``_NOT_STORABLE``."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NOT_STORABLE
    if isinstance(value, (list, tuple)):
        items = [_json_scalar(v) for v in value]
        if any(v is _NOT_STORABLE or isinstance(v, list) for v in items):
            return _NOT_STORABLE
        return items
    return _NOT_STORABLE


_NOT_STORABLE = object()


def _label_list(labels, what):
    """Labels (cluster or answer labels) as a JSON list, and their NumPy dtype."""
    labels = np.asarray(labels)
    kind = labels.dtype.kind
    values = labels.tolist()
    if kind == "O" and all(isinstance(v, str) for v in values):
        return values, "object"
    if kind not in "biuU" and not (kind == "f" and np.isfinite(labels).all()):
        raise ValueError(
            f"{what} of dtype {labels.dtype} cannot be stored in a model file: labels "
            "must be integers, finite floats or strings."
        )
    return values, labels.dtype.str


def _array_entry(array):
    return {"dtype": array.dtype.str, "shape": list(array.shape)}


def _model_manifest_and_arrays(model, keep_rows):
    if type(model) is SmoothingBasisRegressorCV:  # its refitted model
        check_is_fitted(model)
        model = model.best_estimator_
    name = type(model).__name__
    if name not in _ESTIMATORS or type(model) is not _ESTIMATORS[name]:
        raise TypeError(
            f"save writes the package's four estimators ({', '.join(_ESTIMATORS)}) "
            f"and SmoothingBasisRegressorCV's refitted model; got "
            f"{type(model).__name__}."
        )
    check_is_fitted(model)
    arrays, array_entries, dimensions = {}, {}, {}
    for file_name, (attribute, shape, optional) in _ARRAYS[name].items():
        value = getattr(model, attribute)
        if value is None and optional:
            continue
        value = np.asarray(value)
        little_endian = value.dtype.newbyteorder("<")
        if little_endian.str not in _FLOAT_DTYPES:
            raise ValueError(
                f"{attribute} has dtype {value.dtype}; expected float32 or float64."
            )
        arrays[file_name] = np.ascontiguousarray(value, dtype=little_endian)
        array_entries[file_name] = _array_entry(arrays[file_name])
        for dimension, size in zip(shape, value.shape):
            dimensions.setdefault(dimension, size)
    clusters, clusters_dtype = _label_list(model.clusters_, "Cluster labels")
    params, params_not_stored = {}, []
    for key, value in model.get_params(deep=False).items():
        value = _json_scalar(value)
        if value is _NOT_STORABLE:
            params_not_stored.append(key)
        else:
            params[key] = value
    stored = {spec[0] for spec in _ARRAYS[name].values()} | {
        "clusters_", "n_features_in_", "n_targets_", "feature_names_in_"
    }
    fitted, attributes_not_stored = {}, []
    for key, value in sorted(vars(model).items()):
        if not key.endswith("_") or key.startswith("_") or key in stored:
            continue
        value = _json_scalar(value)
        if value is _NOT_STORABLE:
            attributes_not_stored.append(key)
        else:
            fitted[key] = value
    feature_names = getattr(model, "feature_names_in_", None)
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION if set(_FACTORED_ARRAYS) & set(arrays) else 1,
        "estimator": name,
        "package_version": __version__,
        "dimensions": {
            "n_clusters": len(clusters),
            "n_features": int(model.n_features_in_),
            "n_targets": int(model.n_targets_),
            **{k: int(v) for k, v in dimensions.items()
               if k in ("n_basis", "basis_rank")},
        },
        "targets_1d": bool(model._y_1d),
        "clusters": clusters,
        "clusters_dtype": clusters_dtype,
        "params": params,
        "params_not_stored": params_not_stored,
        "fitted": fitted,
        "attributes_not_stored": attributes_not_stored,
        "feature_names": None
        if feature_names is None
        else [str(f) for f in feature_names],
        "arrays": array_entries,
    }
    if keep_rows and hasattr(model, "_seen_X"):
        for file_name, attribute in (("rows_X", "_seen_X"), ("rows_Y", "_seen_Y")):
            value = np.asarray(getattr(model, attribute))
            arrays[file_name] = np.ascontiguousarray(
                value, dtype=value.dtype.newbyteorder("<")
            )
            array_entries[file_name] = _array_entry(arrays[file_name])
        manifest["dimensions"]["n_rows"] = int(arrays["rows_X"].shape[0])
        neighbors = getattr(model, "_answer_neighbors", None)
        manifest["rows"] = {
            "per_cluster": np.diff(model._seen_starts).tolist(),
            "answer_neighbors": None if neighbors is None else neighbors.tolist(),
        }
    return manifest, arrays


def _write(path, manifest, arrays):
    path = check_writable(path)
    text = json.dumps(manifest, indent=1, allow_nan=False, ensure_ascii=False)
    with atomic_write(path, "wb") as file, zipfile.ZipFile(
        file, "w", compression=zipfile.ZIP_STORED
    ) as archive:
        archive.writestr(MANIFEST, text.encode("utf-8"))
        for file_name, array in arrays.items():
            with archive.open(f"{file_name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(
                    member, array, version=(1, 0), allow_pickle=False
                )


def save(model, path, *, keep_rows=True):
    """Write a fitted estimator to ``path`` in the package's model file format.

    The file is a ZIP archive of ``manifest.json`` and one ``.npy`` file per array,
    written atomically (a reader sees the old file or the new one). It holds what
    prediction needs, the constructor parameters that are JSON scalars, the fitted
    scalar diagnostics and, unless ``keep_rows=False``, the rows the model was
    fitted on, which ``partial_fit`` and ``add_clusters`` need to grow a loaded
    model; the manifest lists what it does not hold (``params_not_stored``,
    ``attributes_not_stored``). See ``docs/format.rst``.

    Parameters
    ----------
    model : estimator
        A fitted :class:`~sklearn_smoothbasis.SmoothingBasisRegressor`,
        :class:`~sklearn_smoothbasis.IndependentProjectionRegressor`,
        :class:`~sklearn_smoothbasis.SharedProjectionRegressor` or
        :class:`~sklearn_smoothbasis.MultiHeadRegressor`. A fitted
        :class:`~sklearn_smoothbasis.SmoothingBasisRegressorCV` is written as its
        ``best_estimator_``, the :class:`~sklearn_smoothbasis.SmoothingBasisRegressor`
        refitted at the chosen parameters, which :func:`load` returns; the search's
        results (``cv_results_``, the candidates) are not stored.
    path : str or path-like
        The file to write (by convention ending in ``.npz``); its folder must exist.
    keep_rows : bool, default=True
        Also store the rows seen in fit and ``partial_fit``
        (``n_samples_seen_ * (n_features_in_ + n_targets_)`` numbers). Without
        them the loaded model predicts and retrieves but cannot grow.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from sklearn_smoothbasis import MultiHeadRegressor
    >>> from sklearn_smoothbasis.io import load, save
    >>> X = [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]
    >>> Y = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    >>> model = MultiHeadRegressor().fit(X, Y, groups=["a", "a", "b"])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
    >>> save(model, path)
    >>> load(path).predict([[0.1, 1.0]], groups=["b"]).tolist()
    [[0.0, 1.0]]
    """
    manifest, arrays = _model_manifest_and_arrays(model, keep_rows)
    _write(path, manifest, arrays)


class _Reader:
    """Reads and checks one model file; every failure is a ValueError naming it."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = str(path)
        if not self.path.is_file():
            what = "is a folder" if self.path.is_dir() else "does not exist"
            raise ValueError(f"Model file {self.name!r} {what}.")
        try:
            self.archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(
                f"{self.name!r} is not a model file (not a readable ZIP archive: "
                f"{exc}); it may be truncated or corrupt."
            ) from None

    def close(self):
        self.archive.close()

    def fail(self, problem):
        raise ValueError(f"Model file {self.name!r}: {problem}")

    def read_member(self, member):
        try:
            return self.archive.read(member)
        except KeyError:
            self.fail(f"{member} is missing.")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            self.fail(
                f"{member} cannot be read ({exc}); the file is corrupt or truncated."
            )

    def manifest(self):
        text = self.read_member(MANIFEST)
        try:
            manifest = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.fail(f"{MANIFEST} is not valid JSON ({exc}).")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            self.fail(f"{MANIFEST} does not declare format {FORMAT_NAME!r}.")
        version = manifest.get("format_version")
        if version not in _FORMAT_VERSIONS or isinstance(version, bool):
            self.fail(
                f"format version {version!r}; this version of sklearn-smoothbasis "
                f"reads format versions {' and '.join(map(str, _FORMAT_VERSIONS))}."
            )
        for key, kind in [
            ("estimator", str), ("dimensions", dict), ("targets_1d", bool),
            ("clusters", list), ("clusters_dtype", str), ("params", dict),
            ("fitted", dict), ("arrays", dict),
        ]:
            if not isinstance(manifest.get(key), kind):
                self.fail(
                    f"field {key!r} of {MANIFEST} is missing or not a {kind.__name__}."
                )
        if manifest["estimator"] not in _ESTIMATORS:
            self.fail(
                f"unknown estimator {manifest['estimator']!r}; expected one of "
                f"{', '.join(_ESTIMATORS)}."
            )
        return manifest

    def array(self, file_name, declared, expected_shape):
        """The array ``file_name``, checked against its manifest entry and shape."""
        if not isinstance(declared, dict) or declared.get("dtype") not in _FLOAT_DTYPES:
            self.fail(
                f"array {file_name!r} must be declared with dtype '<f4' or '<f8' in "
                f"{MANIFEST}; got {declared!r}."
            )
        if declared.get("shape") != list(expected_shape):
            self.fail(
                f"array {file_name!r} is declared with shape {declared.get('shape')}; "
                "the "
                f"manifest's dimensions require {list(expected_shape)}."
            )
        data = self.read_member(f"{file_name}.npy")
        stream = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(stream)
            if version not in _HEADER_READERS:
                raise ValueError(f".npy format version {version} (1.0 or 2.0 expected)")
            shape, fortran_order, dtype = _HEADER_READERS[version](stream)
        except ValueError as exc:
            self.fail(f"{file_name}.npy is not a .npy array ({exc}).")
        if dtype.hasobject:
            self.fail(
                f"{file_name}.npy holds Python objects (a pickle); model files hold "
                "numbers only, and it is refused without being read."
            )
        if fortran_order:
            self.fail(
                f"{file_name}.npy is in Fortran order; arrays are stored in C order."
            )
        if dtype.str != declared["dtype"] or list(shape) != declared["shape"]:
            self.fail(
                f"{file_name}.npy has dtype {dtype.str} and shape {list(shape)}; "
                f"{MANIFEST} declares {declared['dtype']} and {declared['shape']}."
            )
        stream.seek(0)
        try:
            array = np.load(stream, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            self.fail(
                f"{file_name}.npy cannot be read ({exc}); it is truncated or corrupt."
            )
        if not np.isfinite(array).all():
            self.fail(f"array {file_name!r} holds NaN or infinite values.")
        return array


def _labels_from_json(values, dtype, what, fail):
    try:
        if dtype == "object":
            if not all(isinstance(v, str) for v in values):
                raise ValueError("object labels must be strings")
            labels = np.empty(len(values), dtype=object)
            labels[:] = values
            return labels
        labels = np.asarray(values, dtype=np.dtype(dtype))
    except (TypeError, ValueError) as exc:
        fail(f"{what} cannot be read with dtype {dtype!r} ({exc}).")
    if labels.ndim != 1 or labels.dtype.kind not in "biufU":
        fail(f"{what} must be a flat list of integers, floats or strings.")
    return labels


def _model_from_file(reader):
    manifest = reader.manifest()
    name = manifest["estimator"]
    dimensions = manifest["dimensions"]
    for key, size in dimensions.items():
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            reader.fail(f"dimension {key!r} must be a positive integer; got {size!r}.")
    clusters = _labels_from_json(
        manifest["clusters"], manifest["clusters_dtype"], "clusters", reader.fail
    )
    if len(clusters) != dimensions.get("n_clusters"):
        reader.fail(
            f"{len(clusters)} cluster labels but dimension n_clusters is "
            f"{dimensions.get('n_clusters')}."
        )
    if len(clusters) > 1 and not np.all(clusters[1:] > clusters[:-1]):
        reader.fail("cluster labels must be sorted and distinct.")
    specs = _ARRAYS[name]
    declared = manifest["arrays"]
    expected_members = {MANIFEST} | {f"{a}.npy" for a in declared}
    unexpected = sorted(set(reader.archive.namelist()) - expected_members)
    if unexpected:
        reader.fail(f"members not declared in {MANIFEST}: {', '.join(unexpected)}.")
    unknown = sorted(set(declared) - set(specs) - set(_ROW_ARRAYS) - {_ANSWER_ARRAY})
    if unknown:
        reader.fail(f"arrays unknown to {name}: {', '.join(unknown)}.")
    attributes = {}
    for file_name, (attribute, shape, optional) in specs.items():
        if file_name not in declared:
            if optional:
                attributes[attribute] = None
                continue
            reader.fail(f"array {file_name!r}, required by {name}, is missing.")
        missing = [d for d in shape if d not in dimensions]
        if missing:
            reader.fail(f"dimension {missing[0]!r} of array {file_name!r} is missing.")
        attributes[attribute] = reader.array(
            file_name, declared[file_name], [dimensions[d] for d in shape]
        )
    if name == "SmoothingBasisRegressor":
        _check_basis_form(reader, manifest, declared)
    cls = _ESTIMATORS[name]
    params = manifest["params"]
    unknown_params = sorted(set(params) - set(cls().get_params()))
    if unknown_params:
        reader.fail(f"parameters unknown to {name}: {', '.join(unknown_params)}.")
    model = cls(**params)
    if name == "SmoothingBasisRegressor" and "prior" in manifest.get(
        "params_not_stored", []
    ):
        # An array prior was used as given: the fitted prior is that array.
        model.prior = (
            None if attributes["prior_"] is None else attributes["prior_"].copy()
        )
    try:
        model._validate_params()
    except ValueError as exc:
        reader.fail(f"invalid parameters ({exc}).")
    for key, value in manifest["fitted"].items():
        if not (isinstance(key, str) and key.isidentifier() and key.endswith("_")
                and not key.startswith("_")):
            reader.fail(f"fitted attribute name {key!r} is not allowed.")
        setattr(model, key, value)
    model.clusters_ = clusters
    model.n_features_in_ = dimensions["n_features"]
    model.n_targets_ = dimensions["n_targets"]
    model._y_1d = manifest["targets_1d"]
    feature_names = manifest.get("feature_names")
    if feature_names is not None:
        if (
            not isinstance(feature_names, list)
            or len(feature_names) != model.n_features_in_
            or not all(isinstance(f, str) for f in feature_names)
        ):
            reader.fail("feature_names must be a list of n_features strings.")
        model.feature_names_in_ = np.asarray(feature_names, dtype=object)
    for attribute, value in attributes.items():
        setattr(model, attribute, value)
    _read_rows(reader, manifest, model)
    return model, manifest


def _check_basis_form(reader, manifest, declared):
    """A smoothing basis is stored dense (``basis``) or factored (``basis_left`` and
    ``basis_right``, format version 2, parameter ``basis_rank`` equal to the
    dimension), never both nor neither."""
    factored = [a for a in _FACTORED_ARRAYS if a in declared]
    if ("basis" in declared) == bool(factored) or len(factored) == 1:
        present = [a for a in ("basis", *_FACTORED_ARRAYS) if a in declared]
        reader.fail(
            "a SmoothingBasisRegressor file holds either the array 'basis' or both "
            f"'basis_left' and 'basis_right'; got {', '.join(present) or 'none'}."
        )
    rank = manifest["params"].get("basis_rank")
    if factored and manifest["format_version"] < 2:
        reader.fail("factored basis arrays need format version 2.")
    if factored and rank != manifest["dimensions"].get("basis_rank"):
        reader.fail(
            f"parameter basis_rank={rank!r} does not match the factored basis's "
            f"dimension basis_rank={manifest['dimensions'].get('basis_rank')!r}."
        )
    if not factored and rank is not None:
        reader.fail(f"parameter basis_rank={rank!r} but the basis is not factored.")


def _count_list(values, length, what, fail):
    """A JSON list of ``length`` non-negative integers, as an int64 array."""
    if not (isinstance(values, list) and len(values) == length and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)):
        fail(f"{what} must be a list of {length} non-negative integers.")
    return np.asarray(values, dtype=np.int64)


def _read_rows(reader, manifest, model):
    """The rows the model was fitted on (its growth state), when the file has them."""
    rows, declared = manifest.get("rows"), manifest["arrays"]
    if rows is None:
        if set(_ROW_ARRAYS) & set(declared):
            reader.fail(
                "arrays rows_X and rows_Y need the 'rows' section of the manifest."
            )
        return
    if not isinstance(rows, dict):
        reader.fail("field 'rows' of manifest.json must be an object.")
    n_clusters = len(model.clusters_)
    counts = _count_list(
        rows.get("per_cluster"), n_clusters, "rows.per_cluster", reader.fail
    )
    n_rows = manifest["dimensions"].get("n_rows")
    if n_rows != int(counts.sum()):
        reader.fail(
            f"rows.per_cluster adds up to {int(counts.sum())} rows but dimension "
            f"n_rows is {n_rows!r}."
        )
    seen = {}
    for file_name, shape in _ROW_ARRAYS.items():
        if file_name not in declared:
            reader.fail(
                f"array {file_name!r}, required by the 'rows' section, is missing."
            )
        seen[file_name] = reader.array(
            file_name, declared[file_name], [manifest["dimensions"][d] for d in shape]
        )
    if isinstance(model, SmoothingBasisRegressor):
        model._answer_neighbors = _count_list(
            rows.get("answer_neighbors"),
            n_clusters,
            "rows.answer_neighbors",
            reader.fail,
        )
    model._seen_X, model._seen_Y = seen["rows_X"], seen["rows_Y"]
    model._seen_starts = cluster_starts(counts)


def load(path):
    """Read a model written by :func:`save` (or a bundle's model).

    Every part of the file is checked before the model is built: the format name and
    version, the estimator, every array's presence, dtype and shape against the
    manifest and the model's dimensions, finite values, the cluster labels and the
    parameters. Arrays are read with ``allow_pickle=False``; an array of Python
    objects is refused from its header, before it is read.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    model : estimator
        The fitted estimator; ``predict`` and ``retrieve`` give what the saved
        model gave.

    Raises
    ------
    ValueError
        If the file is missing, not a ZIP archive, truncated, corrupt, of another
        format version, or inconsistent with its manifest; the message names the
        problem.
    """
    with closing(_Reader(path)) as reader:
        return _model_from_file(reader)[0]


@dataclass
class RetrievalBundle:
    """A fitted model with the answers it ranks: what a FAQ service loads.

    Parameters
    ----------
    model : estimator
        A fitted estimator of the package.
    answers : ndarray of shape (n_answers, n_targets)
        Answer embeddings, in the model's target space.
    labels : list of str or int, default=None
        Label of each answer (e.g. its cluster label).
    texts : list of str, default=None
        Text of each answer.
    encoder : str, default=None
        Name of the sentence encoder that embedded questions and answers (e.g.
        ``"all-MiniLM-L6-v2"``); queries must be embedded with the same one.
    min_similarity : float, default=None
        The threshold of :meth:`retrieve`: answers less similar than this to a
        query's prediction are not returned, and a query with none is declined
        (chosen with
        :func:`~sklearn_smoothbasis.model_selection.calibrate_min_similarity`).
        ``None`` always answers.

    Examples
    --------
    >>> from sklearn_smoothbasis import SharedProjectionRegressor
    >>> X = [[1.0, 0.0], [0.0, 1.0]]
    >>> bundle = RetrievalBundle(SharedProjectionRegressor(method="identity").fit(X, X),
    ...                          answers=X, labels=["east", "north"])
    >>> bundle.retrieve([[0.2, 0.9]], k=2).indices.tolist()
    [[1, 0]]
    >>> bundle.min_similarity = 0.9
    >>> bundle.retrieve([[0.2, 0.9], [1.0, 1.0]], k=2).indices.tolist()
    [[1, -1], [-1, -1]]
    """

    model: object
    answers: np.ndarray
    labels: list = None
    texts: list = None
    encoder: str = None
    min_similarity: float = None

    def __post_init__(self):
        check_is_fitted(self.model)
        self.answers = check_array(
            self.answers, dtype=[np.float64, np.float32], input_name="answers"
        )
        n_answers, width = self.answers.shape
        if width != self.model.n_targets_:
            raise ValueError(
                f"answers has {width} columns but the model predicts "
                f"{self.model.n_targets_} targets."
            )
        for field in ("labels", "texts"):
            value = getattr(self, field)
            if value is None:
                continue
            value = list(value.tolist() if isinstance(value, np.ndarray) else value)
            if len(value) != n_answers:
                raise ValueError(
                    f"{field} has {len(value)} entries but there are {n_answers} "
                    "answers."
                )
            setattr(self, field, value)
        if self.texts is not None and not all(isinstance(t, str) for t in self.texts):
            raise TypeError("texts must be strings.")
        if self.encoder is not None and not isinstance(self.encoder, str):
            raise TypeError(
                f"encoder must be a string; got {type(self.encoder).__name__}."
            )
        self.min_similarity = check_min_similarity(self.min_similarity)

    def retrieve(self, X, *, k=1, groups=None):
        """The ``k`` answers nearest each query's prediction, at least
        ``min_similarity`` similar: ``model.retrieve``."""
        return self.model.retrieve(
            X, self.answers, k=k, groups=groups,
            min_similarity=check_min_similarity(self.min_similarity),
        )


def save_bundle(bundle, path, *, keep_rows=True):
    """Write a :class:`RetrievalBundle` to ``path``: a model file with its answers.

    The model part is what :func:`save` writes (so :func:`load` reads the model of
    a bundle); the manifest gains an ``answers`` section (labels, texts, encoder,
    and the threshold ``min_similarity`` when the bundle has one) and the archive an
    ``answer_embeddings.npy`` array. See ``docs/format.rst``.

    Parameters
    ----------
    bundle : RetrievalBundle
        The model and its answers.
    path : str or path-like
        The file to write; its folder must exist.
    keep_rows : bool, default=True
        Also store the rows the model was fitted on, as :func:`save` does, so that
        the loaded bundle's model can grow (``add_clusters``, ``partial_fit``).
    """
    if not isinstance(bundle, RetrievalBundle):
        raise TypeError(
            f"save_bundle needs a RetrievalBundle; got {type(bundle).__name__}."
        )
    manifest, arrays = _model_manifest_and_arrays(bundle.model, keep_rows)
    answers = np.ascontiguousarray(
        bundle.answers, dtype=bundle.answers.dtype.newbyteorder("<")
    )
    labels, labels_dtype = (None, None)
    if bundle.labels is not None:
        labels, labels_dtype = _label_list(bundle.labels, "Answer labels")
    manifest["dimensions"]["n_answers"] = answers.shape[0]
    manifest["arrays"][_ANSWER_ARRAY] = _array_entry(answers)
    manifest["answers"] = {
        "labels": labels,
        "labels_dtype": labels_dtype,
        "texts": bundle.texts,
        "encoder": bundle.encoder,
    }
    threshold = check_min_similarity(bundle.min_similarity)
    if threshold is not None:  # absent means none: older readers ignore the field
        manifest["answers"]["min_similarity"] = threshold
    arrays[_ANSWER_ARRAY] = answers
    _write(path, manifest, arrays)


def load_bundle(path):
    """Read a bundle written by :func:`save_bundle`, checked as :func:`load` does.

    Parameters
    ----------
    path : str or path-like
        The bundle file.

    Returns
    -------
    bundle : RetrievalBundle

    Raises
    ------
    ValueError
        As :func:`load`, and if the file is a model file without answers.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from sklearn_smoothbasis import SharedProjectionRegressor
    >>> X = [[1.0, 0.0], [0.0, 1.0]]
    >>> model = SharedProjectionRegressor(method="identity").fit(X, X)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "faq.npz"
    >>> save_bundle(RetrievalBundle(model, X, texts=["East.", "North."]), path)
    >>> bundle = load_bundle(path)
    >>> bundle.texts[bundle.retrieve([[0.1, 0.8]]).indices[0, 0]]
    'North.'
    """
    with closing(_Reader(path)) as reader:
        model, manifest = _model_from_file(reader)
        section = manifest.get("answers")
        if not isinstance(section, dict) or _ANSWER_ARRAY not in manifest["arrays"]:
            reader.fail(
                "it is a model without answers, not a retrieval bundle (write one with "
                "save_bundle, or smoothbasis fit --out)."
            )
        n_answers = manifest["dimensions"].get("n_answers")
        if (
            not isinstance(n_answers, int)
            or isinstance(n_answers, bool)
            or n_answers < 1
        ):
            reader.fail(
                f"dimension 'n_answers' must be a positive integer; got {n_answers!r}."
            )
        answers = reader.array(
            _ANSWER_ARRAY,
            manifest["arrays"][_ANSWER_ARRAY],
            [n_answers, model.n_targets_],
        )
        labels = section.get("labels")
        if labels is not None:
            labels = _labels_from_json(
                labels, section.get("labels_dtype"), "answer labels", reader.fail
            ).tolist()
        texts, encoder = section.get("texts"), section.get("encoder")
        if texts is not None and not (
            isinstance(texts, list) and all(isinstance(t, str) for t in texts)
        ):
            reader.fail("answer texts must be a list of strings.")
        if encoder is not None and not isinstance(encoder, str):
            reader.fail("the encoder name must be a string.")
        threshold = section.get("min_similarity")  # absent in older bundles
        try:
            threshold = check_min_similarity(threshold, "answers.min_similarity")
        except (TypeError, ValueError) as exc:
            reader.fail(str(exc))
        try:
            return RetrievalBundle(model, answers, labels, texts, encoder, threshold)
        except (TypeError, ValueError) as exc:
            reader.fail(str(exc))
