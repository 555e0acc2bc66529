"""numpydoc validation of the public API (the checks scikit-learn's own test "
"enforces)."""

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

import sklearn_smoothbasis  # noqa: E402
from sklearn_smoothbasis import compare, datasets, io, metrics, model_selection  # noqa: E402

ESTIMATORS = [
    name for name in sklearn_smoothbasis.__all__ if name.endswith("Regressor")
]
PUBLIC = (
    [f"sklearn_smoothbasis.{name}" for name in sklearn_smoothbasis.__all__]
    + [
        f"sklearn_smoothbasis.{name}.{method}"
        for name in ESTIMATORS
        for method in ("fit", "predict", "retrieve", "score")
    ]
    + [
        f"{module.__name__}.{name}"
        for module in (compare, datasets, io, model_selection)
        for name in module.__all__
        if callable(getattr(module, name))
    ]
    + [
        f"{metrics.__name__}.{name}"
        for name in metrics.__all__
        if callable(getattr(metrics, name)) and not name.endswith("_scorer")
    ]
)
# Checks we do not enforce: See Also / Examples / extended summary everywhere, and
# style points numpydoc flags on inherited or short docstrings.
IGNORED = {
    "GL01",
    "GL02",
    "GL08",
    "SA01",
    "SA04",
    "EX01",
    "ES01",
    "RT02",
    "RT03",
    "RT05",
    "PR02",
    "PR08",
    "PR09",
    "SS03",
    "SS05",
    "SS06",
    "YD01",
}


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring(name):
    errors = [
        f"{code}: {msg}"
        for code, msg in numpydoc_validate.validate(name)["errors"]
        if code not in IGNORED
    ]
    assert not errors, "\n".join(errors)
