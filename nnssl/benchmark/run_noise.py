"""How much one fine-tune's Dice varies between trainings of the same init on the same fold and labelled subset.

nnU-Net's training on the CPU is not repeatable run to run (augmentation and sampling draw from unseeded
generators), so a per-fold target ("Δ ≥ +0.03 on 4 of 5 folds") is met or missed partly by chance. The committed
reports hold several trainings of the scratch baseline on the same registered subsets (each protocol that did not
import scratch trained it again); an imported row repeats its source's value exactly, so equal values are counted
once. From those repeats: the pooled within-fold standard deviation of one training, and the chance that a
difference of two trainings (student minus teacher, each with that noise) reaches a per-fold threshold.
"""

import csv
import glob
import math
import os


def repeated_runs(bench: str, pattern: str, init: str = "scratch", n_train: int = 1,
                  label: str = "mean") -> dict[int, list[float]]:
    """{fold: [Dice of each distinct training]} of ``init`` at ``n_train`` labelled cases, over the reports
    ``bench/<pattern>/results.csv`` (values equal to 6 decimals are one training, imported elsewhere)."""
    runs: dict[int, set[float]] = {}
    for path in sorted(glob.glob(os.path.join(bench, pattern, "results.csv"))):
        with open(path) as f:
            for row in csv.DictReader(f):
                if row["init"] == init and row["label"] == label and int(row["n_train"]) == n_train:
                    runs.setdefault(int(row["fold"]), set()).add(round(float(row["dice"]), 6))
    return {fold: sorted(v) for fold, v in sorted(runs.items())}


def pooled_std(runs: dict[int, list[float]]) -> tuple[float, int]:
    """(pooled within-fold sample standard deviation, its degrees of freedom) of ``{fold: [values]}``.

    Raises:
        ValueError: if no fold has two values.
    """
    squares, dof = 0.0, 0
    for values in runs.values():
        if len(values) > 1:
            mean = sum(values) / len(values)
            squares += sum((v - mean) ** 2 for v in values)
            dof += len(values) - 1
    if dof == 0:
        raise ValueError("no fold has two trainings: nothing to estimate the run-to-run spread from")
    return math.sqrt(squares / dof), dof


def chance_per_fold(gain: float, threshold: float, std: float) -> float:
    """Chance that one fold's difference of two trainings (true difference ``gain``, each training with run
    spread ``std``, so the difference has spread std·√2) is at least ``threshold`` (normal model)."""
    z = (threshold - gain) / (std * math.sqrt(2))
    return 0.5 * math.erfc(z / math.sqrt(2))


def chance_of_target(gain: float, threshold: float, std: float, folds: int = 5, needed: int = 4) -> float:
    """Chance that at least ``needed`` of ``folds`` independent folds reach ``threshold``."""
    p = chance_per_fold(gain, threshold, std)
    return sum(math.comb(folds, k) * p ** k * (1 - p) ** (folds - k) for k in range(needed, folds + 1))
