"""Plots people look at: per-term pretraining loss curves."""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_loss_terms(term_log: dict, path: str, title: str = "") -> None:
    """One panel per loss term, train and validation curves per epoch (log y where positive)."""
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
                ax.plot(range(len(values)), values, style, label=split)
        ax.set_title(term)
        ax.set_xlabel("epoch")
        if all(v > 0 for s in term_log.values() for v in s.get(term, [])):
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(terms):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path + ".partial.png"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)
