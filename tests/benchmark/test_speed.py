"""nnssl_benchmark speed: what it measures, on the planned synthetic pool, and its tables."""

import json
import os

import pytest
import torch

from nnssl.benchmark.speed import StepResult
from nnssl.benchmark.speed_probes import record_calls, replay


def test_recorded_calls_replay_forward_and_backward_per_category():
    import nnssl.methods.mixcl.model as mixcl
    from tests.conftest import mixcl_batch, mixcl_model

    model = mixcl_model(bt_max_voxels=None)
    calls: list = []
    with record_calls(calls):
        model(**mixcl_batch())["loss"].backward()
    names = {name for _, name, *_ in calls}
    assert {"barlow_twins_loss", "batched_label_contrast_loss", "gather_voxels", "reconstruction_loss"} <= names
    assert mixcl.barlow_twins_loss.__name__ == "barlow_twins_loss"  # unpatched afterwards
    times = replay(calls, torch.device("cpu"), repeats=1)
    assert set(times) == {"loss", "label"} and all(t > 0 for t in times.values())


def test_tables_and_targets_from_results():
    from nnssl.benchmark.speed_report import tables, targets

    def r(name, step, replay_s=None, produced=None, patch=(32, 40, 32)):
        return StepResult(name=name, trainer="x", patch=list(patch), batch=2, input_shape=[2, 1, *patch],
                          step_s=[step, step * 1.1, step * 0.9], replay_s=replay_s or {}, produced_per_s=produced,
                          label_samples_per_pair=700.0).finish()

    results = [r("supervised@base", 1.0, produced=10), r("mixcl@base", 3.0, {"loss": 0.1, "label": 0.2}, 0.4),
               r("regression@base", 1.2, {"loss": 0.01}, 5.0),
               r("mixcl@patch x2", 5.0, {"loss": 0.2, "label": 0.22}, patch=(64, 40, 32))]
    goals = {t: (ok, m) for t, ok, m in targets(results)}
    assert goals["mixcl step <= 3.3x supervised"] == (True, "3.00x")
    assert goals["regression step <= 1.5x supervised"][0] is True
    assert goals["global_local:global step <= 1.5x supervised"][0] is None  # not measured
    assert goals["losses + sampling + views <= 10 % of a step"][0] is False  # mixcl: 0.3 / 3.0
    label = next(v for k, v in goals.items() if k.startswith("label term"))
    assert label[0] is True and "x1.10" in label[1]
    assert goals["loader produces >= 1.5x what the step consumes"][0] is False  # mixcl: 0.4 / s x 3 s = 1.2
    md = tables(results)
    assert "| mixcl | (2, 1, 32, 40, 32) | 3.000" in md and "64x40x32" in md
    floor = targets([*results, r("supervised, 3 x batch@base", 2.4)])
    beyond = next(m for t, ok, m in floor if t.startswith("the MixCL step's cost beyond three views"))
    assert "three views alone 2.400 s (2.40x supervised)" in beyond and "0.600 s more (20% of its step)" in beyond


def test_dense_label_switch_runs_the_reference_with_the_same_terms():
    """--label-impl dense swaps MixCL's grouped label term for the dense-mask one: same loss, recorded as label."""
    import nnssl.methods.mixcl.model as mixcl
    from nnssl.benchmark.speed import label_impl
    from tests.conftest import mixcl_batch, mixcl_model

    model, batch = mixcl_model(bt_max_voxels=None).eval(), mixcl_batch()
    grouped_fn = mixcl.batched_label_contrast_loss
    with torch.no_grad():
        grouped = model(**batch)
        calls: list = []
        with label_impl("dense"), record_calls(calls):
            assert mixcl.batched_label_contrast_loss is not grouped_fn
            dense = model(**batch)
    assert mixcl.batched_label_contrast_loss is grouped_fn  # restored
    assert dense["label"].item() == pytest.approx(grouped["label"].item(), rel=1e-5)
    assert [c for c, name, *_ in calls if name == "batched_label_contrast_loss"] == ["label"]
    with pytest.raises(ValueError, match="choose one of"):
        with label_impl("loop"):
            pass


