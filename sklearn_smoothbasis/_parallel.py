"""How fitting splits its work into chunks of clusters and runs them: the ``n_jobs``
policy of every estimator.

A chunk is a run of whole clusters (rows sorted by cluster, as in :mod:`._linalg`).
Chunks hold at most what fits in ``sklearn.get_config()["working_memory"]`` and are at
least as many as the jobs; they run in threads. A computation that splits its work
this way returns the same result for any ``n_jobs`` when each cluster's result
depends on that cluster alone, and up to the rounding of sums over chunks otherwise.
"""

import math
from contextlib import contextmanager

import numpy as np
from joblib import Parallel, effective_n_jobs
from sklearn.utils._chunking import get_chunk_n_rows
from threadpoolctl import threadpool_limits


def cluster_chunks(starts, row_bytes, n_jobs):
    """Cluster offsets of the chunks that fitting works on, one task each.

    The one policy of the package for ``n_jobs``: a chunk is a run of whole
    clusters; each holds at most the rows whose working arrays (``row_bytes`` per
    row) fit in ``sklearn.get_config()["working_memory"]``, and at most
    ``1 / effective_n_jobs(n_jobs)`` of the rows, so there are at least as many
    chunks as jobs (when there are as many clusters).

    Returns
    -------
    chunk_starts : ndarray
        ``0 = chunk_starts[0] < ... < chunk_starts[-1] = n_clusters``; chunk ``j``
        holds clusters ``chunk_starts[j]:chunk_starts[j+1]``.
    """
    n_rows = int(starts[-1])
    chunk_rows = get_chunk_n_rows(row_bytes, max_n_rows=n_rows)
    chunk_rows = max(1, min(chunk_rows, math.ceil(n_rows / effective_n_jobs(n_jobs))))
    marks = np.searchsorted(starts, np.arange(0, n_rows, chunk_rows), side="right") - 1
    return np.unique(np.concatenate((marks, [len(starts) - 1])))


def run_in_turn(tasks):
    """Run ``joblib.delayed`` tasks one after the other; their results in order."""
    return [function(*args, **kwargs) for function, args, kwargs in tasks]


@contextmanager
def parallel_chunks(n_jobs, n_chunks):
    """A function that runs ``joblib.delayed`` tasks and returns their results in order.

    With more than one job and one chunk: a ``joblib.Parallel`` of threads, because
    the work is BLAS and LAPACK calls that release the GIL and share the data
    without copies; BLAS is limited to one thread per job while they run, so
    ``n_jobs`` jobs use ``n_jobs`` cores. Otherwise the tasks run in turn and BLAS
    keeps its own threads.
    """
    if effective_n_jobs(n_jobs) == 1 or n_chunks < 2:
        yield run_in_turn
        return
    with Parallel(n_jobs=n_jobs, prefer="threads") as parallel, threadpool_limits(
        limits=1, user_api="blas"
    ):
        yield parallel
