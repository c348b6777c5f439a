"""Low-label benchmark: split logic, report writer, and a tiny end-to-end run."""

import csv
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nnssl.benchmark.curves import late_gain, plateau_table, plot_curves, read_curve, verdict
from nnssl.benchmark.report import (
    markdown_table,
    paired_differences,
    plot_dice_vs_fraction,
    plot_paired_differences,
    read_csv,
    summarise,
    write_csv,
)
from nnssl.benchmark.splits import label_fraction_splits, register_splits
from nnssl.io import load_json
from nnssl.trainer_location import trainer_dir

SPLITS = [{"train": [f"c{i:02d}" for i in range(40) if i % 5 != f],
           "val": [f"c{i:02d}" for i in range(40) if i % 5 == f]} for f in range(5)]


def test_fractions_are_nested_seeded_and_keep_validation():
    entries = label_fraction_splits(SPLITS, [0, 1], [5, 15, 50, 100], seed=3)
    again = label_fraction_splits(SPLITS, [0, 1], [100, 50, 15, 5], seed=3)
    assert entries == again  # deterministic and order-independent
    for fold in (0, 1):
        mine = [e for e in entries if e["fold"] == fold]
        sizes = [len(e["train"]) for e in mine]
        assert sizes == [2, 5, 16, 32]  # ceil(p * 32)
        for small, big in itertools.pairwise(mine):
            assert set(small["train"]) < set(big["train"])
        assert all(e["val"] == SPLITS[fold]["val"] for e in mine)
        assert all(set(e["train"]).isdisjoint(e["val"]) for e in mine)
        assert set(mine[-1]["train"]) == set(SPLITS[fold]["train"])
    other = label_fraction_splits(SPLITS, [0], [15], seed=4)
    assert other[0]["train"] != entries[1]["train"]
    with pytest.raises(ValueError, match="percentages"):
        label_fraction_splits(SPLITS, [0], [0])
    with pytest.raises(ValueError, match="folds"):
        label_fraction_splits(SPLITS, [7], [5])


def test_register_appends_after_the_five_folds_and_reuses(tmp_path):
    import json

    (tmp_path / "splits_final.json").write_text(json.dumps(SPLITS))
    entries = label_fraction_splits(SPLITS, [0], [5, 100])
    ids = register_splits(str(tmp_path), "unused", entries)
    assert ids == [5, 6]
    saved = load_json(str(tmp_path / "splits_final.json"))
    assert saved[:5] == SPLITS and sorted(saved[5]["train"]) == sorted(entries[0]["train"])
    assert register_splits(str(tmp_path), "unused", entries) == [5, 6]
    assert len(load_json(str(tmp_path / "splits_final.json"))) == 7


def _register_many(folder: str, worker: int, barrier, out) -> None:
    """Register 20 subsets of its own one by one, starting with the other workers; report (ids, subsets)."""
    subsets = [{"fold": 0, "fraction": 1.0, "train": [f"c{i:02d}" for i in range(40) if i % 5][k:k + 2 + worker],
                "val": SPLITS[0]["val"]} for k in range(20)]
    barrier.wait()
    out.put((worker, [register_splits(folder, "unused", [e])[0] for e in subsets], subsets))


def test_registering_side_by_side_loses_no_subset(tmp_path):
    """Two benchmarks of one target extend splits_final.json at once: every fold id each was given must hold the
    subset it registered (an unlocked read-extend-write appends both at one index: one trains the other's split)."""
    import multiprocessing

    (tmp_path / "splits_final.json").write_text(json.dumps(SPLITS))
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    workers = [ctx.Process(target=_register_many, args=(str(tmp_path), w, barrier, out)) for w in range(4)]
    for p in workers:
        p.start()
    results = [out.get(timeout=120) for _ in workers]
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    saved = load_json(str(tmp_path / "splits_final.json"))
    assert saved[:5] == SPLITS
    for _, ids, subsets in results:
        for fold_id, e in zip(ids, subsets, strict=True):
            assert saved[fold_id]["train"] == sorted(e["train"])
    assert len(saved) == 5 + 4 * 20  # every subset once (the workers' subsets differ in size)


