"""Plots people look at: per-term pretraining loss curves and nnU-Net's progress.png for pretraining."""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator, ScalarFormatter

#: y-axis label per kind of logged value (the key's prefix), and what the kind means, for the figure's caption
KINDS = {"grad_": ("|gradient| on the encoder", "grad_*: gradient norm of each weighted term on the encoder, "
                                                 "measured at the first step of each epoch"),
         "weight_": ("term weight", "weight_label: alpha, the label term's weight, re-set each epoch so that "
                                    "alpha |grad L_label| = ratio x |grad L_id| (--label-grad-ratio; the 0.01 of "
                                    "--label-weight is only its start)")}


def _kind(term: str) -> str | None:
    return next((k for k in KINDS if term.startswith(k)), None)


def plot_loss_terms(term_log: dict, path: str, title: str = "") -> dict:
    """One panel per logged term: train and validation per epoch (log y where positive and spread out).

    Integer epoch ticks, a marker on every epoch, labelled axes, a note on panels with a single epoch so far,
    and a caption that explains the gradient-norm and weight panels. Returns what was drawn
    ({term: {split: values}}), so a test can check the plot against the data.
    """
    terms = sorted({k for split in term_log.values() for k in split})
    if not terms:
        return {}
    cols = min(4, len(terms))
    rows = math.ceil(len(terms) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows + 0.6), squeeze=False)
    drawn = {}
    for ax, term in zip(axes.ravel(), terms, strict=False):
        drawn[term] = {}
        for split, style in (("train", "-"), ("val", "--")):
            values = term_log.get(split, {}).get(term, [])
            if values:
                ax.plot(range(len(values)), values, style, marker="o", markersize=3, label=split)
                drawn[term][split] = list(values)
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("epoch")
        kind = _kind(term)
        ax.set_ylabel(KINDS[kind][0] if kind else ("loss" if term == "loss" else "value"), fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        values = [v for s in term_log.values() for v in s.get(term, [])]
        if values and all(v > 0 for v in values) and max(values) / min(values) > 20:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        else:
            plain = ScalarFormatter(useMathText=False)
            plain.set_scientific(False)
            ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        if max((len(v) for v in drawn[term].values()), default=0) == 1:
            ax.text(0.5, 0.5, "1 epoch so far", transform=ax.transAxes, ha="center", va="center", fontsize=8,
                    color="grey")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(terms):]:
        ax.axis("off")
    fig.suptitle(title)
    notes = [KINDS[k][1] for k in KINDS if any(t.startswith(k) for t in terms)]
    if notes:
        fig.text(0.01, 0.005, "\n".join(notes), fontsize=7, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.04 * len(notes), 1, 1))
    save_figure(fig, path, dpi=90, layout=False)
    return drawn


def plot_progress(logging: dict, path: str, title: str = "") -> dict:
    """nnU-Net's progress.png for a pretraining: total loss (train, validation), learning rate and epoch time.

    ``logging`` is nnU-Net's logger state (``train_losses``, ``val_losses``, ``lrs``, ``epoch_start_timestamps``,
    ``epoch_end_timestamps``). Returns what was drawn ({curve: values}).
    """
    n = min(len(logging.get("train_losses", [])), len(logging.get("epoch_end_timestamps", [])))
    if n == 0:
        return {}
    epochs = list(range(n))
    drawn = {"train loss": list(logging["train_losses"][:n]), "val loss": list(logging.get("val_losses", [])[:n]),
             "learning rate": list(logging.get("lrs", [])[:n]),
             "epoch time (s)": [e - s for s, e in zip(logging["epoch_start_timestamps"][:n],
                                                      logging["epoch_end_timestamps"][:n], strict=True)]}
    fig, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for name, style in (("train loss", "-"), ("val loss", "--")):
        if drawn[name]:
            axes[0].plot(epochs[:len(drawn[name])], drawn[name], style, marker="o", markersize=3, label=name)
    axes[0].set_ylabel("total loss")
    axes[0].legend(fontsize=8)
    axes[1].plot(epochs[:len(drawn["learning rate"])], drawn["learning rate"], marker="o", markersize=3)
    axes[1].set_ylabel("learning rate")
    axes[2].plot(epochs, drawn["epoch time (s)"], marker="o", markersize=3)
    axes[2].set_ylabel("epoch time (s)")
    axes[2].set_xlabel("epoch")
    axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    save_figure(fig, path, dpi=90)
    return drawn


def save_figure(fig, path: str, dpi: int = 100, layout: bool = True) -> None:
    """Lay out, write atomically (temp file + rename, so a reader never sees half a PNG) and close."""
    if layout:
        fig.tight_layout()
    tmp = path + ".partial.png"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)
