"""Sphinx configuration of the sklearn-smoothbasis documentation.

Build with ``python -m sphinx -b html . _build/html`` from this directory. The
gallery scripts in ``../examples`` are run during the build (``plot_gallery``);
pass ``-D plot_gallery=0`` to skip running them.
"""

import os
import sys
from datetime import date

# The package is normally installed (editable); fall back to the source tree.
sys.path.insert(0, os.path.abspath(".."))

import sklearn_smoothbasis

os.environ.setdefault("MPLBACKEND", "Agg")

# -- Project information -----------------------------------------------------

project = "sklearn-smoothbasis"
copyright = f"{date.today().year}, the sklearn-smoothbasis developers"
version = sklearn_smoothbasis.__version__
release = sklearn_smoothbasis.__version__

# -- General configuration ---------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
# Markdown pages (benchmarks.md, written by the scripts in ../benchmarks) are read by
# MyST; reStructuredText stays the format of the hand-written pages.
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# No intersphinx: the documentation is built without network access, so links to
# scikit-learn, NumPy and SciPy are written as plain text or left unresolved.

templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"

# autosummary writes one page per documented object into generated/, with the
# templates of _templates/ (class.rst includes the gallery backreferences).
autosummary_generate = True
autodoc_typehints = "none"

# numpydoc renders the Parameters/Attributes sections; the class template lists
# the methods itself, so numpydoc must not add a second members table.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# cli.rst includes the --help of each smoothbasis command, written here at every build
# (80 columns, as a terminal prints it) so that the page cannot drift from the parser.


def _write_command_help(folder):
    import argparse

    from sklearn_smoothbasis.__main__ import build_parser

    os.makedirs(folder, exist_ok=True)
    old_columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        parser = build_parser()
        commands = next(
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        )
        for name, command in commands.choices.items():
            with open(
                os.path.join(folder, f"cli_{name}.txt"), "w", encoding="utf-8"
            ) as f:
                f.write(command.format_help())
    finally:
        if old_columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old_columns


_write_command_help(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated")
)

# -- sphinx-gallery ----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("sklearn_smoothbasis",),
    # <object>.examples files included by _templates/class.rst and function.rst
    "backreferences_dir": os.path.join("generated"),
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "abort_on_example_error": True,
}

# -- HTML output -------------------------------------------------------------

html_theme = "alabaster"
html_theme_options = {
    "description": "Per-cluster linear maps over a shared smoothing basis",
    "fixed_sidebar": True,
}
html_static_path = []
html_show_sourcelink = True
htmlhelp_basename = "sklearn-smoothbasis-doc"
