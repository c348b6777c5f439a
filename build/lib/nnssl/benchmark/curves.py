"""Training curves of benchmark runs (nnU-Net's own epoch log) and whether each run had plateaued.

A comparison of inits only means something if the runs were trained to a plateau: a short budget
measures how fast a run gets going, not what the init learned. nnU-Net logs a pseudo Dice on
validation patches every epoch (``mean_fg_dice``; ``ema_fg_dice`` is its 0.9-EMA, which lags by
about ten epochs). The late gain compares the raw pseudo Dice of the last quarter of the epochs with
the quarter before; near zero means the run had levelled off. That is necessary, not sufficient:
nnU-Net's poly schedule takes the learning rate to zero at the end, which flattens every curve, so
the real test is a longer budget giving the same Dice. Runs shorter than 8 epochs are not judged.
"""

import csv
import textwrap
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from nnssl.benchmark.report import sample_std, write_csv
from nnssl.plotting import save_figure

CURVE_FIELDS = ("init", "fraction", "fold", "epoch", "pseudo_dice", "ema_pseudo_dice", "train_loss", "val_loss")


def read_curve(checkpoint: str) -> list[dict]:
    """Per-epoch rows {epoch, pseudo_dice, ema_pseudo_dice, train_loss, val_loss} of an nnU-Net checkpoint."""
    from nnssl.io import safe_load

    log = safe_load(checkpoint)["logging"]
    n = len(log["mean_fg_dice"])
    return [{"epoch": e, "pseudo_dice": float(log["mean_fg_dice"][e]), "ema_pseudo_dice": float(log["ema_fg_dice"][e]),
             "train_loss": float(log["train_losses"][e]), "val_loss": float(log["val_losses"][e])} for e in range(n)]


def late_gain(values) -> float:
    """mean(last quarter) - mean(quarter before) of a per-epoch series (needs >= 2 epochs).

    Raises:
        ValueError: for fewer than 2 values.
    """
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        raise ValueError(f"late_gain needs at least 2 epochs, got {v.size}")
    k = max(1, v.size // 4)
    return float(v[-k:].mean() - v[-2 * k:-k].mean())


def write_curves(rows: list[dict], path: str) -> None:
    """One row per init, fraction, fold and epoch."""
    write_csv(rows, path, CURVE_FIELDS)


def read_curves(path: str) -> list[dict]:
    """Rows written by :func:`write_curves`, with numbers parsed."""
    with open(path) as f:
        return [{**r, "fraction": float(r["fraction"]), "fold": int(r["fold"]), "epoch": int(r["epoch"]),
                 **{k: float(r[k]) for k in CURVE_FIELDS[4:]}} for r in csv.DictReader(f)]


def _by_run(rows: list[dict]) -> dict:
    runs = defaultdict(list)
    for r in sorted(rows, key=lambda r: r["epoch"]):
        runs[(r["init"], r["fraction"], r["fold"])].append(r["pseudo_dice"])
    return runs


def verdict(gains, epochs, threshold: float) -> str:
    """'yes' when every fold's late gain is below threshold, 'no' otherwise, 'too short' under 8 epochs."""
    if min(epochs) < 8:
        return "too short"
    return "yes" if (np.asarray(gains) < threshold).all() else "no"


def plateau_table(rows: list[dict], threshold: float = 0.02) -> str:
    """Markdown: per init and fraction, the final-quarter pseudo Dice and its late gain (mean ± sample std, folds).

    The last column is :func:`verdict`.
    """
    cells = defaultdict(list)
    for (init, fraction, _), series in _by_run(rows).items():
        k = max(1, len(series) // 4)
        gain = late_gain(series) if len(series) >= 2 else float("nan")  # a 1-epoch smoke run has no trend
        cells[(init, fraction)].append((float(np.mean(series[-k:])), gain, len(series)))
    out = ["| init | fraction | epochs | pseudo Dice, last quarter | late gain | "
           f"levelled off (all folds < {threshold}) |",
           "|---|---|---|---|---|---|"]
    for (init, fraction), v in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0] != "scratch", kv[0][0])):
        last, gain, n = (np.array([x[i] for x in v]) for i in range(3))
        out.append(f"| {init} | {fraction:g} % | {int(n.max())} | {last.mean():.3f} ± {sample_std(last):.3f} | "
                   f"{gain.mean():+.3f} ± {sample_std(gain):.3f} | {verdict(gain, n, threshold)} |")
    return "\n".join(out) + "\n"


def plot_curves(rows: list[dict], path: str, title: str = "") -> None:
    """Pseudo Dice per epoch (mean over folds), one panel per fraction, one line per init."""
    runs = _by_run(rows)
    fractions = sorted({f for _, f, _ in runs})
    fig, axes = plt.subplots(1, len(fractions), figsize=(4 * len(fractions), 3.5), squeeze=False, sharey=True)
    for ax, fraction in zip(axes[0], fractions, strict=True):
        for init in sorted({i for i, f, _ in runs if f == fraction}, key=lambda i: (not i.startswith("scratch"), i)):
            series = [s for (i, f, _), s in runs.items() if i == init and f == fraction]
            n = min(len(s) for s in series)
            mean = np.mean([s[:n] for s in series], axis=0)
            ax.plot(np.arange(1, n + 1), mean, label=f"{init} ({len(series)})",
                    linestyle="--" if init.startswith("scratch") else "-")
        ax.set_title(f"{fraction:.3g} % labels")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("pseudo Dice (nnU-Net, validation patches)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(textwrap.fill(title, 36 * len(fractions)), fontsize=10)  # a 1-panel figure is 4 in wide
    save_figure(fig, path)