def synthetic_rows():
    rows = []
    for init, gain in (("scratch", 0.0), ("mixcl", 0.05)):
        for fraction in (5, 15, 100):
            for fold in (0, 1):
                dice = 0.5 + fraction / 400 + gain + 0.01 * fold
                rows.append({"init": init, "fraction": float(fraction), "fold": fold, "n_train": fraction,
                             "label": "mean", "dice": dice})
    return rows


def test_case_counts_are_nested_in_the_same_permutation():
    entries = label_fraction_splits(SPLITS, [0], [50], seed=3, cases=[1, 2, 4])
    assert [len(e["train"]) for e in entries] == [1, 2, 4, 16]
    for a, b in itertools.pairwise(entries):
        assert set(a["train"]) <= set(b["train"]) and a["val"] == b["val"]
    assert entries[0]["fraction"] == pytest.approx(100 / 32)
    assert entries[2]["train"] == label_fraction_splits(SPLITS, [0], [12.5], seed=3)[0]["train"]  # same permutation
    with pytest.raises(ValueError, match="only 32 training cases"):
        label_fraction_splits(SPLITS, [0], [], cases=[33])
    with pytest.raises(ValueError, match="positive integers"):
        label_fraction_splits(SPLITS, [0], [], cases=[0])


def test_trainer_for_checkpoint_method_and_variant(tmp_path):
    import torch

    from nnssl.benchmark.finetune_runs import trainer_for

    ckpt = str(tmp_path / "c.pth")
    torch.save({"network_weights": {}, "nnssl_adaptation_record": {"method": "mixcl", "transfer_prefixes": []}}, ckpt)
    assert trainer_for(None, "scratch") == "nnsslScratchTrainer"
    assert trainer_for(None, "scratch_warmup") == "nnsslScratchTrainer_warmup"
    assert trainer_for(ckpt, "mixcl") == "MixCLFinetuneTrainer"
    assert trainer_for(ckpt, "same", {"same": "warmup"}) == "MixCLFinetuneTrainer_warmup"
    with pytest.raises(ValueError, match=r"bogus: no nnssl trainer 'MixCLFinetuneTrainer_bogus'; MixCLFine"):
        trainer_for(ckpt, "x", {"x": "bogus"})


