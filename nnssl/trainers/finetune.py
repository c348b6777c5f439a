"""Fine-tuning trainers: stock nnU-Net training initialised from a nnssl checkpoint.

``<Method>FinetuneTrainer`` is nnU-Net's trainer plus one step in ``initialize``: load the
transferable weights (prefix-filtered, shape-checked) of the checkpoint that the target's plans
record for this configuration and run name (``ssl_run``), or of ``$nnSSL_PRETRAINED``.
``nnsslScratchTrainer`` is the same trainer without the load, so comparisons share one schedule.

Short variants (nnU-Net naming): ``_5epochs`` (5 x 250 iterations), and for CPU runs ``_5ep20it``
(5 x 20, demo) and ``_2ep5it`` (2 x 5, smoke tests). They are generated below for every trainer.
For other budgets (the low-label benchmark) set ``nnSSL_FINETUNE_SCHEDULE=epochs,iterations,val_iterations``;
the trainer logs the schedule it uses.
"""

import os
from typing import ClassVar

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnssl.checkpoint import load_transferable_weights, resolve_pretrained_checkpoint
from nnssl.trainers.base import AtomicCheckpointMixin

#: suffix -> (epochs, iterations per epoch, validation iterations); None keeps nnU-Net's value
SHORT_SCHEDULES = {"5epochs": (5, None, None), "5ep20it": (5, 20, 5), "2ep5it": (2, 5, 2)}
SCHEDULE_ENV = "nnSSL_FINETUNE_SCHEDULE"


def schedule_from_env() -> tuple[int, int, int] | None:
    """(epochs, iterations, val_iterations) from ``$nnSSL_FINETUNE_SCHEDULE`` or None.

    Raises:
        ValueError: if the variable is not three positive integers.
    """
    value = os.environ.get(SCHEDULE_ENV)
    if not value:
        return None
    try:
        parts = tuple(int(x) for x in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise ValueError(f"{SCHEDULE_ENV}={value!r} must be 'epochs,iterations,val_iterations' (positive integers)")
    return parts


class nnsslScratchTrainer(AtomicCheckpointMixin, nnUNetTrainer):
    """nnU-Net training from random init, with the schedule every nnssl fine-tune trainer uses."""

    ssl_run: ClassVar[str | None] = None
    schedule: ClassVar[tuple[int | None, int | None, int | None]] = (None, None, None)

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        epochs, iterations, val_iterations = schedule_from_env() or self.schedule
        self.num_epochs = epochs or self.num_epochs
        self.num_iterations_per_epoch = iterations or self.num_iterations_per_epoch
        self.num_val_iterations_per_epoch = val_iterations or self.num_val_iterations_per_epoch

    def initialize(self):
        super().initialize()
        self.print_to_log_file(f"nnssl: schedule {self.num_epochs} epochs x {self.num_iterations_per_epoch} "
                               f"iterations ({self.num_val_iterations_per_epoch} validation iterations)")
        if self.ssl_run is not None:
            path = resolve_pretrained_checkpoint(self.plans_manager.plans, self.configuration_name, self.ssl_run)
            self.print_to_log_file(load_transferable_weights(self.network, path).summary())


class MixCLFinetuneTrainer(nnsslScratchTrainer):
    """Fine-tune from the checkpoint of ``nnssl_pretrain -m mixcl -t <this dataset>``."""

    ssl_run = "mixcl"


class RegressionFinetuneTrainer(nnsslScratchTrainer):
    """Fine-tune from the checkpoint of ``nnssl_pretrain -m regression -t <this dataset>``."""

    ssl_run = "regression"


class GlobalLocalFinetuneTrainer(nnsslScratchTrainer):
    """Fine-tune (all layers) from ``nnssl_pretrain -m global_local -t <this dataset>`` (encoder + d_l)."""

    ssl_run = "global_local"


__all__ = ["GlobalLocalFinetuneTrainer", "MixCLFinetuneTrainer", "RegressionFinetuneTrainer", "nnsslScratchTrainer"]
for _base in (nnsslScratchTrainer, MixCLFinetuneTrainer, RegressionFinetuneTrainer, GlobalLocalFinetuneTrainer):
    for _suffix, _schedule in SHORT_SCHEDULES.items():
        _name = f"{_base.__name__}_{_suffix}"
        globals()[_name] = type(_name, (_base,), {
            "schedule": _schedule, "__module__": __name__,
            "__doc__": f"{_base.__name__} with schedule {_schedule} (epochs, iterations, val iterations)."})
        __all__.append(_name)
