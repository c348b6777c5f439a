"""The threshold sweep's counts (nnssl/selftrain/sweep.py) on constructed teachers whose errors are known."""

import numpy as np
import pytest

from nnssl.selftrain.sweep import count_case, rates


def teacher(confident_wrong: bool):
    """A 1x10 image, classes 0/1/2 (values 0, 1, 2). The truth: 4 background, 3 of class 1, 3 of class 2. The
    teacher is right with probability 0.95 everywhere except two voxels it gets wrong, with probability 0.6, or
    0.97 when ``confident_wrong``."""
    truth = np.array([[0, 0, 0, 0, 1, 1, 1, 2, 2, 2]])
    guess = truth.copy()
    guess[0, 3], guess[0, 6] = 1, 2  # a background voxel called 1, a class-1 voxel called 2
    top = np.full(truth.shape, 0.95)
    top[0, 3] = top[0, 6] = 0.97 if confident_wrong else 0.6
    probs = np.zeros((3, *truth.shape))
    for c in range(3):
        probs[c] = np.where(guess == c, top, (1 - top) / 2)
    return probs, truth


def test_unsure_errors_are_dropped_by_a_threshold_above_their_confidence():
    probs, truth = teacher(confident_wrong=False)
    low, high = rates([count_case(probs, truth, [0.5, 0.9])])
    assert low["kept"] == 1.0 and low["accuracy_kept"] == pytest.approx(0.8)
    # Dice of class 1: tp 2, pred 3 (4, 5 and the wrong 3), true 3 -> 4/6; class 2: tp 3, pred 4, true 3 -> 6/7
    assert low["dice_kept"] == pytest.approx((4 / 6 + 6 / 7) / 2)
    assert high["kept"] == pytest.approx(0.8) and high["accuracy_kept"] == 1.0 and high["dice_kept"] == 1.0
    assert high["kept_true_foreground"] == pytest.approx(5 / 6)  # the class-1 voxel called 2 is dropped


def test_confident_errors_survive_every_threshold_below_their_confidence():
    probs, truth = teacher(confident_wrong=True)
    for row in rates([count_case(probs, truth, [0.5, 0.9, 0.96])]):
        assert row["accuracy_kept"] < 1.0 and row["kept"] >= 0.2
    assert rates([count_case(probs, truth, [0.98])])[0]["kept"] == pytest.approx(0.0)


def test_counts_sum_over_cases_and_class_values_map_channels():
    probs, truth = teacher(confident_wrong=False)
    one = rates([count_case(probs, truth, [0.5])])[0]
    two = rates([count_case(probs, truth, [0.5]), count_case(probs, truth, [0.5])])[0]
    assert one == two  # the same case twice: the same rates
    shifted = rates([count_case(probs, truth * 2, [0.5], class_values=[0, 2, 4])])[0]
    assert shifted == one
    with pytest.raises(ValueError, match="3 probability channels but 2 class values"):
        count_case(probs, truth, [0.5], class_values=[0, 1])
    with pytest.raises(ValueError, match="differ in shape"):
        count_case(probs, truth[:, :5], [0.5])
