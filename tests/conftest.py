"""Shared fixtures: nnU-Net folders in tmp, and one planned synthetic pool per session."""

import os
import shutil

import pytest

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def set_nnunet_env(root: str) -> dict:
    """nnU-Net folders below ``root`` plus the 2-core settings; returns the env dict."""
    env = {
        "nnUNet_raw": os.path.join(root, "raw"),
        "nnUNet_preprocessed": os.path.join(root, "preprocessed"),
        "nnUNet_results": os.path.join(root, "results"),
        "nnUNet_def_n_proc": "1",
        "nnUNet_n_proc_DA": "0",
    }
    for k, v in env.items():
        os.environ[k] = v
        if k.endswith(("raw", "preprocessed", "results")):
            os.makedirs(v, exist_ok=True)
    return env


@pytest.fixture
def nnunet_env(tmp_path, monkeypatch):
    """Empty nnU-Net folders in tmp_path (restored after the test)."""
    for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_def_n_proc", "nnUNet_n_proc_DA",
              "nnSSL_RUN_CONFIG", "nnSSL_PRETRAINED"):
        monkeypatch.delenv(k, raising=False)
    env = set_nnunet_env(str(tmp_path))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def tree_digest(folder: str) -> dict:
    """md5 of every file below ``folder``."""
    import hashlib

    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), folder)] = hashlib.md5(fh.read()).hexdigest()
    return out


@pytest.fixture(scope="session")
def planned_pool(tmp_path_factory):
    """Small synthetic pool (101, 102, 103 with 4 cases each) + target 200, planned and preprocessed once."""
    from nnssl.data.synthetic import write_demo_pool
    from nnssl.planning.pooled import plan_and_preprocess_pool

    root = str(tmp_path_factory.mktemp("pool"))
    saved = {k: os.environ.get(k) for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results",
                                            "nnUNet_def_n_proc", "nnUNet_n_proc_DA")}
    env = set_nnunet_env(root)
    write_demo_pool(env["nnUNet_raw"], num_cases=4, target_cases=6, shape=(32, 40, 32))
    raw_before = tree_digest(env["nnUNet_raw"])
    pool = plan_and_preprocess_pool([101, 102, 103], 200)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    return {"root": root, "env": env, "pool": pool, "raw_digest": raw_before}


@pytest.fixture
def pool_env(planned_pool, monkeypatch):
    """Activate the planned pool's nnU-Net folders for one test."""
    for k, v in planned_pool["env"].items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("nnSSL_RUN_CONFIG", raising=False)
    monkeypatch.delenv("nnSSL_PRETRAINED", raising=False)
    return planned_pool


def copy_shared_dataset(name: str, raw_root: str, new_id: int, cases: list[str] | None = None) -> str:
    """Copy (part of) a dataset from ../shared/data into a temp nnUNet_raw under a new id."""
    src = os.path.join(SHARED_DATA, name)
    if not os.path.isdir(src):
        pytest.skip(f"real data {src} not present (see ../shared/data/README.md)")
    import json

    with open(os.path.join(src, "dataset.json")) as f:
        dj = json.load(f)
    dst = os.path.join(raw_root, f"Dataset{new_id:03d}_{name.split('_', 1)[1]}")
    os.makedirs(os.path.join(dst, "imagesTr"))
    os.makedirs(os.path.join(dst, "labelsTr"))
    fe = dj["file_ending"]
    all_cases = sorted(f[: -len(fe)] for f in os.listdir(os.path.join(src, "labelsTr")) if f.endswith(fe))
    cases = cases if cases is not None else all_cases
    for c in cases:
        shutil.copy(os.path.join(src, "labelsTr", c + fe), os.path.join(dst, "labelsTr", c + fe))
        for ch in range(len(dj["channel_names"])):
            f = f"{c}_{ch:04d}{fe}"
            shutil.copy(os.path.join(src, "imagesTr", f), os.path.join(dst, "imagesTr", f))
    dj["numTraining"] = len(cases)
    with open(os.path.join(dst, "dataset.json"), "w") as f:
        json.dump(dj, f)
    return dst
