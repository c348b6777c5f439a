"""The benchmark report: per-fold per-class CSV, mean ± std markdown table, Dice-vs-fraction plot."""

import csv
import os
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

FIELDS = ("init", "fraction", "fold", "n_train", "label", "dice")


def write_csv(rows: list[dict], path: str, fields=FIELDS) -> None:
    """The ``fields`` of every row; by default one row per init, fraction, fold and class (label 'mean' is
    nnU-Net's foreground mean)."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in fields})


def read_csv(path: str) -> list[dict]:
    """Rows written by :func:`write_csv`, with numbers parsed."""
    with open(path) as f:
        return [{**r, "fraction": float(r["fraction"]), "fold": int(r["fold"]), "n_train": int(r["n_train"]),
                 "dice": float(r["dice"])} for r in csv.DictReader(f)]


def summarise(rows: list[dict], label: str = "mean") -> dict:
    """{init: {fraction: (mean, std, n_folds)}} over folds for one label."""
    values = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["label"] == label:
            values[r["init"]][r["fraction"]].append(r["dice"])
    return {i: {f: (float(np.mean(v)), float(np.std(v)), len(v)) for f, v in sorted(fr.items())}
            for i, fr in values.items()}


def paired_differences(rows: list[dict], init: str, fraction: float, label: str = "mean") -> list[float]:
    """Dice of ``init`` minus Dice of scratch, fold by fold (folds where both exist)."""
    dice = {(r["init"], r["fold"]): r["dice"] for r in rows if r["label"] == label and r["fraction"] == fraction}
    return [d - dice[("scratch", fold)] for (i, fold), d in sorted(dice.items())
            if i == init and ("scratch", fold) in dice]


def markdown_table(rows: list[dict], labels: list[str]) -> str:
    """Mean ± std over folds per fraction and init, with the paired difference to scratch, per label."""
    out = []
    for label in labels:
        s = summarise(rows, label)
        fractions = sorted({f for fr in s.values() for f in fr})
        out.append(f"\n**Dice, label {label}** (mean ± std over folds; Δ = minus scratch on the same fold, "
                   f"mean ± std; k/n = folds where the init beat scratch)\n")
        out.append("| init | " + " | ".join(f"{f:g} %" for f in fractions) + " |")
        out.append("|---|" + "---|" * len(fractions))
        for init in sorted(s, key=lambda i: (i != "scratch", i)):
            cells = []
            for f in fractions:
                if f not in s[init]:
                    cells.append("n/a")
                    continue
                m, sd, _ = s[init][f]
                cell = f"{m:.3f} ± {sd:.3f}"
                diffs = paired_differences(rows, init, f, label) if init != "scratch" else []
                if diffs:
                    cell += (f" (Δ {np.mean(diffs):+.3f} ± {np.std(diffs):.3f}, "
                             f"{sum(d > 0 for d in diffs)}/{len(diffs)})")
                cells.append(cell)
            out.append(f"| {init} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def plot_dice_vs_fraction(rows: list[dict], path: str, label: str = "mean", title: str = "") -> None:
    """One line per init: mean Dice over folds vs label fraction (log x), error bars = std."""
    s = summarise(rows, label)
    fig, ax = plt.subplots(figsize=(6, 4))
    for init in sorted(s, key=lambda i: (i != "scratch", i)):
        fr = sorted(s[init])
        ax.errorbar(fr, [s[init][f][0] for f in fr], yerr=[s[init][f][1] for f in fr], marker="o", capsize=3,
                    label=init, linestyle="--" if init == "scratch" else "-")
    ax.set_xscale("log")
    ax.set_xticks(sorted({f for v in s.values() for f in v}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("labelled training cases (% of the fold)")
    ax.set_ylabel(f"Dice ({label})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
