"""The pool-direct alternative: nnU-Net trained on a pool with the target's labels, scored on the target as it is."""

import pytest

from nnssl.benchmark.pool_direct import is_pool_direct


def test_names():
    assert is_pool_direct("pool_direct") and is_pool_direct("pool_direct_601")
    assert not is_pool_direct("pool") and not is_pool_direct("pool_directly")


def test_bad_specs_are_refused_before_any_work(tmp_path):
    from nnssl.benchmark.finetune_runs import parse_schedule_overrides, resolve_inits, trainer_for

    with pytest.raises(ValueError, match="give pool_direct=DATASET_ID"):
        resolve_inits(["pool_direct=abc"], {}, "2d")
    inits = resolve_inits(["pool_direct_x=601"], {}, "2d", scratch=())
    assert inits == {"pool_direct_x": {"pool_direct": 601}}
    with pytest.raises(ValueError, match="is a pool model or a self-training student, so it has no trainer variant"):
        trainer_for(inits["pool_direct_x"], "pool_direct_x", {"pool_direct_x": "nnUNetSchedule"})
    with pytest.raises(ValueError, match="recipe is fixed"):
        parse_schedule_overrides(["pool_direct_x=l2sp=1e-3"], inits, {})


def test_a_pool_with_other_labels_or_no_plan_is_refused(nnunet_env):
    import json
    import os

    from nnssl.benchmark.pool_direct import check_pool_dataset

    def dataset(did, labels, plans=True):
        name = f"Dataset{did}_X{did}"
        for root in ("nnUNet_raw", "nnUNet_preprocessed"):
            folder = os.path.join(nnunet_env[root], name)
            os.makedirs(folder)
            with open(os.path.join(folder, "dataset.json"), "w") as f:
                json.dump({"labels": labels, "channel_names": {"0": "MRI"}}, f)
        if plans:
            with open(os.path.join(nnunet_env["nnUNet_preprocessed"], name, "nnsslPlans.json"), "w") as f:
                json.dump({"configurations": {"2d": {}}}, f)
        return name

    target = dataset(300, {"background": 0, "a": 1})
    same = dataset(301, {"background": 0, "a": 1})
    assert check_pool_dataset(301, target, "nnsslPlans", "2d") == same
    dataset(302, {"background": 0, "b": 1})
    with pytest.raises(ValueError, match=r"labels .* are not the target.s"):
        check_pool_dataset(302, target, "nnsslPlans", "2d")
    with pytest.raises(ValueError, match="has no nnsslPlans 3d_fullres plan"):
        check_pool_dataset(301, target, "nnsslPlans", "3d_fullres")
    with pytest.raises(ValueError, match="not found"):
        check_pool_dataset(399, target, "nnsslPlans", "2d")


@pytest.mark.slow
def test_pool_direct_scores_the_pool_model_on_each_fold(nnunet_env, tmp_path):
    from nnssl.benchmark.report import read_csv
    from nnssl.cli import benchmark, pretrain
    from nnssl.data.synthetic import DEMO_TARGET, SyntheticSpec, write_dataset
    from nnssl.io import load_json

    raw = nnunet_env["nnUNet_raw"]
    shape = (32, 40, 32)
    write_dataset(raw, SyntheticSpec(200, DEMO_TARGET.name, "organ_lesion", 6), shape=shape)
    write_dataset(raw, SyntheticSpec(201, "SynthOrganLesionPool", "organ_lesion", 6), shape=shape, seed=7)
    assert pretrain.main(["-d", "201", "-t", "200", "--plan-only"]) == 0
    out = tmp_path / "bench"
    argv = ["-t", "200", "-c", "3d_fullres", "--init", "pool_direct_201=201", "--scratch", "--cases", "1", "2",
            "--folds", "0", "1", "--schedule", "1", "2", "1", "--device", "cpu", "--out", str(out)]
    assert benchmark.main(argv) == 0
    rows = [r for r in read_csv(str(out / "results.csv")) if r["label"] == "mean"]
    assert {(r["init"], r["fold"], r["n_train"]) for r in rows} == {("pool_direct_201", f, n) for f in (0, 1)
                                                                    for n in (1, 2)}
    by_fold = {}
    for r in rows:  # no fine-tuning: the label count changes nothing, the fold (its validation cases) does
        by_fold.setdefault(r["fold"], set()).add(r["dice"])
    assert all(len(v) == 1 for v in by_fold.values())
    runs = out / "runs" / "pool_direct_201"
    summary = load_json(str(runs / "Dataset200_SynthOrganLesion" / "fold_0" / "summary.json"))
    splits = load_json(str(out / "label_fraction_splits.json"))
    assert {c["reference_file"].rsplit("/", 1)[-1] for c in summary["metric_per_case"]} == \
        {f"{c}.nii.gz" for c in splits[0]["val"]}
    # one model on every case of 201 (fold 'all'), trained once for both folds with the benchmark's schedule
    (model,) = runs.glob("Dataset201_*/nnsslScratchTrainer__nnsslPlans__3d_fullres/fold_all/checkpoint_final.pth")
    import torch

    assert torch.load(model, map_location="cpu", weights_only=False)["current_epoch"] == 1
    assert 0 < by_fold[0].pop() <= 1  # Dice of a real prediction (nnU-Net's compute_metrics_on_folder)
