"""Pooled planning on synthetic datasets through nnU-Net's own fingerprinting, planning, preprocessing."""

import json
import os
import shutil

import numpy as np
import pytest

from nnssl.case_ids import case_dataset_id
from nnssl.data.synthetic import SyntheticSpec, write_dataset
from nnssl.planning.datasets import pool_dataset_name, validate_pool


def load(path):
    with open(path) as f:
        return json.load(f)


def test_one_plan_shared_by_every_dataset_with_own_intensity_statistics(pool_env):
    pre = pool_env["env"]["nnUNet_preprocessed"]
    pool = pool_env["pool"]
    names = [*pool.sources.values(), pool.target[1], pool.pool_name]
    plans = {n: load(os.path.join(pre, n, "nnsslPlans.json")) for n in names}
    arch = {json.dumps(p["configurations"]["3d_fullres"]["architecture"], sort_keys=True) for p in plans.values()}
    for key in ("patch_size", "spacing", "batch_size"):
        assert len({json.dumps(p["configurations"]["3d_fullres"][key]) for p in plans.values()}) == 1, key
    assert len(arch) == 1
    for n in [*pool.sources.values(), pool.target[1]]:
        own = load(os.path.join(pre, n, "dataset_fingerprint.json"))["foreground_intensity_properties_per_channel"]
        assert plans[n]["foreground_intensity_properties_per_channel"] == own
        assert plans[n]["dataset_name"] == n
    means = {p["foreground_intensity_properties_per_channel"]["0"]["mean"] for p in plans.values()}
    assert len(means) == len(plans)  # every dataset (and the pool record) keeps its own statistics
    assert plans[pool.target[1]]["nnssl"]["role"] == "target"


def test_pool_cases_are_prefixed_with_their_dataset(pool_env):
    pre = pool_env["env"]["nnUNet_preprocessed"]
    pool = pool_env["pool"]
    folder = os.path.join(pre, pool.pool_name, "nnsslPlans_3d_fullres")
    ids = sorted({f.split(".")[0].removesuffix("_seg") for f in os.listdir(folder)})
    assert len(ids) == 12
    assert {case_dataset_id(i) for i in ids} == {101, 102, 103}
    dj = load(os.path.join(pre, pool.pool_name, "dataset.json"))
    assert dj["numTraining"] == 12 and "local" in dj["description"]
    with pytest.raises(ValueError, match="pooled case id"):
        case_dataset_id("case_000")


def test_rerun_reuses_the_pool_id(pool_env):
    pool = pool_env["pool"]
    assert pool_dataset_name([103, 101, 102]) == (pool.pool_id, pool.pool_name)


def test_raw_data_is_never_modified(pool_env):
    from tests.conftest import tree_digest

    assert tree_digest(pool_env["env"]["nnUNet_raw"]) == pool_env["raw_digest"]


def test_validation_errors_before_any_work(pool_env, tmp_path):
    raw = pool_env["env"]["nnUNet_raw"]
    with pytest.raises(ValueError, match=r"dataset id 777 not found.*101"):
        validate_pool([101, 777], None, True)
    with pytest.raises(ValueError, match="also a pretraining source"):
        validate_pool([101, 200], 200, True)
    with pytest.raises(ValueError, match="duplicate"):
        validate_pool([101, 101], None, True)
    two = write_dataset(raw, SyntheticSpec(150, "TwoChannel", "blobs", 1))
    dj = load(os.path.join(two, "dataset.json"))
    dj["channel_names"] = {"0": "MRI", "1": "MRI"}
    unl = write_dataset(raw, SyntheticSpec(151, "NoLabels", "blobs", 1))
    dj2 = load(os.path.join(unl, "dataset.json"))
    dj2["labels"] = {"background": 0}
    try:
        with open(os.path.join(two, "dataset.json"), "w") as f:
            json.dump(dj, f)
        with open(os.path.join(unl, "dataset.json"), "w") as f:
            json.dump(dj2, f)
        with pytest.raises(ValueError, match="different numbers of input channels"):
            validate_pool([101, 150], None, True)
        with pytest.raises(ValueError, match=r"no foreground labels.*--allow-unlabelled"):
            validate_pool([101, 151], None, True)
        validate_pool([101, 151], None, False)  # explicitly allowed
    finally:
        import shutil

        shutil.rmtree(two)
        shutil.rmtree(unl)


