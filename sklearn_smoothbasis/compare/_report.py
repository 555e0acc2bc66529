"""How the comparison is shown: a text or Markdown table, and a bar chart."""

import numpy as np

from .._files import atomic_write_path
from ._methods import METHOD_NAMES


def _method_name(method):
    """The display name of a method key of :func:`search_spaces` (other keys as given)."""
    return METHOD_NAMES.get(method, method)


def import_pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend, or a clear ImportError.

    Commands call it before their work, so that a missing matplotlib is found
    before a comparison runs, not after.

    Returns
    -------
    module
        ``matplotlib.pyplot``.

    Raises
    ------
    ImportError
        If matplotlib is not installed; the message says how to install it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            'Plotting needs matplotlib: pip install "sklearn-smoothbasis[plot]"'
        ) from exc
    return plt


def _format_params(params):
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(params.items())) or "-"


def format_table(rows, *, markdown=False):
    """The comparison as a text (or Markdown) table, best Recall@1 first.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`compare_retrieval`; methods are shown by their
        names in :data:`METHOD_NAMES`.
    markdown : bool, default=False
        Markdown instead of aligned plain text.

    Returns
    -------
    table : str
        One line per method.
    """
    header = ["method", "best parameters", "Recall@1", "MRR", "mean cos", "fit s"]
    body = [
        [_method_name(r["method"]), _format_params(r["params"]), f"{r['recall_at_1']:.3f}",
         f"{r['mrr']:.3f}", f"{r['mean_cosine']:.3f}", f"{r['fit_seconds']:.2f}"]
        for r in sorted(rows, key=lambda r: -r["recall_at_1"])
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), fmt.format(*["-" * w for w in widths])]
                     + [fmt.format(*row) for row in body])


def plot_table(rows, path):
    """Bar chart of Recall@1 and MRR per method, saved to ``path`` (needs matplotlib).

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`compare_retrieval`.
    path : str or path-like
        Where the PNG is written.
    """
    plt = import_pyplot()
    rows = sorted(rows, key=lambda r: r["recall_at_1"])
    names = [_method_name(r["method"]) for r in rows]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.2))
    ax.barh(y - 0.2, [r["recall_at_1"] for r in rows], height=0.4, label="Recall@1")
    ax.barh(y + 0.2, [r["mrr"] for r in rows], height=0.4, label="MRR")
    ax.set_yticks(y, names)
    ax.set_xlim(0, 1)
    ax.set_xlabel("held-out questions, routed")
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_write_path(path) as temporary:
        fig.savefig(temporary, dpi=120)
    plt.close(fig)
