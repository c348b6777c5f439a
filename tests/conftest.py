"""Shared fixtures: nnU-Net folders in tmp, and one planned synthetic pool per session."""

import os
import shutil

import pytest

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


#: architecture of the tiny test network (nnU-Net plans format)
ARCH = {
    "n_stages": 3, "features_per_stage": [8, 16, 32], "conv_op": "torch.nn.modules.conv.Conv3d",
    "kernel_sizes": [[3, 3, 3]] * 3, "strides": [[1, 1, 1], [2, 2, 2], [2, 1, 2]], "n_conv_per_stage": [1, 1, 1],
    "n_conv_per_stage_decoder": [1, 1], "conv_bias": True, "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
    "norm_op_kwargs": {"eps": 1e-5, "affine": True}, "dropout_op": None, "dropout_op_kwargs": None,
    "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True},
}
REQ = ["conv_op", "norm_op", "dropout_op", "nonlin"]


def network(ds: bool = False):
    """A tiny 3-stage 3D PlainConvUNet (1 input channel, 3 classes) for fast unit tests."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    return get_network_from_plans("dynamic_network_architectures.architectures.unet.PlainConvUNet", ARCH, REQ,
                                  1, 3, allow_init=True, deep_supervision=ds)


def mixcl_model(**cfg):
    """A MixCL model around :func:`network`."""
    from nnssl.methods.mixcl.config import MixCLConfig
    from nnssl.methods.mixcl.model import MixCLModel

    net = network()
    return MixCLModel(net, net.encoder.output_channels, net.encoder.strides, 1, net.encoder.conv_op,
                      MixCLConfig(**cfg))


def mixcl_batch(b: int = 2, shape=(8, 12, 8)):
    """A random MixCL batch: views, base patches and sampled voxel labels of ``b`` pairs."""
    import torch

    torch.manual_seed(0)
    p1, p2 = torch.randn(b, 1, *shape), torch.randn(b, 1, *shape)
    coords = torch.stack([torch.randint(0, b, (40,)), *(torch.randint(0, s, (40,)) for s in shape)], 1)
    labels = torch.randint(0, 3, (40,))
    return {"v1": p1 + 0.1 * torch.randn_like(p1), "v1b": p1 + 0.1 * torch.randn_like(p1),
            "v2": p2 + 0.1 * torch.randn_like(p2), "p1": p1, "p2": p2, "coords1": coords, "labels1": labels,
            "coords2": coords.flip(0), "labels2": labels.flip(0)}


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


@pytest.fixture(scope="session")
def resenc_pool(tmp_path_factory):
    """A small synthetic pool planned with nnU-Net's residual-encoder preset (``-pl nnUNetPlannerResEncM``) and a
    smoke MixCL pretraining on it, once per session (the interop and ResEnc tests share it)."""
    from nnssl.cli import pretrain
    from nnssl.data.synthetic import write_demo_pool
    from nnssl.io import load_json

    root = str(tmp_path_factory.mktemp("resenc"))
    saved = {k: os.environ.get(k) for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results",
                                            "nnUNet_def_n_proc", "nnUNet_n_proc_DA")}
    env = set_nnunet_env(root)
    try:
        write_demo_pool(env["nnUNet_raw"], num_cases=4, target_cases=4, shape=(32, 40, 32))
        assert pretrain.main(["-d", "101", "102", "103", "-t", "200", "-m", "mixcl", "-pl", "nnUNetPlannerResEncM",
                              "--epochs", "1", "--iterations", "2", "--val-iterations", "1", "-device", "cpu"]) == 0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    pre = os.path.join(env["nnUNet_preprocessed"], "Dataset200_SynthOrganLesion")
    plans = load_json(os.path.join(pre, "nnsslResEncUNetMPlans.json"))
    return {"env": env, "plans": plans, "checkpoint": plans["nnssl"]["pretrained"]["3d_fullres"]["mixcl"]}


def build_pretrainer(pool_env, method: str, seed: int, stage_index: int = 0, iterations: int = 1):
    """The pretraining trainer of ``method``'s stage on the synthetic pool, initialised (network, optimiser), with
    its run configuration written into the plans as ``nnssl_pretrain`` does."""
    import importlib

    import torch

    from nnssl.io import load_json
    from nnssl.methods.registry import METHODS

    spec = METHODS[method]
    stage, trainer_name = spec.stages[stage_index]
    cfg = spec.config_class(method=method, epochs=1, iterations_per_epoch=iterations, seed=seed,
                            **({"stage": stage} if method == "global_local" else {}))
    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].pool_name)
    plans = {**load_json(os.path.join(pre, "nnsslPlans.json")), "continue_training": False}
    plans["nnssl"] = {**plans["nnssl"], "runs": {f"{method}_{stage}" if stage else method: cfg.to_json()}}
    cls = getattr(importlib.import_module(f"nnssl.methods.{method}.trainer"), trainer_name)
    trainer = cls(plans, "3d_fullres", "all", load_json(os.path.join(pre, "dataset.json")), device=torch.device("cpu"))
    trainer.initialize()
    return trainer