def test_plan_from_target_gives_the_sources_the_targets_network(nnunet_env):
    """--plan-from-target: a differently shaped source is preprocessed with the target's plan; target untouched."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
        preprocess_dataset,
    )

    from nnssl.planning.planner import planning_safe_env
    from nnssl.planning.pooled import plan_and_preprocess_pool
    from tests.conftest import tree_digest

    raw, pre = nnunet_env["nnUNet_raw"], nnunet_env["nnUNet_preprocessed"]
    write_dataset(raw, SyntheticSpec(210, "SmallTarget", "blobs", 3), shape=(24, 32, 24))
    write_dataset(raw, SyntheticSpec(211, "BigSource", "shells", 3), shape=(40, 72, 64), spacing=(1.5, 1.0, 1.0))
    extract_fingerprint_dataset(210, num_processes=1, verbose=False)
    with planning_safe_env():  # the stock nnU-Net plan of the target, under our plans name
        plan_experiment_dataset(210, overwrite_plans_name="nnsslPlans")
    preprocess_dataset(210, "nnsslPlans", ("3d_fullres",), [1], verbose=False)
    target_dir = os.path.join(pre, "Dataset210_SmallTarget")
    before = tree_digest(target_dir)

    with pytest.raises(ValueError, match="needs the target dataset"):
        plan_and_preprocess_pool([211], None, plan_from_target=True)
    with pytest.raises(ValueError, match=r"OtherPlans\.json does not exist"):
        plan_and_preprocess_pool([211], 210, plans_name="OtherPlans", plan_from_target=True)
    with pytest.raises(ValueError, match="cannot be combined"):
        plan_and_preprocess_pool([211], 210, gpu_memory_target_in_gb=4, plan_from_target=True)
    pool = plan_and_preprocess_pool([211], 210, plan_from_target=True)

    assert tree_digest(target_dir) == before  # plans, records and preprocessed data of the target unchanged
    target = load(os.path.join(target_dir, "nnsslPlans.json"))["configurations"]["3d_fullres"]
    src_plans = load(os.path.join(pre, "Dataset211_BigSource", "nnsslPlans.json"))
    src = src_plans["configurations"]["3d_fullres"]
    for key in ("architecture", "patch_size", "spacing", "data_identifier"):
        assert src[key] == target[key], key
    own = load(os.path.join(pre, "Dataset211_BigSource", "dataset_fingerprint.json"))
    assert src_plans["foreground_intensity_properties_per_channel"] == \
        own["foreground_intensity_properties_per_channel"]
    assert src_plans["nnssl"]["plan_from"] == "Dataset210_SmallTarget"
    # its own median shape is larger than the target's patch: a pooled plan would have built another network
    assert max(np.median(own["shapes_after_crop"], 0)) > max(target["patch_size"])
    folder = os.path.join(pre, pool.pool_name, target["data_identifier"])
    ids = {f.split(".")[0].removesuffix("_seg") for f in os.listdir(folder)}
    assert {case_dataset_id(i) for i in ids} == {211} and len(ids) == 3


def test_target_plans_names_the_missing_configuration(nnunet_env):
    from nnssl.io import atomic_save_json
    from nnssl.planning.assembly import target_plans

    folder = os.path.join(nnunet_env["nnUNet_preprocessed"], "Dataset210_T")
    os.makedirs(folder)
    atomic_save_json({"configurations": {"3d_fullres": {"patch_size": [8, 8, 8]}}, "nnssl": {"role": "target"}},
                     os.path.join(folder, "nnsslPlans.json"))
    with pytest.raises(ValueError, match=r"no configuration \['2d'\]; it has \['3d_fullres'\]"):
        target_plans("Dataset210_T", "nnsslPlans", ("2d",))
    plans = target_plans("Dataset210_T", "nnsslPlans", ("3d_fullres",))
    assert "nnssl" not in plans and plans["configurations"]["3d_fullres"]["patch_size"] == [8, 8, 8]


def test_default_plans_alias_lets_stock_commands_run_without_p_and_never_replaces_user_plans(nnunet_env):
    """nnUNetPlans.json becomes nnssl's plan (same data identifier); a user's own file is left alone."""
    from nnssl.planning.aliases import default_plans_alias

    folder = os.path.join(nnunet_env["nnUNet_preprocessed"], "Dataset200_T")
    os.makedirs(folder)
    ours = {"plans_name": "nnsslPlans", "configurations": {"2d": {"data_identifier": "nnsslPlans_2d"}},
            "nnssl": {"role": "target", "pretrained": {}}}
    with open(os.path.join(folder, "nnsslPlans.json"), "w") as f:
        json.dump(ours, f)
    alias = default_plans_alias("Dataset200_T", "nnsslPlans")
    written = load(alias)
    assert os.path.basename(alias) == "nnUNetPlans.json" and written["plans_name"] == "nnUNetPlans"
    assert written["configurations"] == ours["configurations"]  # same preprocessed data: nothing to redo
    assert written["nnssl"]["alias_of"] == "nnsslPlans"

    ours["nnssl"]["pretrained"] = {"2d": {"mixcl": "/ckpt.pth"}}  # a recorded checkpoint reaches the alias
    with open(os.path.join(folder, "nnsslPlans.json"), "w") as f:
        json.dump(ours, f)
    assert load(default_plans_alias("Dataset200_T", "nnsslPlans"))["nnssl"]["pretrained"]["2d"]["mixcl"] == "/ckpt.pth"

    user = {"plans_name": "nnUNetPlans", "configurations": {"2d": {"data_identifier": "nnUNetPlans_2d"}}}
    with open(alias, "w") as f:
        json.dump(user, f)
    assert default_plans_alias("Dataset200_T", "nnsslPlans") is None
    assert load(alias) == user  # never replaced
    assert default_plans_alias("Dataset200_T", "nnUNetPlans") is None  # nothing to alias


def test_unchanged_plan_and_data_are_not_preprocessed_again(nnunet_env, monkeypatch, capsys):
    """Rerunning reuses preprocessed data; a changed raw file re-fingerprints and re-preprocesses that dataset."""
    import nnunetv2.experiment_planning.plan_and_preprocess_api as api
    import SimpleITK as sitk

    from nnssl.planning.pooled import plan_and_preprocess_pool

    raw = nnunet_env["nnUNet_raw"]
    src = write_dataset(raw, SyntheticSpec(101, "Src", "blobs", 3), shape=(16, 20, 16))
    write_dataset(raw, SyntheticSpec(200, "Tgt", "shells", 3), shape=(16, 20, 16))
    calls = []
    real = api.preprocess_dataset
    monkeypatch.setattr(api, "preprocess_dataset", lambda d, *a, **k: calls.append(d) or real(d, *a, **k))

    plan_and_preprocess_pool([101], 200)
    assert sorted(calls) == [101, 200]
    calls.clear()
    capsys.readouterr()
    plan_and_preprocess_pool([101], 200, batch_size=1)  # the batch size does not change preprocessed data
    assert calls == []
    assert capsys.readouterr().out.count("unchanged, reusing the preprocessed data") == 2

    image = os.path.join(src, "imagesTr", "case_000_0000.nii.gz")
    sitk.WriteImage(sitk.ReadImage(image) * 2.0, image)  # the user edits a raw case
    plan_and_preprocess_pool([101], 200)
    out = capsys.readouterr().out
    assert calls[0] == 101 and "raw data changed since its fingerprint" in out and "raw data" in out

    # a preprocessing that dies after nnU-Net has written part of the new data costs nothing of the old
    from tests.conftest import tree_digest

    folder = os.path.join(nnunet_env["nnUNet_preprocessed"], "Dataset101_Src")
    data, plans_file = os.path.join(folder, "nnsslPlans_3d_fullres"), os.path.join(folder, "nnsslPlans.json")
    before, plans_before = tree_digest(data), load(plans_file)

    def dies_midway(d, *a, **k):
        real(d, *a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "preprocess_dataset", dies_midway)
    edited = sitk.ReadImage(image)
    array = sitk.GetArrayFromImage(edited)
    array[: array.shape[0] // 2] += 5 * array.std()  # a change z-score normalisation does not undo
    again = sitk.GetImageFromArray(array)
    again.CopyInformation(edited)
    sitk.WriteImage(again, image)
    with pytest.raises(KeyboardInterrupt):
        plan_and_preprocess_pool([101], 200)
    assert tree_digest(data) == before and load(plans_file) == plans_before
    assert sorted(f for f in os.listdir(folder) if "partial" in f or f.endswith(".old")) == []
    monkeypatch.setattr(api, "preprocess_dataset", real)
    plan_and_preprocess_pool([101], 200)  # the next run replaces the data, leaving nothing beside it
    assert tree_digest(data) != before
    assert sorted(f for f in os.listdir(folder) if "partial" in f or f.endswith(".old")) == []


def test_preprocessing_beside_swaps_only_complete_data_and_recovers_an_interrupted_swap(tmp_path):
    from nnssl.planning.beside import preprocess_beside

    plans = {"configurations": {"2d": {"data_identifier": "P_2d"}}}
    (tmp_path / "P_2d").mkdir()
    (tmp_path / "P_2d" / "a.b2nd").write_text("old")

    def writes(name, todo):
        assert name == "P.partial" and todo == ("2d",)
        ident = load(tmp_path / f"{name}.json")["configurations"]["2d"]["data_identifier"]
        (tmp_path / ident).mkdir()
        (tmp_path / ident / "a.b2nd").write_text("new")

    preprocess_beside(str(tmp_path), plans, "P", ["2d"], writes)
    assert (tmp_path / "P_2d" / "a.b2nd").read_text() == "new" and load(tmp_path / "P.json") == plans
    assert sorted(os.listdir(tmp_path)) == ["P.json", "P_2d"]
    # died between the two renames of a swap: the old data comes back, a partial folder is dropped
    (tmp_path / "P_2d").rename(tmp_path / "P_2d.old")
    (tmp_path / "P_2d.partial").mkdir()

    def fails(name, todo):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        preprocess_beside(str(tmp_path), plans, "P", ["2d"], fails)
    assert sorted(os.listdir(tmp_path)) == ["P.json", "P_2d"] and (tmp_path / "P_2d" / "a.b2nd").read_text() == "new"
    with pytest.raises(RuntimeError, match=r"wrote no P_2d\.partial folder"):
        preprocess_beside(str(tmp_path), plans, "P", ["2d"], lambda name, todo: None)


def test_shipped_plans_files_are_valid():
    from nnssl.planning import frozen

    names = frozen.available()
    assert {"hippocampus_601_602_2d", "demo_synthetic_3d"} <= set(names)
    for name in names:
        data = frozen.load(name)
        assert data["recipe"]["sources"] and data["recipe"]["configuration"] in data["plan"]["configurations"]
    with pytest.raises(ValueError, match="did you mean 'demo_synthetic_3d'"):
        frozen.load("demo_synthetic_3")


def test_plans_from_a_saved_file_reuses_the_frozen_plan_without_planning(nnunet_env, monkeypatch, tmp_path):
    import nnssl.planning.pooled as pooled
    from nnssl.cli.pretrain import main

    raw, pre = nnunet_env["nnUNet_raw"], nnunet_env["nnUNet_preprocessed"]
    write_dataset(raw, SyntheticSpec(101, "Src", "blobs", 3), shape=(16, 20, 16))
    write_dataset(raw, SyntheticSpec(200, "Tgt", "shells", 3), shape=(16, 20, 16))
    saved = str(tmp_path / "pool.json")
    assert main(["-d", "101", "-t", "200", "--plan-only", "--plan-batch-size", "3", "--save-plans", saved]) == 0
    frozen_conf = load(saved)["plan"]["configurations"]["3d_fullres"]
    assert load(saved)["recipe"] == {"sources": [101], "target": 200, "configuration": "3d_fullres",
                                     "plan_batch_size": 3, "method": "mixcl", "schedule": "full"}

    shutil.rmtree(pre)
    os.makedirs(pre)

    def no_planning(*a, **k):
        raise AssertionError("--plans-from must not plan")

    monkeypatch.setattr(pooled, "plan_pool", no_planning)
    assert main(["--plans-from", saved, "--plan-only"]) == 0  # -d, -t, -c from the recipe
    target = load(os.path.join(pre, "Dataset200_Tgt", "nnsslPlans.json"))["configurations"]["3d_fullres"]
    for key in ("architecture", "patch_size", "spacing", "batch_size", "data_identifier"):
        assert target[key] == frozen_conf[key], key
    assert main(["--plans-from", saved, "-c", "2d", "--plan-only"]) == 2  # the command line wins: no 2d plan


@pytest.mark.parametrize(("edit", "match"), [
    (lambda p, c: p.pop("transpose_forward"), "the plan lacks 'transpose_forward'"),
    (lambda p, c: p.update(transpose_backward=[0, 0, 2]), r"transpose_backward = \[0, 0, 2\] must be a permutation"),
    (lambda p, c: c.update(spacing="abc"), "spacing = 'abc' must be a list of positive numbers"),
    (lambda p, c: c.update(batch_size="two"), "batch_size = 'two' must be an integer >= 1"),
    (lambda p, c: c.update(batch_size=0), "batch_size = 0 must be an integer >= 1"),
    (lambda p, c: c.update(patch_size=[10000, 10000, 10000]), r"patch_size \[10000, 10000, 10000\] has 1e\+12 voxels"),
    (lambda p, c: c.update(batch_size=4096), "voxels per step"),
    (lambda p, c: c.update(patch_size=[40, 56]), "have different lengths"),
    (lambda p, c: c.pop("architecture"), "lacks 'architecture'"),
])
def test_a_tampered_frozen_plan_is_refused_as_a_whole_before_any_work(tmp_path, edit, match):
    """A bad --plans-from file never reaches the target's plans (nor deletes preprocessed data)."""
    import copy

    from nnssl.planning import frozen

    data = copy.deepcopy(frozen.load("demo_synthetic_3d"))
    edit(data["plan"], data["plan"]["configurations"]["3d_fullres"])
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match) as err:
        frozen.load(str(path))
    assert "nothing was written" in str(err.value)