def test_repeats_pool_steps_and_keep_each_runs_median():
    from nnssl.benchmark.speed import merge_repeats
    from nnssl.benchmark.speed_report import tables, targets

    def r(name, steps, label):
        return StepResult(name=name, trainer="x", patch=[8, 8], batch=2, input_shape=[2, 1, 8, 8], step_s=steps,
                          replay_s={"label": label}).finish()

    merged = merge_repeats([r("mixcl@base", [1.0, 1.2], 0.3), r("mixcl@base", [2.0, 2.2], 0.5),
                            r("mixcl@base", [1.5, 1.7], 0.4)])
    assert merged.repeat_medians_s == [1.1, 2.1, 1.6] and merged.step_s == [1.0, 1.2, 2.0, 2.2, 1.5, 1.7]
    assert merged.median_s == pytest.approx(1.6) and merged.replay_s == {"label": 0.4}  # the median run's
    dense = r("mixcl:dense-label@base", [3.0, 3.0], 0.9)
    md = tables([r("supervised@base", [0.5, 0.5], 0.0), merged, dense])
    assert "1.600 (" in md and "runs 1.100-2.100" in md and "| mixcl:dense-label |" in md
    goal = {t: (ok, m) for t, ok, m in targets([merged, dense])}
    ok, text = goal["grouped label term faster than the dense masks it replaced (same maths)"]
    assert ok is True and "1.600 vs 3.000 s" in text and "0.4 vs 0.9 s" in text


def test_speed_cli_rejects_bad_counts_before_work(capsys):
    from nnssl.cli.speed import main

    for flag, value in (("--repeats", "0"), ("--label-samples", "-3")):
        assert main(["-d", "1", "--out", "/nonexistent/x", "-device", "cpu", flag, value]) == 2
        assert f"{flag} " in capsys.readouterr().err


@pytest.mark.slow
def test_speed_benchmark_on_the_planned_pool(pool_env, tmp_path):
    from nnssl.cli.speed import main

    out = tmp_path / "speed"
    rc = main(["-d", str(pool_env["pool"].pool_id), "-c", "3d_fullres", "--steps", "2", "--loader-batches", "2",
               "--batch-size", "1",
               "--trainers", "supervised", "mixcl", "regression", "--scales", "base", "patch x2",
               "--label-impl", "both", "--out", str(out), "-device", "cpu"])
    assert rc == 0
    data = json.loads((out / "speed.json").read_text())
    rows = {r["name"]: r for r in data["results"]}
    assert set(rows) == {f"{t}@{s}" for t in ("supervised", "mixcl", "mixcl:dense-label", "regression")
                         for s in ("base", "patch x2")} | {"supervised, 3 x batch@base"}
    assert rows["supervised, 3 x batch@base"]["input_shape"][0] == 3 * rows["supervised@base"]["input_shape"][0]
    plans = json.loads(open(os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].pool_name,
                                         "nnsslPlans.json")).read())["configurations"]["3d_fullres"]
    base = rows["supervised@base"]
    assert base["patch"] == plans["patch_size"] and base["input_shape"] == [1, 1, *plans["patch_size"]]
    assert rows["mixcl@patch x2"]["patch"] == [2 * plans["patch_size"][0], *plans["patch_size"][1:]]
    for r in rows.values():
        assert len(r["step_s"]) == 2 and r["median_s"] > 0 and 0 <= r["overhead_share"] < 1
    assert rows["mixcl@base"]["replay_s"]["label"] > 0 and rows["mixcl@base"]["label_samples_per_pair"] > 0
    assert rows["regression@base"]["replay_s"]["views"] > 0  # masking runs on the training thread
    assert rows["mixcl@base"]["produced_per_s"] > 0 and rows["mixcl@patch x2"]["produced_per_s"] is None
    md = (out / "speed.md").read_text()
    assert "| target | met | measured |" in md and "mixcl step <= 3.3x supervised" in md
    assert "grouped label term faster than the dense masks" in md and data["meta"]["label_impl"] == "both"
