"""Torch's CPU thread count for nnssl's trainers: ``OMP_NUM_THREADS`` wins over nnU-Net's every-core default."""

import os

import torch

THREADS_ENV = "OMP_NUM_THREADS"


def honour_thread_limit(device: torch.device) -> int | None:
    """On the CPU, set torch's thread count to ``$OMP_NUM_THREADS`` when it is set; returns the count set, or None.

    ``nnUNetv2_train -device cpu`` calls ``torch.set_num_threads(multiprocessing.cpu_count())`` before it builds
    the trainer, whatever ``OMP_NUM_THREADS`` says, so two trainings on one machine cannot be kept apart by the
    variable alone (measured on 2 cores: 209 s per 50-iteration epoch side by side against 12 s alone). The count
    changes speed only, never a result.

    Raises:
        ValueError: ``OMP_NUM_THREADS`` is set but not a whole number >= 1 (naming the value).
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if torch.device(device).type != "cpu" or not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV}={value!r}: give a whole number of threads >= 1, or unset it")
    torch.set_num_threads(int(value))
    return int(value)