def test_schedule_override_reaches_the_trainer_and_guards_reuse(tmp_path, monkeypatch):
    """--schedule-override: the trainer's env carries budget + override, bad specs are refused by name, and a
    finished run with another recorded learning rate is never reused under the same init name."""
    import argparse
    import json
    import subprocess

    import torch

    from nnssl.benchmark import finetune_runs as benchmark

    ckpt = str(tmp_path / "c.pth")
    torch.save({"network_weights": {}, "nnssl_adaptation_record": {"method": "mixcl", "transfer_prefixes": []}}, ckpt)
    inits, variants = {"scratch": None, "lr3": ckpt}, {"lr3": "nnUNetSchedule"}
    assert benchmark.parse_schedule_overrides(["lr3=pretrained_lr=3e-3"], inits, variants) == \
        {"lr3": "pretrained_lr=3e-3"}
    for spec, match in (("nope=pretrained_lr=3e-3", "for an --init NAME"), ("lr3=3e-3", "KEY=VALUE"),
                        ("scratch=pretrained_lr=3e-3", "scratch baseline"), ("lr3=peak=1", "unknown key 'peak'"),
                        ("lr3=pretrained_lr=fast", "not a valid value")):
        with pytest.raises(ValueError, match=match):
            benchmark.parse_schedule_overrides([spec], inits, variants)
    assert benchmark.schedule_env([30, 50, 5]) == "30,50,5"  # the form every earlier run recorded
    assert benchmark.schedule_env([30, 50, 5], "pretrained_lr=3e-3") == \
        "epochs=30,iterations=50,val_iterations=5,pretrained_lr=3e-3"
    assert benchmark.schedule_env(None, "pretrained_lr=3e-3") == "pretrained_lr=3e-3"

    seen = {}

    def fake_train(cmd, env, **_):  # stands in for nnUNetv2_train: records what it was given, writes its outputs
        trainer = cmd[cmd.index("-tr") + 1]
        fold_dir = tmp_path / "runs" / "lr3" / "Dataset200_X" / f"{trainer}__nnsslPlans__2d" / f"fold_{cmd[3]}"
        (fold_dir / "validation").mkdir(parents=True)
        schedule = benchmark.trainer_schedule(trainer, env["nnSSL_FINETUNE_SCHEDULE"])
        record = schedule.resolve(schedule.epochs, schedule.iterations).to_json()  # what the trainer writes
        (fold_dir / "nnssl_finetune.json").write_text(json.dumps(record))
        (fold_dir / "validation" / "summary.json").write_text(json.dumps({"foreground_mean": {"Dice": 0.5}}))
        seen.update(env=env["nnSSL_FINETUNE_SCHEDULE"], schedule=schedule)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(benchmark.subprocess, "run", fake_train)
    args = argparse.Namespace(runs=str(tmp_path / "runs"), out=str(tmp_path), plans_name="nnsslPlans",
                              configuration="2d", schedule=[2, 3, 1], report_only=False, target=200, device="cpu")
    trainer = benchmark.trainer_for(ckpt, "lr3", variants)
    summary, _ = benchmark.run_one(args, "Dataset200_X", "lr3", ckpt, 5, trainer, "pretrained_lr=3e-3")
    assert summary["foreground_mean"]["Dice"] == 0.5
    assert seen["env"] == "epochs=2,iterations=3,val_iterations=1,pretrained_lr=3e-3"
    assert (seen["schedule"].pretrained_lr, seen["schedule"].fresh_lr, seen["schedule"].warmup_fraction) == \
        (3e-3, 1e-2, 0.0)  # the override on top of _nnUNetSchedule, nothing else changed
    assert benchmark.run_one(args, "Dataset200_X", "lr3", ckpt, 5, trainer, "pretrained_lr=3e-3")[0] is not None
    with pytest.raises(ValueError, match=r"pretrained_lr=0.003 \(asked: None\)"):
        benchmark.run_one(args, "Dataset200_X", "lr3", ckpt, 5, trainer)  # same init name, override dropped
    record = json.loads((tmp_path / "runs/lr3/Dataset200_X" / f"{trainer}__nnsslPlans__2d/fold_5/nnssl_finetune.json")
                        .read_text())
    record.pop("l2sp")  # a run recorded before the field existed trained without it
    (tmp_path / "runs/lr3/Dataset200_X" / f"{trainer}__nnsslPlans__2d/fold_5/nnssl_finetune.json").write_text(
        json.dumps(record))
    assert benchmark.run_one(args, "Dataset200_X", "lr3", ckpt, 5, trainer, "pretrained_lr=3e-3")[0] is not None
    with pytest.raises(ValueError, match=r"l2sp=0.0 \(asked: 0.01\)"):
        benchmark.run_one(args, "Dataset200_X", "lr3", ckpt, 5, trainer, "pretrained_lr=3e-3,l2sp=1e-2")


