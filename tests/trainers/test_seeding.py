"""Seeded pretraining: the same seed gives the same first batch and loss terms, another seed does not."""


import pytest
import torch

from tests.conftest import build_pretrainer


def first_terms(pool_env, method: str, seed: int) -> dict:
    trainer = build_pretrainer(pool_env, method, seed)
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
