"""nnU-Net master's pretrained path reads nnssl checkpoints: ``preprocess_like_nnssl``, ``plan_like_dynamic`` and
``PretrainedTrainer``'s weight loading, run from master's own source in a subprocess (2.8.1 stays installed)."""

import json
import os
import subprocess
import sys

import pytest
import torch

#: runs inside the subprocess, with master's nnunetv2 first on PYTHONPATH
SCRIPT = r'''
import glob, json, os, sys
import torch
import nnunetv2
assert os.path.abspath(nnunetv2.__file__).startswith(sys.argv[2]), nnunetv2.__file__
from nnunetv2.experiment_planning.like_nnssl import plan_like_dynamic, preprocess_like_nnssl
from nnunetv2.training.nnUNetTrainer.pretraining.pretrainedTrainer import PretrainedTrainer

ckpt = sys.argv[1]
preprocess_like_nnssl(200, "nnssl_ours", ckpt, "like_pretrained", None, 1, False)
pre = os.path.join(os.environ["nnUNet_preprocessed"], "Dataset200_SynthOrganLesion")
plans = json.load(open(glob.glob(os.path.join(pre, "ptPlans__nnssl_ours____*.json"))[0]))
conf, info = plans["configurations"]["3d_fullres"], plans["pretrain_info"]
arch = conf["architecture"]
net = PretrainedTrainer.build_network_architecture(arch["network_class_name"], arch["arch_kwargs"],
                                                   arch["_kw_requires_import"], conf["patch_size"], 1, 3,
                                                   enable_deep_supervision=False)
net, _ = PretrainedTrainer.load_pretrained_weights(
    net, info["checkpoint_path"], info["pt_num_in_channels"], 1, info["pt_used_patchsize"], conf["patch_size"],
    info["key_to_encoder"], info["key_to_stem"], tuple(info["keys_to_in_proj"]), info["key_to_lpe"])
source = torch.load(ckpt, weights_only=True, map_location="cpu")["network_weights"]
loaded = net.state_dict()
stem = net.key_to_stem + "."
enc = [k for k in loaded if k.startswith("encoder.")]
equal = [k for k in enc if torch.equal(loaded[k], source[k])]
data = os.path.join(pre, conf["data_identifier"])
plan_like_dynamic(200, "nnssl_ours_dyn", ckpt, plans_identifier="nnUNetPlans", num_processes=1)
dyn = json.load(open(os.path.join(pre, "ptPlans_dynamic__nnssl_ours_dyn.json")))
print("RESULT " + json.dumps({
    "class": type(net).__name__, "encoder": len(enc), "equal": len(equal),
    "stem": len([k for k in enc if k.startswith(stem)]),
    "stem_equal": len([k for k in equal if k.startswith(stem)]),
    "preprocessed_cases": len([f for f in os.listdir(data) if f.endswith((".b2nd", ".npz", ".npy"))]),
    "dynamic_key_to_stem": dyn["pretrain_info"]["key_to_stem"]}))
'''


def _run_master(peers, ckpt: str, tmp_path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([peers["master"], peers["stubs"]])}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, ckpt, peers["master"]], env=env, capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])


def _check(result: dict, network: str, ckpt: str) -> None:
    assert result["class"] == network
    assert result["encoder"] > 0 and result["equal"] == result["encoder"], result  # every encoder tensor, stem too
    assert result["stem"] > 0 and result["stem_equal"] == result["stem"], result
    assert result["preprocessed_cases"] >= 4
    weights = torch.load(ckpt, weights_only=True, map_location="cpu")["nnssl_adaptation_plan"]
    assert result["dynamic_key_to_stem"] == weights["key_to_stem"]


@pytest.mark.slow
def test_master_reads_a_plain_nnssl_checkpoint(peers, nnunet_env, tmp_path):
    from nnssl.cli import pretrain
    from nnssl.data.synthetic import write_demo_pool
    from nnssl.io import load_json

    write_demo_pool(nnunet_env["nnUNet_raw"], num_cases=4, target_cases=4, shape=(32, 40, 32))
    assert pretrain.main(["-d", "101", "102", "103", "-t", "200", "-m", "mixcl", "--epochs", "1",
                          "--iterations", "2", "--val-iterations", "1", "-device", "cpu"]) == 0
    pre = os.path.join(nnunet_env["nnUNet_preprocessed"], "Dataset200_SynthOrganLesion")
    ckpt = load_json(os.path.join(pre, "nnsslPlans.json"))["nnssl"]["pretrained"]["3d_fullres"]["mixcl"]
    _check(_run_master(peers, ckpt, tmp_path), "PlainConvUNet", ckpt)


@pytest.mark.slow
def test_master_reads_a_residual_encoder_nnssl_checkpoint(peers, resenc_pool, tmp_path, monkeypatch):
    for k, v in resenc_pool["env"].items():
        monkeypatch.setenv(k, v)
    _check(_run_master(peers, resenc_pool["checkpoint"], tmp_path), "ResidualEncoderUNet", resenc_pool["checkpoint"])
