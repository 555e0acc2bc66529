"""Shared by the benchmark scripts: machine description and writing result sections."""

import datetime
import os
import platform
import re
from pathlib import Path

import numpy as np
import scipy
import sklearn

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# The one page every benchmark writes its section into (MyST Markdown, built by Sphinx).
BENCHMARKS_PAGE = REPO / "docs" / "benchmarks.md"


def machine():
    """One line: date, CPU count, Python and library versions, BLAS."""
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            sorted(
                {
                    f"{i['internal_api']} {i['version']}"
                    for i in threadpool_info()
                    if i["user_api"] == "blas"
                }
            )
        )
    except ImportError:
        blas = "unknown BLAS"
    return (
        f"{datetime.date.today().isoformat()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}, scikit-learn "
        f"{sklearn.__version__}, "
        f"{blas}"
    )


def write_section(path, name, text, *, target=True):
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``.

    A section that is not in the file yet is appended at its end. With ``target`` the
    block starts with the MyST target ``(bench-name)=``, so the documentation links to
    the section's heading with ``:ref:`bench-name```; ``text`` must then start with a
    heading one level below the part of the page it belongs to (``###`` on
    ``BENCHMARKS_PAGE``). ``target=False`` is for files Sphinx does not read (README).
    """
    path = Path(path)
    label = f"(bench-{name})=\n" if target else ""
    block = f"<!-- {name}:start -->\n{label}{text.rstrip()}\n<!-- {name}:end -->"
    content = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.S)
    if pattern.search(content):
        content = pattern.sub(lambda _: block, content)
    else:
        content = content.rstrip() + "\n\n" + block + "\n"
    path.write_text(content)
