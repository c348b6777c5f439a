"""Every method's pretraining learns: its own optimiser, on one fixed batch, lowers its own loss.

A fixed batch takes the data's noise out: ten steps of the method's optimiser (its learning rate, its
parameters) must lower the loss of that batch, evaluated the same way (same seed) before and after. A loss whose
gradient does not reach the network, a sign error, a frozen or detached part, or an optimiser that holds no
parameters all fail this; "the run finished" would pass them.
"""

import importlib
import os

import pytest
import torch

from nnssl.io import load_json

STEPS = 10


def _trainer(pool_env, method: str, stage_index: int):
    from nnssl.methods.registry import METHODS

    spec = METHODS[method]
    stage, trainer_name = spec.stages[stage_index]
    cfg = spec.config_class(method=method, epochs=1, iterations_per_epoch=STEPS, seed=3,
                            **({"stage": stage} if method == "global_local" else {}))
    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].pool_name)
    plans = {**load_json(os.path.join(pre, "nnsslPlans.json")), "continue_training": False}
    plans["nnssl"] = {**plans["nnssl"], "runs": {f"{method}_{stage}" if stage else method: cfg.to_json()}}
    cls = getattr(importlib.import_module(f"nnssl.methods.{method}.trainer"), trainer_name)
    trainer = cls(plans, "3d_fullres", "all", load_json(os.path.join(pre, "dataset.json")), device=torch.device("cpu"))
    trainer.initialize()
    return trainer


def _loss(trainer, batch) -> float:
    torch.manual_seed(0)  # any random draw inside the forward (masks, samples) is the same before and after
    with torch.no_grad():
        return float(trainer._forward_terms(batch)["loss"])


@pytest.mark.slow
@pytest.mark.parametrize(("method", "stage_index"), [("mixcl", 0), ("regression", 0), ("global_local", 0),
                                                     ("global_local", 1), ("supervised", 0)])
def test_the_method_lowers_its_loss_on_a_fixed_batch(pool_env, monkeypatch, method, stage_index):
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    trainer = _trainer(pool_env, method, stage_index)
    dl_tr, _ = trainer.get_dataloaders()
    batch = next(dl_tr)
    trainer.network.train()
    trainer._iteration = 1  # past the first-step gradient probe (it needs on_train_start's state)
    before = _loss(trainer, batch)
    for _ in range(STEPS):
        torch.manual_seed(0)
        trainer.train_step(batch)
    after = _loss(trainer, batch)
    assert after < before, f"{method}: loss {before:.4f} -> {after:.4f} after {STEPS} steps on one batch"