def test_report_table_and_plot(tmp_path):
    rows = synthetic_rows()
    write_csv(rows, str(tmp_path / "r.csv"))
    assert read_csv(str(tmp_path / "r.csv")) == rows
    s = summarise(rows)
    assert s["mixcl"][5.0][0] == pytest.approx(0.5 + 5 / 400 + 0.05 + 0.005)
    assert s["scratch"][100.0][1] == pytest.approx(0.005 * np.sqrt(2))  # sample std of two folds 0.01 apart
    table = markdown_table(rows, ["mean"])
    data_rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| init")]
    assert data_rows[0].startswith("| scratch |")  # scratch first
    assert "(Δ +0.050 ± 0.000, 2/2)" in table and sum(row.count("±") for row in data_rows) == 9
    flipped = [{**r, "dice": r["dice"] - 0.1 * (r["init"] == "mixcl" and r["fold"] == 1)} for r in rows]
    assert paired_differences(flipped, "mixcl", 5.0) == pytest.approx([0.05, -0.05])
    assert "(Δ +0.000 ± 0.071, 1/2)" in markdown_table(flipped, ["mean"])  # sample std of +-0.05
    plot_dice_vs_fraction(rows, str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_dice_plot_draws_one_line_per_init_at_the_fold_means(tmp_path, monkeypatch):
    import nnssl.benchmark.report as report

    figures = []
    monkeypatch.setattr(report, "save_figure", lambda fig, path, **k: figures.append(fig))
    rows = synthetic_rows()
    plot_dice_vs_fraction(rows, str(tmp_path / "p.png"), title="t")
    (ax,) = figures[0].axes
    lines = {bars.get_label(): bars.lines[0] for bars in ax.containers}  # errorbar: (data line, caps, bars)
    assert set(lines) == {"scratch", "mixcl"}
    for init, line in lines.items():
        assert list(line.get_xdata()) == [5, 15, 100]  # labelled cases on x
        assert list(line.get_ydata()) == pytest.approx([summarise(rows)[init][f][0] for f in (5.0, 15.0, 100.0)])
    assert lines["scratch"].get_linestyle() == "--" and lines["mixcl"].get_linestyle() == "-"
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "labelled training cases"


def test_paired_plot_shows_each_folds_difference(tmp_path, monkeypatch):
    """One dot per fold at Δ = init minus scratch on that fold, one mean bar per (init, amount)."""
    import matplotlib.pyplot as plt

    rows = [{**r, "dice": r["dice"] - 0.1 * (r["init"] == "mixcl" and r["fold"] == 1)} for r in synthetic_rows()]
    closed = []
    monkeypatch.setattr(plt, "close", closed.append)
    plot_paired_differences(rows, str(tmp_path / "d.png"), title="t")
    assert os.path.getsize(tmp_path / "d.png") > 5000
    ax = closed[0].axes[0]
    from matplotlib.collections import PathCollection

    dots = sorted(y for c in ax.collections if isinstance(c, PathCollection) for y in c.get_offsets()[:, 1])
    expected = sorted(d for f in sorted({r["fraction"] for r in rows}) for d in paired_differences(rows, "mixcl", f))
    assert dots == pytest.approx(expected) and len(dots) == 2 * len({r["fraction"] for r in rows})
    assert [t.get_text() for t in ax.get_legend().get_texts()].count("mixcl") == 1


@pytest.mark.slow
def test_benchmark_command_end_to_end(pool_env, tmp_path, monkeypatch):
    from nnssl.cli import benchmark, pretrain

    monkeypatch.setenv("nnUNet_results", str(tmp_path / "results"))
    assert pretrain.main(["-d", "101", "102", "103", "-m", "regression", "-t", "200", "--device", "cpu",
                          "--epochs", "1", "--iterations", "1", "--val-iterations", "1", "--run-name", "reg_tiny"]) == 0
    # a named run trains under its own plans identifier (nnU-Net's own folder layout), in the pool and the target
    (pool_folder,) = (tmp_path / "results").iterdir()
    (run_folder,) = pool_folder.iterdir()
    assert run_folder.name == "RegressionPretrainer__nnsslPlans_reg_tiny__3d_fullres"
    assert "Please cite" in next((run_folder / "fold_all").glob("training_log_*.txt")).read_text()
    pre = pool_env["env"]["nnUNet_preprocessed"]
    target = pool_env["pool"].target[1]
    for dataset in (pool_folder.name, target):
        run_plans = load_json(os.path.join(pre, dataset, "nnsslPlans_reg_tiny.json"))
        assert run_plans["plans_name"] == "nnsslPlans_reg_tiny" and run_plans["nnssl"]["run"] == "reg_tiny"
        assert run_plans["configurations"] == load_json(os.path.join(pre, dataset, "nnsslPlans.json"))[
            "configurations"]  # the same plan and data: nothing preprocessed twice
    # stock nnU-Net fine-tunes the named run under its identifier, with no variable naming the checkpoint
    env = {k: v for k, v in os.environ.items() if not k.startswith("nnSSL_")}
    env["nnUNet_extTrainer"] = trainer_dir()
    trainer = "RegressionFinetuneTrainer_nnUNetSchedule_2ep5it"
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "nnUNetv2_train"), "200", "3d_fullres", "0",
                           "-tr", trainer, "-p", "nnsslPlans_reg_tiny", "-device", "cpu"], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    fold = tmp_path / "results" / target / f"{trainer}__nnsslPlans_reg_tiny__3d_fullres" / "fold_0"
    record = load_json(str(fold / "nnssl_finetune.json"))
    assert record["run"] == "reg_tiny" and record["plans"] == "nnsslPlans_reg_tiny"
    assert record["pretrained_checkpoint"] == str(run_folder / "fold_all" / "checkpoint_final.pth")
    assert record["environment"] == {}
    out = tmp_path / "bench"
    argv = ["-t", "200", "-c", "3d_fullres", "--init", "reg_tiny", "--cases", "1", "--fractions", "100", "--folds", "0",
            "--scratch", "scratch", "--schedule", "1", "2", "1", "--device", "cpu", "--out", str(out)]
    assert benchmark.main(argv) == 0
    rows = read_csv(str(out / "results.csv"))
    n_train = len(load_json(str(out / "label_fraction_splits.json"))[1]["train"])
    expected = {(i, n) for i in ("scratch", "reg_tiny") for n in (1, n_train)}
    assert {(r["init"], r["n_train"]) for r in rows} == expected
    assert sorted({r["fraction"] for r in rows}) == pytest.approx([100 / n_train, 100.0])
    assert {r["label"] for r in rows} == {"mean", "1", "2"}
    # every row is the Dice that nnU-Net's own validation wrote for exactly that init, fold and subset (a report
    # that mixed up runs, folds or labels fails here; the 2-iteration runs' values themselves mean nothing)
    splits = {(e["fold"], round(e["fraction"], 6)): e["nnunet_fold"]
              for e in load_json(str(out / "label_fraction_splits.json"))}
    for r in rows:
        trainer = "nnsslScratchTrainer" if r["init"] == "scratch" else "RegressionFinetuneTrainer"
        (summary_file,) = (out / "runs" / r["init"]).rglob(
            f"{trainer}__nnsslPlans__3d_fullres/fold_{splits[(r['fold'], round(r['fraction'], 6))]}/validation/"
            "summary.json")
        summary = load_json(str(summary_file))
        written = summary["foreground_mean"]["Dice"] if r["label"] == "mean" else summary["mean"][r["label"]]["Dice"]
        assert r["dice"] == pytest.approx(written, nan_ok=True), r
    for f in ("table.md", "dice_vs_fraction.png", "benchmark.json", "label_fraction_splits.json", "plateau.md",
              "pseudo_dice_curves.png", "paired_vs_scratch.png"):
        assert (out / f).is_file(), f
    with open(out / "curves.csv") as fh:  # one epoch per run, read from nnU-Net's own checkpoint log
        assert len(list(csv.DictReader(fh))) == len(expected)
    run_time = load_json(str(out / "benchmark.json"))["run_time_s"]
    assert 0 < run_time["mean"] <= run_time["total"] <= load_json(str(out / "benchmark.json"))["wall_time_s_this_call"]
    splits = load_json(str(out / "label_fraction_splits.json"))
    assert splits[0]["val"] == splits[1]["val"] and set(splits[0]["train"]) <= set(splits[1]["train"])
    logs = (out / "runs" / "reg_tiny" / f"fold_{splits[0]['nnunet_fold']}.log").read_text()
    assert "nnssl: loaded" in logs and "schedule 'pretrained': 1 epochs x 2 iterations" in logs
    # resumes: a second call trains nothing and reproduces the table
    table = (out / "table.md").read_text()
    assert benchmark.main(argv) == 0
    assert (out / "table.md").read_text() == table
    # a finished run folder is never reused for another schedule
    other = [a if a != "2" else "3" for a in argv]
    assert benchmark.main(other) == 2
    # --report-only trains nothing and lists what is missing
    wider = [*argv[:argv.index("--folds")], "--folds", "0", "1", "--report-only", *argv[argv.index("--scratch"):]]
    assert benchmark.main(wider) == 0
    assert "**Not run**" in (out / "table.md").read_text()
    assert not (out / "runs" / "scratch" / "Dataset200_SynthOrganLesion" / "nnsslScratchTrainer__nnsslPlans__3d_fullres"
                / f"fold_{max(e['nnunet_fold'] for e in load_json(str(out / 'label_fraction_splits.json')))}").exists()
    # --import-report: a call with no baselines of its own reports the earlier runs, paired as before
    joined = tmp_path / "joined"
    assert benchmark.main(["-t", "200", "-c", "3d_fullres", "--cases", "1", "--fractions", "100", "--folds", "0",
                           "--scratch", "--schedule", "1", "2", "1", "--device", "cpu", "--out", str(joined),
                           "--import-report", str(out)]) == 0
    assert sorted(map(str, read_csv(str(joined / "results.csv")))) == sorted(map(str, rows))
    assert (joined / "paired_vs_scratch.png").is_file() and "Δ" in (joined / "table.md").read_text()
    assert load_json(str(joined / "benchmark.json"))["imported"][0]["inits"] == ["reg_tiny", "scratch"]
    # a self-training init after its teacher in one call (the teacher's row comes first, in the same fold loop):
    # the student learns from the scratch teacher of the same fold and gets its own rows
    # and a second student, fine-tuned like the reg_tiny init (its trainer and checkpoint) on the same derived dataset
    student = tmp_path / "student"
    assert benchmark.main(["-t", "200", "-c", "3d_fullres", "--init", "reg_tiny", "--init", "st=selftrain:scratch",
                           "--init", "st_ft=selftrain:scratch::reg_tiny", "--cases", "1",
                           "--folds", "0", "--scratch", "scratch", "--schedule", "1", "2", "1", "--device", "cpu",
                           "--out", str(student), "--runs", str(out / "runs")]) == 0
    rows = read_csv(str(student / "results.csv"))
    assert {r["init"] for r in rows} == {"scratch", "reg_tiny", "st", "st_ft"} and {r["n_train"] for r in rows} == {1}
    (index,) = (out / "runs" / "st").glob("fold_0_1cases.json")
    assert load_json(str(index))["summary"].endswith("summary.json")
    like = load_json(str(out / "runs" / "st_ft" / "fold_0_1cases.json"))
    assert like["student"] == "reg_tiny" and like["dataset"] == load_json(str(index))["dataset"]  # one derived set
    finetune = load_json(os.path.join(like["fold_dir"], "nnssl_finetune.json"))
    assert finetune["trainer"] == "RegressionFinetuneTrainer"
    assert finetune["pretrained_checkpoint"] == str(run_folder / "fold_all" / "checkpoint_final.pth")


