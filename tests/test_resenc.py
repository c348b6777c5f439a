"""Residual-encoder pools (``nnssl_pretrain -pl nnUNetPlannerResEncM``): every method pretrains a
ResidualEncoderUNet, the checkpoint says so, and the transfer fills stem, encoder and decoder of the target's net."""

import os

import pytest
import torch

from nnssl.io import load_json


@pytest.mark.slow
def test_every_method_pretrains_a_residual_encoder_pool_and_its_stem_transfers(resenc_pool, monkeypatch):
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from nnssl.checkpoint import load_transferable_weights
    from nnssl.cli import pretrain
    from nnssl.methods.registry import METHODS

    for k, v in resenc_pool["env"].items():
        monkeypatch.setenv(k, v)
    pre = os.path.join(resenc_pool["env"]["nnUNet_preprocessed"], "Dataset200_SynthOrganLesion")
    for method in sorted(METHODS):  # mixcl was pretrained by the fixture
        extra = ["--cases-per-batch", "2"] if method == "global_local" else []
        argv = ["-d", "101", "102", "103", "-t", "200", "-m", method, "-pl", "nnUNetPlannerResEncM", "--epochs", "1",
                "--iterations", "2", "--val-iterations", "1", "-device", "cpu", *extra]
        assert method == "mixcl" or pretrain.main(argv) == 0, method
        plans = load_json(os.path.join(pre, "nnsslResEncUNetMPlans.json"))
        assert plans["configurations"]["3d_fullres"]["architecture"]["network_class_name"].endswith(
            "ResidualEncoderUNet")
        ckpt = plans["nnssl"]["pretrained"]["3d_fullres"][method]
        c = torch.load(ckpt, map_location="cpu", weights_only=False)
        assert c["nnssl_adaptation_record"]["network_arch_class_name"].endswith("ResidualEncoderUNet")
        assert c["nnssl_adaptation_plan"]["key_to_stem"] == "encoder.stem"
        pm = PlansManager(os.path.join(pre, "nnsslResEncUNetMPlans.json"))
        cm = pm.get_configuration("3d_fullres")
        from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

        net = get_network_from_plans(cm.network_arch_class_name, cm.network_arch_init_kwargs,
                                     cm.network_arch_init_kwargs_req_import, 1, 3, deep_supervision=True)
        report = load_transferable_weights(net, ckpt, expected_method=method)
        assert report.parts["stem"] > 0 and report.parts["encoder"] > 0, (method, report.parts)
        stem_key = next(k for k in c["network_weights"] if k.startswith("encoder.stem."))
        torch.testing.assert_close(net.state_dict()[stem_key], c["network_weights"][stem_key])
