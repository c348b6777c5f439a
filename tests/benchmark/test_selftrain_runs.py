"""Self-training inits of the benchmark: the spec, and the paired comparison with the teacher."""

import pytest

from nnssl.benchmark.selftrain_runs import parse_spec, versus_teacher


def test_spec_needs_an_earlier_teacher_and_a_threshold_in_range():
    known = {"scratch": None}
    assert parse_spec("st", "selftrain:scratch", known) == {"selftrain": "scratch", "threshold": 0.9}
    assert parse_spec("st", "selftrain:scratch:0.75", known)["threshold"] == 0.75
    with pytest.raises(ValueError, match="the teacher 'pool' must be an init given before it"):
        parse_spec("st", "selftrain:pool", known)
    with pytest.raises(ValueError, match="threshold 'x' is not a number"):
        parse_spec("st", "selftrain:scratch:x", known)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        parse_spec("st", "selftrain:scratch:2", known)


def test_spec_student_is_an_earlier_init_with_a_checkpoint():
    known = {"scratch": None, "pool_direct_601": {"pool_direct": 601}, "sup": "/x/checkpoint_final.pth"}
    assert parse_spec("st", "selftrain:pool_direct_601::sup", known) == {
        "selftrain": "pool_direct_601", "threshold": 0.9, "student": "sup"}
    assert parse_spec("st", "selftrain:scratch:0.8:sup", known)["threshold"] == 0.8
    for student in ("scratch", "pool_direct_601", "later"):  # no checkpoint to fine-tune, or not given before
        with pytest.raises(ValueError, match=rf"the student '{student}' must be an init given before it .*: sup\);"):
            parse_spec("st", f"selftrain:scratch::{student}", known)


def test_a_student_like_an_init_gets_its_trainer_checkpoint_and_schedule(monkeypatch, tmp_path):
    """The student is fine-tuned exactly like the named init: its trainer class, its checkpoint as
    $nnSSL_PRETRAINED and its schedule override on top of the benchmark's budget; without one, nnU-Net's recipe."""
    import nnssl.selftrain.run as run
    from nnssl.benchmark.request import BenchmarkRequest
    from nnssl.benchmark.selftrain_runs import run_selftrain

    seen = []

    def fake(request):
        seen.append(request)
        summary = tmp_path / "summary.json"
        summary.write_text('{"foreground_mean": {"Dice": 0.5}}')
        return {"student": str(tmp_path / "student"), "fold": 0, "summary": str(summary),
                "rounds": [{"dataset": "Dataset800_x"}]}

    monkeypatch.setattr(run, "selftrain", fake)
    request = BenchmarkRequest(target=602, configuration="2d", out=str(tmp_path), runs=str(tmp_path / "runs"),
                               schedule=(30, 50, 5), device="cpu")
    entry = {"fold": 0, "train": ["a"]}
    spec = {"selftrain": "pool_direct_601", "threshold": 0.9, "student": "sup"}
    run_selftrain(request, "Dataset602_x", "st", spec, entry, 5, ("/teacher", "all"), ["a", "b", "c"],
                  ("SupervisedFinetuneTrainer_headsFirst", "/x/checkpoint_final.pth", "fresh_lr=1e-3"))
    run_selftrain(request, "Dataset602_x", "st0", {"selftrain": "scratch", "threshold": 0.9}, entry, 5,
                  ("/teacher", "5"), ["a", "b", "c"])
    like, plain = seen
    assert (like.student_trainer, like.pretrained) == ("SupervisedFinetuneTrainer_headsFirst",
                                                       "/x/checkpoint_final.pth")
    assert like.schedule == "epochs=30,iterations=50,val_iterations=5,fresh_lr=1e-3"
    assert like.unlabelled_cases == ("b", "c") and like.fold == 5
    assert (plain.student_trainer, plain.pretrained, plain.schedule) == ("nnsslScratchTrainer", None, "30,50,5")


def test_versus_teacher_pairs_by_fold_and_label_count():
    rows = [{"init": i, "fold": f, "n_train": 1, "label": "mean", "dice": d}
            for i, f, d in [("scratch", 0, 0.60), ("scratch", 1, 0.70), ("scratch", 2, 0.50),
                            ("st", 0, 0.66), ("st", 1, 0.69), ("st", 2, 0.58), ("st", 3, 0.99)]]  # fold 3: no teacher
    text = versus_teacher(rows, {"scratch": None, "st": {"selftrain": "scratch", "threshold": 0.9}})
    # differences +0.06, -0.01, +0.08: mean +0.043, sample std 0.047, 2 of 3 won
    assert "st vs its teacher scratch, 1 case: Δ +0.043 ± 0.047 (2/3 folds won; by fold 0: +0.060, 1: -0.010, " \
           "2: +0.080)" in text
    assert versus_teacher(rows, {"scratch": None}) == ""


def test_a_student_can_teach_the_next_round_with_its_own_fold(monkeypatch, tmp_path):
    """A selftrain init whose teacher is another selftrain init (round 2) gets that student's model folder and the
    fold the student trained (the derived dataset's own fold), not the grid's registered fold id; a fine-tuned
    teacher's fold is the registered one."""
    from nnssl.benchmark import grid, selftrain_runs
    from nnssl.benchmark.request import BenchmarkRequest

    teachers = {}

    def fine_tune(request, target, init, ckpt, fold_id, trainer, override):
        fold_dir = tmp_path / init / f"fold_{fold_id}"
        fold_dir.mkdir(parents=True)
        return {"foreground_mean": {"Dice": 0.5}, "mean": {}}, str(fold_dir)

    def student(request, target, init, spec, entry, fold_id, teacher, base_train, like=None):
        teachers[init] = teacher
        fold_dir = tmp_path / init / "Dataset800_derived" / "fold_0"
        fold_dir.mkdir(parents=True)
        return {"foreground_mean": {"Dice": 0.6}, "mean": {}}, str(fold_dir)

    monkeypatch.setattr(grid, "run_one", fine_tune)
    monkeypatch.setattr(selftrain_runs, "run_selftrain", student)
    monkeypatch.setattr(grid, "read_curve", lambda path: [])
    monkeypatch.setattr(grid, "run_seconds", lambda fold_dir: 1.0)
    inits = {"scratch": None, "r1": {"selftrain": "scratch", "threshold": 0.9},
             "r2": {"selftrain": "r1", "threshold": 0.9}}
    cells = grid._Grid("Dataset602_x", inits, {}, {}, [{"train": ["a", "b"], "val": ["c"]}],
                       [{"fold": 0, "fraction": 50.0, "train": ["a"], "val": ["c"]}], [7], ["1"])
    request = BenchmarkRequest(target=602, configuration="2d", out=str(tmp_path), schedule=(1, 2, 1), device="cpu")
    results = grid._run_cells(request, cells)
    assert teachers == {"r1": (str(tmp_path / "scratch"), "7"),
                        "r2": (str(tmp_path / "r1" / "Dataset800_derived"), "0")}
    assert [r["init"] for r in results.rows if r["label"] == "mean"] == ["scratch", "r1", "r2"]
