"""Pooled planning on synthetic datasets through nnU-Net's own fingerprinting, planning, preprocessing."""

import json
import os

import pytest

from nnssl.data.synthetic import SyntheticSpec, write_dataset
from nnssl.planning.pooled import case_dataset_id, pool_dataset_name, validate_pool


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
