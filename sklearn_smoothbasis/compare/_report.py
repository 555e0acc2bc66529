"""How the comparison is shown: a text or Markdown table, and a bar chart."""

import numpy as np

from .._files import atomic_write_path
from ._methods import METHOD_NAMES


def _method_name(method):
    """The display name of a method key of :func:`search_spaces` (others as given)."""
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
        [_method_name(r["method"]), _format_params(r["params"]),
         f"{r['recall_at_1']:.3f}", f"{r['mrr']:.3f}", f"{r['mean_cosine']:.3f}",
         f"{r['fit_seconds']:.2f}"]
        for r in sorted(rows, key=lambda r: -r["recall_at_1"])
    ]
    return _markdown(header, body) if markdown else _aligned(header, body, 2)


def _aligned(header, body, n_left):
    """Plain-text table: the first ``n_left`` columns left-aligned, the rest right."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    fmt = "  ".join(f"{{:<{w}}}" if i < n_left else f"{{:>{w}}}"
                    for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), fmt.format(*["-" * w for w in widths])]
                     + [fmt.format(*row) for row in body])


def _markdown(header, body):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def format_declining_table(rows, *, markdown=False):
    """Declining, per method and threshold: a text (or Markdown) table.

    One line per method and threshold (``train``: chosen on the training questions
    alone; ``oos val``: chosen with the out-of-scope validation queries), best
    in-scope Recall@1 with declining first within each threshold. Columns: the
    threshold (``min sim``), in-scope Recall@1 without and with declining, the
    fraction of in-scope questions declined, the out-of-scope recall (fraction of
    out-of-scope queries declined) and the AUROC of the confidence, in-scope
    against out-of-scope ("-" where there are no out-of-scope queries).

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`compare_retrieval` with declining (rows without a
        ``declining`` entry are skipped).
    markdown : bool, default=False
        Markdown instead of aligned plain text.

    Returns
    -------
    table : str
    """
    header = ["method", "threshold from", "min sim", "Recall@1", "Recall@1 declining",
              "in-scope declined", "oos recall", "AUROC"]
    body = []
    for key, name in (("train", "training questions"), ("oos_val", "+ oos val")):
        scored = [r for r in rows if key in r.get("declining", {})]
        for r in sorted(scored, key=lambda r: -r["declining"][key]["recall_at_1"]):
            d, t = r["declining"], r["declining"][key]
            body.append([
                _method_name(r["method"]), name, f"{t['min_similarity']:.3f}",
                f"{r['recall_at_1']:.3f}", f"{t['recall_at_1']:.3f}",
                f"{t['in_scope_declined']:.3f}",
                "-" if t["oos_declined"] is None else f"{t['oos_declined']:.3f}",
                "-" if d["auroc"] is None else f"{d['auroc']:.3f}",
            ])
    return _markdown(header, body) if markdown else _aligned(header, body, 2)


def _axis_start(values):
    """The left end of the bar chart's axis: a multiple of 0.05 at least 0.05 below the
    smallest value, so that the differences between methods fill the plot."""
    return max(0.0, np.floor(20 * (min(values) - 0.05)) / 20)


def bar_chart(rows):
    """Recall@1 and MRR of each method as labelled horizontal bars, best at the top.

    The axis starts near the smallest value shown (its label says where), each bar
    carries its value, and the legend sits above the plot, clear of the bars.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`compare_retrieval`.

    Returns
    -------
    figure : matplotlib.figure.Figure
        The chart; close it with ``matplotlib.pyplot.close`` when done.
    """
    plt = import_pyplot()
    rows = sorted(rows, key=lambda r: r["recall_at_1"])
    y = np.arange(len(rows))
    scores = {"Recall@1": [r["recall_at_1"] for r in rows],
              "MRR": [r["mrr"] for r in rows]}
    values = scores["Recall@1"] + scores["MRR"]
    start = _axis_start(values)
    figure, ax = plt.subplots(figsize=(7.5, 0.75 * len(rows) + 1.5))
    for offset, (label, score) in zip([0.2, -0.2], scores.items()):
        bars = ax.barh(y + offset, score, height=0.4, label=label)
        ax.bar_label(bars, fmt="%.3f", padding=3, fontsize=8)
    ax.set_yticks(y, [_method_name(r["method"]) for r in rows])
    # Room on the right for the value labels of the longest bars.
    ax.set_xlim(start, max(values) + 0.15 * (max(values) - start))
    ax.set_xlabel(f"held-out questions, routed (axis starts at {start:.2f}, not 0)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    figure.tight_layout()
    return figure


def plot_table(rows, path):
    """Draw :func:`bar_chart` of the comparison and save it to ``path`` (PNG).

    The file is written atomically: an interrupted or failed save leaves a previous
    file at ``path`` as it was.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`compare_retrieval`.
    path : str or path-like
        Where the PNG is written.
    """
    plt = import_pyplot()
    figure = bar_chart(rows)
    try:
        with atomic_write_path(path) as temporary:
            figure.savefig(temporary, dpi=120)
    finally:
        plt.close(figure)