def curve_rows(n_epochs=12):
    """scratch still rising linearly, mixcl flat at 0.6, over two folds."""
    rows = []
    for init, fold, e in itertools.product(("scratch", "mixcl"), (0, 1), range(n_epochs)):
        d = 0.05 * e + 0.01 * fold if init == "scratch" else 0.6 + 0.002 * fold
        rows.append({"init": init, "fraction": 5.0, "fold": fold, "epoch": e, "pseudo_dice": d})
    return rows


def test_late_gain_and_plateau_verdict():
    assert late_gain([0.3] * 8) == 0
    assert late_gain(0.1 * np.arange(8)) == pytest.approx(0.2)  # quarter = 2 epochs, mean gap 2 epochs
    assert late_gain([0.0, 1.0]) == 1.0
    with pytest.raises(ValueError, match="at least 2 epochs"):
        late_gain([0.5])
    assert verdict([0.0, 0.001], [12, 12], 0.02) == "yes"
    assert verdict([0.0, 0.05], [12, 12], 0.02) == "no"  # one fold still rising is enough for "no"
    assert verdict([0.0, 0.0], [6, 6], 0.02) == "too short"
    one_epoch = plateau_table(curve_rows(1))
    assert one_epoch.count("too short") == 2 and "nan" in one_epoch
    table = plateau_table(curve_rows())
    lines = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| s") or
             line.startswith("| m")}
    assert lines["| scratch"].endswith("| no |") and "+0.150" in lines["| scratch"]
    assert lines["| mixcl"].endswith("| yes |") and "0.601 ± 0.001" in lines["| mixcl"]


