"""What a pseudo-label threshold keeps and how right it is, measured where the truth is known.

In the benchmark the "unlabelled" images are training cases whose labels exist but are hidden from the student, so
the teacher's probabilities can be scored against them at every threshold without training a student: the share
of voxels that keep a label (the rest are ``ignore``), the share of the true foreground that keeps one, and the Dice
of the kept pseudo labels against the truth on the kept voxels. A threshold that keeps most voxels while the kept
labels are nearly all right is what the student needs (documentation/selftraining.md, "Threshold"); the students'
own Dice at other thresholds is the final word and costs one training per fold and threshold.
"""

import numpy as np


def count_case(probabilities: np.ndarray, reference: np.ndarray, thresholds: list[float],
               class_values: list[int] | None = None) -> dict[float, dict[str, np.ndarray | int]]:
    """Voxel counts of one case at each threshold, to be summed over cases by :func:`rates`.

    Shapes: probabilities (C, *S) over the classes in ``class_values`` order (default 0..C-1); reference (*S) the
    true labels. Returns {threshold: {"voxels", "kept", "true_fg", "true_fg_kept", "correct_kept" (ints), "tp",
    "pred", "true" (arrays over the foreground classes, counted on the kept voxels only)}}.

    Raises:
        ValueError: shapes that do not match, or ``class_values`` of the wrong length.
    """
    values = np.arange(probabilities.shape[0]) if class_values is None else np.asarray(class_values)
    if len(values) != probabilities.shape[0]:
        raise ValueError(f"{probabilities.shape[0]} probability channels but {len(values)} class values")
    if tuple(probabilities.shape[1:]) != tuple(reference.shape):
        raise ValueError(f"probabilities {probabilities.shape[1:]} and reference {reference.shape} differ in shape")
    top, label = probabilities.max(0), values[probabilities.argmax(0)]
    foreground = [v for v in values if v != 0]
    out = {}
    for t in thresholds:
        kept = top >= t
        out[t] = {"voxels": int(kept.size), "kept": int(kept.sum()), "true_fg": int((reference != 0).sum()),
                  "true_fg_kept": int((kept & (reference != 0)).sum()),
                  "correct_kept": int((kept & (label == reference)).sum()),
                  "tp": np.array([int((kept & (label == v) & (reference == v)).sum()) for v in foreground]),
                  "pred": np.array([int((kept & (label == v)).sum()) for v in foreground]),
                  "true": np.array([int((kept & (reference == v)).sum()) for v in foreground])}
    return out


def rates(cases: list[dict[float, dict]]) -> list[dict]:
    """One row per threshold from the summed counts of :func:`count_case`: kept (share of voxels with a label),
    kept_true_foreground (share of the true foreground with a label), accuracy_kept (share of kept voxels whose
    label is right), dice_kept (mean over foreground classes of the Dice on the kept voxels)."""
    rows = []
    for t in sorted(cases[0]):
        total = {k: sum(c[t][k] for c in cases) for k in cases[0][t]}
        dice = 2 * total["tp"] / np.maximum(total["pred"] + total["true"], 1)
        rows.append({"threshold": t, "kept": total["kept"] / total["voxels"],
                     "kept_true_foreground": total["true_fg_kept"] / max(total["true_fg"], 1),
                     "accuracy_kept": total["correct_kept"] / max(total["kept"], 1),
                     "dice_kept": float(dice.mean())})
    return rows
