"""Run-to-run spread from repeated trainings in reports, and the chance of a per-fold target."""

import csv
import math

import pytest

from nnssl.benchmark.run_noise import chance_of_target, chance_per_fold, pooled_std, repeated_runs


def _report(folder, rows):
    folder.mkdir(parents=True)
    with open(folder / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["init", "fraction", "fold", "n_train", "label", "dice"])
        w.writeheader()
        for init, fold, n, label, dice in rows:
            w.writerow({"init": init, "fraction": 1.25, "fold": fold, "n_train": n, "label": label, "dice": dice})


def test_an_imported_row_is_one_training_and_other_rows_are_left_out(tmp_path):
    _report(tmp_path / "a_1500it", [("scratch", 0, 1, "mean", 0.60), ("scratch", 0, 1, "1", 0.9),
                                    ("scratch", 0, 2, "mean", 0.7), ("mixcl", 0, 1, "mean", 0.8)])
    _report(tmp_path / "b_1500it", [("scratch", 0, 1, "mean", 0.60), ("scratch", 1, 1, "mean", 0.5)])  # imported
    _report(tmp_path / "c_1500it", [("scratch", 0, 1, "mean", 0.64)])
    _report(tmp_path / "d_3000it", [("scratch", 0, 1, "mean", 0.99)])  # another budget: not matched
    assert repeated_runs(str(tmp_path), "*_1500it") == {0: [0.60, 0.64], 1: [0.5]}


def test_pooled_std_is_the_within_fold_sample_std():
    std, dof = pooled_std({0: [0.60, 0.64], 1: [0.5], 2: [0.1, 0.2, 0.3]})
    # squares: 2 * 0.02^2 + (0.1^2 + 0 + 0.1^2) over 1 + 2 degrees of freedom
    assert dof == 3 and std == pytest.approx(math.sqrt((0.0008 + 0.02) / 3))
    assert pooled_std({0: [0.5, 0.7]})[0] == pytest.approx(0.1 * math.sqrt(2))  # two values: |a - b| / √2
    with pytest.raises(ValueError, match="no fold has two trainings"):
        pooled_std({0: [0.5]})


def test_chance_of_a_per_fold_target():
    assert chance_per_fold(0.03, 0.03, 0.01) == pytest.approx(0.5)  # a true gain at the threshold: a coin toss
    assert chance_of_target(0.03, 0.03, 0.01) == pytest.approx(6 / 32)  # >= 4 of 5 coin tosses
    # one spread of the difference (std * √2) above the threshold: the normal's 84 %
    assert chance_per_fold(0.03 + 0.01 * math.sqrt(2), 0.03, 0.01) == pytest.approx(0.8413, abs=1e-4)
    gains = [0.0, 0.02, 0.03, 0.04, 0.06]
    chances = [chance_of_target(g, 0.03, 0.01) for g in gains]
    assert chances == sorted(chances) and chances[0] < 1e-3 and chances[-1] > 0.99
