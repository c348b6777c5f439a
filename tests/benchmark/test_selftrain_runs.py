"""Self-training inits of the benchmark: the spec, and the paired comparison with the teacher."""

import pytest

from nnssl.benchmark.selftrain_runs import parse_spec, versus_teacher


def test_spec_needs_an_earlier_teacher_and_a_threshold_in_range():
    assert parse_spec("st", "selftrain:scratch", ["scratch"]) == {"selftrain": "scratch", "threshold": 0.9}
    assert parse_spec("st", "selftrain:scratch:0.75", ["scratch"])["threshold"] == 0.75
    with pytest.raises(ValueError, match="the teacher 'pool' must be an init given before it"):
        parse_spec("st", "selftrain:pool", ["scratch"])
    with pytest.raises(ValueError, match="threshold 'x' is not a number"):
        parse_spec("st", "selftrain:scratch:x", ["scratch"])
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        parse_spec("st", "selftrain:scratch:2", ["scratch"])


def test_versus_teacher_pairs_by_fold_and_label_count():
    rows = [{"init": i, "fold": f, "n_train": 1, "label": "mean", "dice": d}
            for i, f, d in [("scratch", 0, 0.60), ("scratch", 1, 0.70), ("scratch", 2, 0.50),
                            ("st", 0, 0.66), ("st", 1, 0.69), ("st", 2, 0.58), ("st", 3, 0.99)]]  # fold 3: no teacher
    text = versus_teacher(rows, {"scratch": None, "st": {"selftrain": "scratch", "threshold": 0.9}})
    # differences +0.06, -0.01, +0.08: mean +0.043, sample std 0.047, 2 of 3 won
    assert "st vs its teacher scratch, 1 case: Δ +0.043 ± 0.047 (2/3 folds won)" in text
    assert versus_teacher(rows, {"scratch": None}) == ""
