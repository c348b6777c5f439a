"""Plots people look at: per-term pretraining loss curves."""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator, ScalarFormatter


def plot_loss_terms(term_log: dict, path: str, title: str = "") -> None:
    """One panel per loss term, train and validation curves per epoch (log y where positive).

    Integer epoch ticks, a marker on every epoch, plain-number tick labels, one figure title.
    """
    terms = sorted({k for split in term_log.values() for k in split})
    if not terms:
        return
    cols = min(4, len(terms))
    rows = math.ceil(len(terms) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, term in zip(axes.ravel(), terms, strict=False):
        for split, style in (("train", "-"), ("val", "--")):
            values = term_log.get(split, {}).get(term, [])
            if values:
                ax.plot(range(len(values)), values, style, marker="o", markersize=3, label=split)
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        values = [v for s in term_log.values() for v in s.get(term, [])]
        if values and all(v > 0 for v in values) and max(values) / min(values) > 20:
            ax.set_yscale("log")
        plain = ScalarFormatter(useMathText=False)
        plain.set_scientific(False)
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(terms):]:
        ax.axis("off")
    fig.suptitle(title)
    save_figure(fig, path, dpi=90)


def save_figure(fig, path: str, dpi: int = 100) -> None:
    """Lay out, write atomically (temp file + rename, so a reader never sees half a PNG) and close."""
    fig.tight_layout()
    tmp = path + ".partial.png"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)
