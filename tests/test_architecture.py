"""The package's layering (docs/architecture.rst), read from the import statements.

Array modules hold the math: they take arrays and return arrays, and import only
each other (and third-party libraries), never an estimator module or a public module.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_smoothbasis"

ARRAY_MODULES = {
    "sklearn_smoothbasis._linalg",
    "sklearn_smoothbasis._line_search",
    "sklearn_smoothbasis._growing",
    "sklearn_smoothbasis._parallel",
    "sklearn_smoothbasis._ranking",
    "sklearn_smoothbasis._declining",
    "sklearn_smoothbasis._loss",
    "sklearn_smoothbasis._solvers",
    "sklearn_smoothbasis._sparse_coefficients",
    "sklearn_smoothbasis._init",
    "sklearn_smoothbasis._low_rank",
    "sklearn_smoothbasis._prior",
    "sklearn_smoothbasis._routing",
    "sklearn_smoothbasis._smoothness",
}
ESTIMATOR_MODULES = {
    "sklearn_smoothbasis._base",
    "sklearn_smoothbasis._baselines",
    "sklearn_smoothbasis._smoothing_basis",
    "sklearn_smoothbasis._smoothing_basis_cv",
}


def _module_path(module):
    """The file of a package module (``sklearn_smoothbasis.x`` -> ``x.py``)."""
    parts = module.split(".")[1:]
    path = PACKAGE.joinpath(*parts)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _is_public(module):
    """A module users import: no part of its dotted name starts with ``_``
    (the package itself, ``metrics``, ``datasets``, ``io``...)."""
    return not any(part.startswith("_") for part in module.split("."))


def package_imports(path, module):
    """The ``sklearn_smoothbasis`` modules a file imports, relative imports resolved.

    ``from . import x`` counts as importing ``package.x`` when that is a module, and
    the package itself otherwise (``x`` is then a name defined in its
    ``__init__``).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    own_package = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(
                a.name for a in node.names if a.name.split(".")[0] == PACKAGE.name
            )
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own_package[: len(own_package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE.name:
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _module_path(candidate).exists() else target)
    return found


def test_the_listed_modules_exist():
    for module in ARRAY_MODULES | ESTIMATOR_MODULES:
        assert _module_path(module).is_file(), module


@pytest.mark.parametrize("module", sorted(ARRAY_MODULES))
def test_array_modules_import_only_array_modules(module):
    imported = package_imports(_module_path(module), module)
    estimators = sorted(imported & ESTIMATOR_MODULES)
    public = sorted(m for m in imported if _is_public(m))
    others = sorted(imported - ARRAY_MODULES - set(estimators) - set(public))
    assert not estimators, f"{module} imports the estimator module(s) {estimators}"
    assert not public, f"{module} imports the public module(s) {public}"
    assert not others, f"{module} imports {others}, which are not array modules"


def test_the_check_sees_every_kind_of_import(tmp_path):
    """The reader resolves relative, absolute and package imports (so the test above
    cannot pass by not seeing them)."""
    source = (
        "import numpy as np\n"
        "import sklearn_smoothbasis.metrics\n"
        "from sklearn_smoothbasis import _baselines\n"
        "from .. import compare\n"
        "from .._base import _BaseClusterRegressor\n"
        "from . import __version__\n"
        "def f():\n"
        "    from ._linalg import unit_rows\n"
    )
    path = tmp_path / "example.py"
    path.write_text(source, encoding="utf-8")
    assert package_imports(path, "sklearn_smoothbasis.datasets.example") == {
        "sklearn_smoothbasis.metrics",
        "sklearn_smoothbasis._baselines",
        "sklearn_smoothbasis.compare",
        "sklearn_smoothbasis._base",
        "sklearn_smoothbasis.datasets",
        "sklearn_smoothbasis.datasets._linalg",
    }
