"""Every method's pretraining learns: its own optimiser, on one fixed batch, lowers its own loss.

A fixed batch takes the data's noise out: ten steps of the method's optimiser (its learning rate, its
parameters) must lower the loss of that batch, evaluated the same way (same seed) before and after. A loss whose
gradient does not reach the network, a sign error, a frozen or detached part, or an optimiser that holds no
parameters all fail this; "the run finished" would pass them.
"""

import pytest
import torch

from tests.conftest import build_pretrainer

STEPS = 10


def _loss(trainer, batch) -> float:
    torch.manual_seed(0)  # any random draw inside the forward (masks, samples) is the same before and after
    with torch.no_grad():
        return float(trainer._forward_terms(batch)["loss"])


@pytest.mark.slow
@pytest.mark.parametrize(("method", "stage_index"), [("mixcl", 0), ("regression", 0), ("global_local", 0),
                                                     ("global_local", 1), ("supervised", 0)])
def test_the_method_lowers_its_loss_on_a_fixed_batch(pool_env, monkeypatch, method, stage_index):
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    trainer = build_pretrainer(pool_env, method, seed=3, stage_index=stage_index, iterations=STEPS)
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
