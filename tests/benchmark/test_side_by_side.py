"""Two benchmarks side by side on one runs folder (protocols that share ``runs``, lanes split by fold): a cell both
reach is run once at a time; the second waits for the first and then reads (or resumes) its result."""

import json
import multiprocessing
import time

from nnssl.benchmark.request import BenchmarkRequest


def _request(tmp_path) -> BenchmarkRequest:
    return BenchmarkRequest(target=602, configuration="2d", out=str(tmp_path), runs=str(tmp_path / "runs"),
                            schedule=(2, 3, 1), device="cpu")


def _both(tmp_path, target) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=target, args=(str(tmp_path), barrier)) for _ in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0


def _fine_tune_beside(tmp, barrier) -> None:
    import os
    import pathlib

    from nnssl.benchmark import finetune_runs

    def fake_train(plan, fold_id):  # stands in for nnUNetv2_train: slow, writes nnU-Net's validation summary
        with open(pathlib.Path(tmp) / "calls.txt", "a") as f:
            f.write(" ".join(plan["cmd"][1:4]) + "\n")
        time.sleep(1.0)
        os.makedirs(os.path.dirname(plan["summary"]))
        pathlib.Path(plan["summary"]).write_text(json.dumps({"foreground_mean": {"Dice": 0.5}}))

    finetune_runs._train = fake_train  # this forked process's own module
    barrier.wait()
    summary, _ = finetune_runs.run_one(_request(pathlib.Path(tmp)), "Dataset602_x", "scratch", None, 7,
                                       "nnsslScratchTrainer")
    assert summary["foreground_mean"]["Dice"] == 0.5


def test_a_fine_tune_cell_reached_by_two_benchmarks_trains_once(tmp_path):
    _both(tmp_path, _fine_tune_beside)
    assert (tmp_path / "calls.txt").read_text().splitlines() == ["602 2d 7"]


def _selftrain_beside(tmp, barrier) -> None:
    import pathlib

    import nnssl.selftrain.run as run
    from nnssl.benchmark.selftrain_runs import run_selftrain

    def fake(request):  # stands in for nnssl_selftrain: slow; records when it ran
        start = time.time()
        time.sleep(1.0)
        summary = pathlib.Path(tmp) / "summary.json"
        summary.write_text('{"foreground_mean": {"Dice": 0.5}}')
        with open(pathlib.Path(tmp) / "calls.txt", "a") as f:
            f.write(f"{start} {time.time()}\n")
        return {"student": str(pathlib.Path(tmp) / "student"), "fold": 0, "summary": str(summary),
                "rounds": [{"dataset": "Dataset800_x"}]}

    run.selftrain = fake
    barrier.wait()
    run_selftrain(_request(pathlib.Path(tmp)), "Dataset602_x", "st", {"selftrain": "scratch", "threshold": 0.9},
                  {"fold": 0, "train": ["a"]}, 7, ("/teacher", "7"), ["a", "b"])


def test_a_selftrain_cell_reached_by_two_benchmarks_never_runs_twice_at_once(tmp_path):
    """Both call nnssl_selftrain (the second finds the first's work finished and reuses it), one after the other."""
    _both(tmp_path, _selftrain_beside)
    (_, end_first), (start_second, _) = sorted(tuple(map(float, line.split())) for line in
                                (tmp_path / "calls.txt").read_text().splitlines())
    assert end_first <= start_second


def _pool_model_beside(tmp, barrier) -> None:
    import pathlib

    from nnssl.benchmark import pool_direct

    def fake_run(cmd, log_file, env):  # stands in for nnUNetv2_train on the pool: slow, writes the checkpoint
        with open(pathlib.Path(tmp) / "calls.txt", "a") as f:
            f.write(" ".join(cmd[1:4]) + "\n")
        time.sleep(1.0)
        fold = pathlib.Path(tmp) / "Dataset601_x" / f"{pool_direct.TRAINER}__nnsslPlans__2d" / "fold_all"
        fold.mkdir(parents=True, exist_ok=True)
        (fold / "checkpoint_final.pth").write_text("done")

    pool_direct._run = fake_run
    barrier.wait()
    pool_direct.train_pool_model(tmp, 601, "Dataset601_x", "2d", "nnsslPlans", "cpu", "")


def test_two_benchmarks_side_by_side_train_the_pool_model_once(tmp_path):
    """The second waits for the first's training and reads its model (two trainings into one folder would clobber
    each other's checkpoints)."""
    _both(tmp_path, _pool_model_beside)
    assert (tmp_path / "calls.txt").read_text().splitlines() == ["601 2d all"]
