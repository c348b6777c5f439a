"""Case sampling of a pool: uniform over cases (nnU-Net's draw) or each source dataset equally often."""

import os
from collections import Counter

import numpy as np
import pytest
from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

from nnssl.case_ids import case_dataset_id
from nnssl.data.dataset_weights import case_probabilities, describe_sampling
from nnssl.io import load_json
from nnssl.run_config import PretrainConfig

IDS = [f"D101__c{i}" for i in range(6)] + ["D102__c0"] + [f"D103__c{i}" for i in range(3)]


def test_datasets_mode_gives_every_dataset_the_same_mass_and_is_uniform_inside_one():
    p = case_probabilities(IDS, "datasets")
    assert p.shape == (len(IDS),) and p.sum() == pytest.approx(1)
    mass = Counter()
    for key, q in zip(IDS, p, strict=True):
        mass[case_dataset_id(key)] += q
    assert all(m == pytest.approx(1 / 3) for m in mass.values())
    assert len({q for k, q in zip(IDS, p, strict=True) if k.startswith("D101")}) == 1
    assert case_probabilities(IDS, "cases") is None  # nnU-Net's own uniform draw


def test_log_line_names_sizes_and_shares():
    assert describe_sampling(IDS, "cases") == ("case sampling 'cases' (101: 6 cases, 60% of draws, 102: 1 cases, "
                                               "10% of draws, 103: 3 cases, 30% of draws)")
    assert "102: 1 cases, 33% of draws" in describe_sampling(IDS, "datasets")


def test_bad_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="dataset_sampling must be one of cases, datasets, got 'balanced'"):
        case_probabilities(IDS, "balanced")
    with pytest.raises(ValueError, match="got 'balanced'"):
        PretrainConfig(dataset_sampling="balanced")


def test_nnunet_loader_draws_each_dataset_equally_often(pool_env):
    """On a real preprocessed pool cut to unequal sizes (4 / 1 / 2 cases), nnU-Net's loader with these
    probabilities draws each source dataset about a third of the time; without them, in proportion to size."""
    from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].pool_name)
    every = nnUNetDatasetBlosc2(os.path.join(pre, "nnsslPlans_3d_fullres")).identifiers
    by = {d: sorted(k for k in every if case_dataset_id(k) == d) for d in (101, 102, 103)}
    keys = by[101][:4] + by[102][:1] + by[103][:2]
    ds = nnUNetDatasetBlosc2(os.path.join(pre, "nnsslPlans_3d_fullres"), identifiers=keys)
    pm = PlansManager(os.path.join(pre, "nnsslPlans.json"))
    patch = pm.get_configuration("3d_fullres").patch_size
    lm = pm.get_label_manager(load_json(os.path.join(pre, "dataset.json")))
    np.random.seed(0)
    for mode, expected in (("datasets", (1 / 3, 1 / 3, 1 / 3)), ("cases", (4 / 7, 1 / 7, 2 / 7))):
        loader = nnUNetDataLoader(ds, 8, patch, patch, lm, sampling_probabilities=case_probabilities(ds.identifiers,
                                                                                                      mode))
        drawn = Counter(case_dataset_id(k) for _ in range(1500) for k in loader.get_indices())
        share = [drawn[d] / 12000 for d in (101, 102, 103)]
        assert share == pytest.approx(expected, abs=0.02), mode  # 12000 draws: binomial sd < 0.005


@pytest.mark.parametrize("method", ["mixcl", "regression", "global_local"])
def test_every_pretrainer_hands_the_probabilities_to_its_loaders_and_logs_them(method, pool_env, tmp_path,
                                                                              monkeypatch):
    """``dataset_sampling=datasets`` reaches nnU-Net's ``sampling_probabilities`` of each method's train and
    validation loaders, aligned with the loader's cases, and the training log names the shares."""
    import importlib

    import torch

    from nnssl.methods.registry import METHODS

    spec = METHODS[method]
    stage, trainer_name = spec.stages[0]
    cfg = spec.config_class(method=method, dataset_sampling="datasets", epochs=1, iterations_per_epoch=1,
                            **({"stage": stage} if method == "global_local" else {}))
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].pool_name)
    cls = getattr(importlib.import_module(f"nnssl.methods.{method}.trainer"), trainer_name)
    plans = {**load_json(os.path.join(pre, "nnsslPlans.json")), "continue_training": False}  # as run_training passes
    key = f"{method}_{stage}" if stage else method
    plans["nnssl"] = {**plans["nnssl"], "runs": {key: cfg.to_json()}}  # the record nnssl_pretrain writes
    trainer = cls(plans, "3d_fullres", "all",
                  load_json(os.path.join(pre, "dataset.json")), device=torch.device("cpu"))
    trainer.initialize()
    logged = []
    monkeypatch.setattr(trainer, "print_to_log_file", lambda *a, **_: logged.append(" ".join(map(str, a))))
    dl_tr, dl_val = trainer.get_dataloaders()
    for dl in (dl_tr, dl_val):
        loader = dl.data_loader
        np.testing.assert_allclose(loader.sampling_probabilities, case_probabilities(loader.indices, "datasets"))
    assert any("case sampling 'datasets' (101: " in line for line in logged)