def test_curves_are_read_from_nnunet_checkpoint_logging(tmp_path, monkeypatch):
    import torch

    log = {"mean_fg_dice": [0.1, 0.2, 0.4], "ema_fg_dice": [0.1, 0.11, 0.139], "train_losses": [1.0, 0.5, 0.2],
           "val_losses": [1.1, 0.7, 0.3], "lrs": [0.01] * 3}
    torch.save({"logging": log, "network_weights": {}}, tmp_path / "checkpoint_final.pth")
    rows = read_curve(str(tmp_path / "checkpoint_final.pth"))
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert [r["pseudo_dice"] for r in rows] == pytest.approx(log["mean_fg_dice"])
    assert rows[2]["val_loss"] == pytest.approx(0.3) and rows[1]["ema_pseudo_dice"] == pytest.approx(0.11)
    import nnssl.benchmark.curves as curves

    figures = []
    monkeypatch.setattr(curves, "save_figure", lambda fig, path, **k: figures.append(fig))
    plot_curves(curve_rows(), str(tmp_path / "c.png"), title="t")
    (ax,) = figures[0].axes  # one fraction, one panel
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert set(lines) == {"scratch (2)", "mixcl (2)"}  # init (folds)
    assert lines["scratch (2)"] == pytest.approx([0.05 * e + 0.005 for e in range(12)])  # mean over the folds
    assert lines["mixcl (2)"] == pytest.approx([0.601] * 12)
    assert list(ax.get_lines()[0].get_xdata()) == list(range(1, 13)) and ax.get_xlabel() == "epoch"


def test_curve_plot_title_fits_a_one_panel_figure(tmp_path, monkeypatch):
    """A report title is longer than a 4-inch single panel: it is wrapped, not cut at the figure edge."""
    import matplotlib.pyplot as plt

    closed = []
    monkeypatch.setattr(plt, "close", closed.append)
    one_fraction = [r for r in curve_rows() if r["fraction"] == curve_rows()[0]["fraction"]]
    title = "Dataset602_Hippocampus (2d), 5 folds with results"
    plot_curves(one_fraction, str(tmp_path / "c.png"), title=title)
    fig = closed[0]
    renderer = fig.canvas.get_renderer()
    box = fig._suptitle.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (box, fig.bbox.width)
    assert fig._suptitle.get_text().replace("\n", " ") == title
