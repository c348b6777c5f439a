"""A named run is identified by its plans identifier: its pretraining trainer finds its own configuration and
writes into its own nnU-Net folder, with no environment variable (what a stock ``nnUNetv2_train --c`` relies on)."""

import copy
import os

import pytest
import torch

from nnssl.io import load_json


def test_a_named_run_s_trainer_finds_its_config_and_folder_by_its_plans(pool_env, monkeypatch, tmp_path):
    from nnssl.methods.mixcl.config import MixCLConfig
    from nnssl.methods.mixcl.trainer import MixCLPretrainer

    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].pool_name)
    dataset_json = load_json(os.path.join(pre, "dataset.json"))
    plans = copy.deepcopy(load_json(os.path.join(pre, "nnsslPlans.json")))
    plans["nnssl"]["runs"] = {"mixcl": MixCLConfig(epochs=3).to_json(),
                              "myrun": MixCLConfig(run_name="myrun", epochs=7).to_json()}
    named = {**plans, "plans_name": "nnsslPlans_myrun", "nnssl": {**plans["nnssl"], "alias_of": "nnsslPlans",
                                                                  "run": "myrun"}}
    cpu = torch.device("cpu")
    t = MixCLPretrainer({**named, "continue_training": False}, "3d_fullres", "all", dataset_json, cpu)
    assert (t.run_name, t.num_epochs) == ("myrun", 7) and "run 'myrun'" in t.config_source
    assert os.path.basename(os.path.dirname(t.output_folder)) == "MixCLPretrainer__nnsslPlans_myrun__3d_fullres"
    own = MixCLPretrainer({**plans, "continue_training": False}, "3d_fullres", "all", dataset_json, cpu)
    assert (own.run_name, own.num_epochs) == ("mixcl", 3)  # the method's own run, under the plans themselves
    assert os.path.basename(os.path.dirname(own.output_folder)) == "MixCLPretrainer__nnsslPlans__3d_fullres"
    # another run's configuration under this run's plans identifier would train one run into another's folder
    wrong = copy.deepcopy(named)
    wrong["nnssl"]["runs"]["myrun"] = MixCLConfig(run_name="other").to_json()
    with pytest.raises(ValueError, match="configures run 'other', but plans nnsslPlans_myrun belong to run 'myrun'"):
        MixCLPretrainer({**wrong, "continue_training": False}, "3d_fullres", "all", dataset_json, cpu)
