"""Seeded pretraining: the same seed gives the same first batch and loss terms, another seed does not."""

import os

import pytest
import torch

from nnssl.io import load_json


def first_terms(pool_env, method: str, seed: int) -> dict:
    import importlib

    from nnssl.methods.registry import METHODS

    spec = METHODS[method]
    stage, trainer_name = spec.stages[0]
    cfg = spec.config_class(method=method, epochs=1, iterations_per_epoch=1, seed=seed,
                            **({"stage": stage} if method == "global_local" else {}))
    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].pool_name)
    plans = {**load_json(os.path.join(pre, "nnsslPlans.json")), "continue_training": False}
    plans["nnssl"] = {**plans["nnssl"], "runs": {f"{method}_{stage}" if stage else method: cfg.to_json()}}
    cls = getattr(importlib.import_module(f"nnssl.methods.{method}.trainer"), trainer_name)
    trainer = cls(plans, "3d_fullres", "all", load_json(os.path.join(pre, "dataset.json")), device=torch.device("cpu"))
    trainer.initialize()
    dl_tr, _ = trainer.get_dataloaders()
    batch = next(dl_tr)
    with torch.no_grad():
        terms = trainer._forward_terms(batch)
    return {k: float(v) for k, v in terms.items() if isinstance(v, torch.Tensor) and v.numel() == 1}


@pytest.mark.parametrize("method", ["mixcl", "regression"])
def test_the_same_seed_repeats_the_first_step_and_another_seed_does_not(pool_env, monkeypatch, method):
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    a, b, c = (first_terms(pool_env, method, s) for s in (5, 5, 6))
    assert a == b
    assert a["loss"] != c["loss"]
