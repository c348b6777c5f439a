"""MIC-DKFZ/nnssl's own classes and ours, both ways, on a residual-encoder pool (their code runs in a subprocess:
it is also called ``nnssl``)."""

import json
import os
import subprocess
import sys

import pytest
import torch

#: DKFZ reads our adaptation plan with their AdaptationPlan.from_dict and rebuilds the network with their builder
READ_OURS = r'''
import json, sys, torch
import nnssl
assert nnssl.__file__.startswith(sys.argv[2]), nnssl.__file__
from nnssl.adaptation_planning.adaptation_plan import AdaptationPlan
from nnssl.architectures.get_network_from_plan import get_network_from_plans
ckpt = torch.load(sys.argv[1], weights_only=True, map_location="cpu")
plan = AdaptationPlan.from_dict(ckpt["nnssl_adaptation_plan"])
arch = plan.architecture_plans.serialize()
net = get_network_from_plans(arch["arch_class_name"], arch["arch_kwargs"], arch["arch_kwargs_requiring_import"],
                             plan.pretrain_num_input_channels, 3, deep_supervision=True)
own = {k: v for k, v in ckpt["network_weights"].items() if ".seg_layers." not in k}
missing, unexpected = net.load_state_dict(own, strict=False)
print("RESULT " + json.dumps({"class": type(net).__name__, "missing": [k for k in missing if ".seg_layers." not in k],
                              "unexpected": list(unexpected), "key_to_stem": plan.key_to_stem,
                              "configurations": list(plan.pretrain_plan.configurations)}))
'''

#: DKFZ writes a checkpoint the way their trainer's save_checkpoint does, for an architecture given as JSON
WRITE_THEIRS = r'''
import json, sys, torch
from torch import nn
from nnssl.adaptation_planning.adaptation_plan import AdaptationPlan, ArchitecturePlans, DynamicArchitecturePlans
from nnssl.architectures.get_network_from_plan import get_network_from_plans
from nnssl.experiment_planning.experiment_planners.plan import ConfigurationPlan, Plan
spec = json.loads(sys.argv[2])
kwargs = dict(spec["arch_kwargs"])
arch = ArchitecturePlans("ResidualEncoderUNet", DynamicArchitecturePlans(**kwargs))
serial = arch.serialize()
net = get_network_from_plans(serial["arch_class_name"], serial["arch_kwargs"], serial["arch_kwargs_requiring_import"],
                             1, 1, deep_supervision=False)
with torch.no_grad():
    for p in net.parameters():
        p.add_(torch.randn_like(p))  # far from any fresh init
conf = ConfigurationPlan(data_identifier="dkfz", preprocessor_name="DefaultPreprocessor", spacing_style="onemmiso",
                         normalization_schemes=["ZScoreNormalization"], use_mask_for_norm=[False],
                         resampling_fn_data="resample_data_or_seg_to_shape", resampling_fn_data_kwargs={},
                         resampling_fn_mask="resample_data_or_seg_to_shape", resampling_fn_mask_kwargs={},
                         spacing=[1.0, 1.0, 1.0], patch_size=spec["patch_size"])
plan = Plan(dataset_name="Dataset745_OpenMind", plans_name="nnsslPlans", original_median_spacing_after_transp=[1, 1, 1],
            image_reader_writer="SimpleITKIO", transpose_forward=[0, 1, 2], transpose_backward=[0, 1, 2],
            configurations={"onemmiso": conf}, experiment_planner_used="FixedResEncUNetPlanner")
adaptation = AdaptationPlan(arch, plan, 1, spec["patch_size"], "encoder.stages", "encoder.stem",
                            ("encoder.stem.convs.0.conv", "encoder.stem.convs.0.all_modules.0"))
torch.save({"network_weights": net.state_dict(), "optimizer_state": {}, "grad_scaler_state": None, "logging": {},
            "_best_ema": None, "current_epoch": 1, "init_args": {}, "trainer_name": "BaseMAETrainer",
            "nnssl_adaptation_plan": adaptation.serialize()}, sys.argv[1])
'''


def _run(script: str, args: list[str], peers: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(peers["dkfz"], "src"), peers["dna"]])}
    proc = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


@pytest.mark.slow
def test_dkfz_reads_our_resenc_checkpoint_and_we_read_theirs_whole(peers, resenc_pool, tmp_path, monkeypatch):
    from nnssl.io import load_json
    from nnssl.methods.registry import finetune_trainer_class

    for k, v in resenc_pool["env"].items():
        monkeypatch.setenv(k, v)
    pre = os.path.join(resenc_pool["env"]["nnUNet_preprocessed"], "Dataset200_SynthOrganLesion")
    plans, ours = resenc_pool["plans"], resenc_pool["checkpoint"]

    # theirs reads ours: AdaptationPlan.from_dict, their builder, every non-output tensor fits
    proc = _run(READ_OURS, [ours, os.path.join(peers["dkfz"], "src")], peers, tmp_path)
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["class"] == "ResidualEncoderUNet" and result["key_to_stem"] == "encoder.stem"
    assert result["missing"] == [] and result["unexpected"] == [] and result["configurations"] == ["3d_fullres"]

    # ours reads theirs: their save_checkpoint layout, loaded by our fine-tune trainer; stem and encoder equal
    conf = plans["configurations"]["3d_fullres"]
    theirs = str(tmp_path / "dkfz_checkpoint_final.pth")
    spec = {"arch_kwargs": conf["architecture"]["arch_kwargs"], "patch_size": conf["patch_size"]}
    _run(WRITE_THEIRS, [theirs, json.dumps(spec)], peers, tmp_path)
    monkeypatch.setenv("nnSSL_PRETRAINED", theirs)
    monkeypatch.setenv("nnUNet_results", str(tmp_path / "results"))
    trainer = finetune_trainer_class("MixCLFinetuneTrainer_nnUNetSchedule")(
        {**plans, "continue_training": False}, "3d_fullres", 0, load_json(os.path.join(pre, "dataset.json")),
        device=torch.device("cpu"))
    trainer.initialize()
    source = torch.load(theirs, weights_only=True)["network_weights"]
    loaded = trainer.network.state_dict()
    stem = [k for k in source if k.startswith("encoder.stem.")]
    encoder = [k for k in source if k.startswith("encoder.stages.")]
    assert stem and encoder
    for k in [*stem, *encoder]:
        torch.testing.assert_close(loaded[k], source[k])
        torch.testing.assert_close(loaded["decoder." + k], source[k])  # nnU-Net's alias of the encoder
    assert f"stem {len(stem)}, encoder {len(encoder)}" in trainer.transfer_summary
    assert "MIC-DKFZ" in trainer.transfer_summary
