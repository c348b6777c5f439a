"""Seeded runs: one seed per run, recorded, from which every random draw of a run follows.

A pretraining run's ``seed`` (``nnssl_pretrain --seed``, default 0, in its run configuration and checkpoint) seeds
Python's, NumPy's and torch's generators when the trainer is built (before the network is initialised), offset by
the DDP rank, and each data-loader worker gets its own seed derived from it (batchgenerators reseeds NumPy per
worker with it). The views, the pair and partition sampling and the masks draw from those generators, so two runs
with the same seed and settings on the same machine and device give the same first steps (CUDA kernels may still
differ in the last bits; ``torch.use_deterministic_algorithms`` is not switched on).

Stock nnU-Net seeds nothing; nnssl's fine-tune trainers record the seed torch drew for the process
(``torch.initial_seed()``) in ``nnssl_finetune.json``, and seed it themselves when ``nnSSL_SEED`` is set (also
recorded, and a resume with another seed is refused).
"""

import random

import numpy as np
import torch

SEED_ENV = "nnSSL_SEED"
#: keeps worker seeds of different ranks apart (rank r, worker w: seed + WORKER_STRIDE * r + w + 1)
WORKER_STRIDE = 1000


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch's CPU and CUDA generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def worker_seeds(seed: int, rank: int, workers: int) -> list[int]:
    """One distinct seed per data-loader worker of ``rank``."""
    return [(seed + WORKER_STRIDE * rank + w + 1) % 2**32 for w in range(workers)]


def seed_from_environment() -> int | None:
    """Seed every generator from ``$nnSSL_SEED`` when it is set (returns the seed), else leave them (None).

    Raises:
        ValueError: a value that is not an integer in 0..2**32-1, naming it.
    """
    import os

    text = os.environ.get(SEED_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) >= 2**32:
        raise ValueError(f"{SEED_ENV}={text!r}: give an integer in 0..{2**32 - 1}, or unset it")
    seed_everything(int(text))
    return int(text)
