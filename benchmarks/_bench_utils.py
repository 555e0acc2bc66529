"""Helpers shared by the performance benchmarks (timing, planted data, report sections).

Not part of the package. Every number a benchmark writes comes from the run that
writes it; these helpers only time, format and write.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sklearn_smoothbasis.datasets import load_embedded_clusters, load_faq_demo

from _report import BENCHMARKS_PAGE, REPO, machine, write_section

DEFAULT_OUTPUT = BENCHMARKS_PAGE


def _package_state():
    """Commit of the working tree, and whether the package has uncommitted changes.

    Taken when a benchmark starts (the package is imported then): the numbers of a run
    belong to the code it imported, which may not be the code when it finishes.
    """
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                              text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "sklearn_smoothbasis")
    except (OSError, subprocess.CalledProcessError):
        return "package version unknown (no git)"
    return f"package at commit {head}" + (" + uncommitted changes" if dirty else "")


PACKAGE_STATE = _package_state()
# A new output file (for example of a --quick run) gets the page's title and the part
# the performance sections belong to, so that their ### headings nest as on the page.
_HEADER = """# Benchmarks

## Speed and memory
"""


def parser(description):
    """The options every benchmark has: ``--quick`` and ``--output``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="small sizes / fewer repeats (for checking the script works)")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help=f"markdown file of the tables (default {DEFAULT_OUTPUT})")
    return p


def load_dataset(name, data_root):
    """The bundled demo (``"faq_demo"``) or the data set ``data_root / name``."""
    if name == "faq_demo":
        return load_faq_demo()
    return load_embedded_clusters(Path(data_root) / name)


def load_average():
    """The 1-minute load average, as a string."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # pragma: no cover - not on every platform
        return "unknown"


def blas_threads():
    """``"openblas x threads"`` for every BLAS loaded in this process."""
    from threadpoolctl import threadpool_info

    return ", ".join(f"{i['internal_api']} {i['num_threads']} thread(s)"
                     for i in threadpool_info() if i["user_api"] == "blas")


def timed(fn, *args, **kwargs):
    """``(seconds, result)`` of one call."""
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, result


def cpu_timed(fn, *args, **kwargs):
    """``(CPU seconds of this process, result)`` of one call.

    With one BLAS thread this is the wall time of an idle machine, and it barely
    moves with the load of a shared one: the timings that are compared side by side
    use it.
    """
    t0 = time.process_time()
    result = fn(*args, **kwargs)
    return time.process_time() - t0, result


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(headers, rows):
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(headers))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


def report(output, name, title, table, *, quick, command, load_start, notes=""):
    """Write one section of the benchmark document and say where it went."""
    output = Path(output)
    if not output.exists():
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(_HEADER)
    mode = " (quick run: `--quick`, reduced sizes)" if quick else ""
    text = (
        f"### {title}{mode}\n\n"
        f"`{command}` -- {PACKAGE_STATE}; {machine()}; BLAS threads: {blas_threads()}; "
        f"load average {load_start} at start, {load_average()} at end.\n\n{table}\n"
    )
    if notes:
        text += f"\n{notes.strip()}\n"
    write_section(output, name, text)
    print(f"\nwrote section '{name}' of {output}")


def command_line():
    args = [
        os.path.relpath(a, REPO) if a.startswith(str(REPO)) else a for a in sys.argv[1:]
    ]
    return "python benchmarks/" + " ".join([Path(sys.argv[0]).name, *args])


def planted_rows(n_clusters, rows_per_cluster, n_features, n_basis, *, dtype=np.float32,
                 noise=0.1, random_state=0, chunk_rows=2048):
    """Planted clusters built in ``dtype``, never forming the N per-cluster maps.

    The same model as ``make_multicluster_regression`` (orthogonal basis matrices,
    standard normal coefficients and inputs, Gaussian noise, ``p = d``), but Y is
    computed chunk by chunk as ``sum_k C[g, k] (X G_k)``: memory is the data plus one
    ``chunk_rows x K d`` block, so N = 10,000 clusters at d = 384 fit in a few hundred
    MB.

    Returns X, Y, groups (rows sorted by cluster), basis (K, d, d), coefficients (N, K).
    """
    rng = np.random.default_rng(random_state)
    d, K = n_features, n_basis
    if isinstance(rows_per_cluster, tuple):
        counts = rng.integers(
            rows_per_cluster[0], rows_per_cluster[1] + 1, size=n_clusters
        )
    else:
        counts = np.full(n_clusters, rows_per_cluster)
    basis = np.stack([np.linalg.qr(rng.standard_normal((d, d)))[0] for _ in range(K)])
    basis = basis.astype(dtype)
    coef = rng.standard_normal((n_clusters, K)).astype(dtype)
    groups = np.repeat(np.arange(n_clusters), counts)
    n = groups.size
    X = rng.standard_normal((n, d), dtype=np.float64).astype(dtype)
    Y = np.empty((n, d), dtype=dtype)
    basis_mat = np.ascontiguousarray(basis.transpose(1, 0, 2)).reshape(d, K * d)
    for r0 in range(0, n, chunk_rows):
        rows = slice(r0, min(n, r0 + chunk_rows))
        Z = (X[rows] @ basis_mat).reshape(-1, K, d)
        Y[rows] = np.einsum("rk,rkp->rp", coef[groups[rows]], Z)
        Y[rows] += (noise * rng.standard_normal((Z.shape[0], d))).astype(dtype)
    return X, Y, groups, basis, coef


def faq_rows(n_clusters, rows_per_cluster, n_features, *, dtype=np.float32, noise=3.0,
             distortion=1.0, random_state=0):
    """FAQ-like synthetic clusters: one answer per cluster, questions scattered
    around a distorted copy of it.

    Answers are random unit vectors; each question is its answer times a fixed map
    ``I + distortion * G / sqrt(d)`` (``G`` standard normal, the same for all
    clusters: the shared difference between question and answer embeddings that a
    prior learns) plus Gaussian noise of norm about ``noise``, scaled to unit norm.
    Rows are sorted by cluster. Returns X, Y (each row its cluster's answer), groups.
    """
    rng = np.random.default_rng(random_state)
    d = n_features
    answers = rng.standard_normal((n_clusters, d))
    answers /= np.linalg.norm(answers, axis=1, keepdims=True)
    shared = np.eye(d) + distortion * rng.standard_normal((d, d)) / np.sqrt(d)
    groups = np.repeat(np.arange(n_clusters), rows_per_cluster)
    X = answers[groups] @ shared
    X += noise * rng.standard_normal(X.shape) / np.sqrt(d)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(dtype), answers[groups].astype(dtype), groups
