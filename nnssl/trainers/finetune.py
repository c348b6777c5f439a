"""Fine-tuning trainers: stock nnU-Net training initialised from a nnssl checkpoint.

``MixCLFinetuneTrainer`` is nnU-Net's trainer plus one step in ``initialize``: load the
transferable weights (prefix-filtered, shape-checked) of the checkpoint recorded in the target's
plans under the run name (``ssl_run``), or of ``$nnSSL_PRETRAINED``. ``nnsslScratchTrainer`` is the
same trainer without the load, so comparisons share one schedule. Short variants follow nnU-Net's
naming (``_5epochs``) plus ``_<E>ep<I>it`` variants for CPU smoke runs.
"""

from typing import ClassVar

__all__ = [
    "MixCLFinetuneTrainer",
    "MixCLFinetuneTrainer_2ep5it",
    "MixCLFinetuneTrainer_5ep20it",
    "MixCLFinetuneTrainer_5epochs",
    "nnsslScratchTrainer",
    "nnsslScratchTrainer_2ep5it",
    "nnsslScratchTrainer_5ep20it",
    "nnsslScratchTrainer_5epochs",
]

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnssl.checkpoint import load_transferable_weights, resolve_pretrained_checkpoint
from nnssl.trainers.base import AtomicCheckpointMixin


class nnsslScratchTrainer(AtomicCheckpointMixin, nnUNetTrainer):
    """nnU-Net training from random init, with the schedule every nnssl fine-tune trainer uses.

    ``schedule`` = (epochs, iterations per epoch, validation iterations); None keeps nnU-Net's value.
    """

    ssl_run: ClassVar[str | None] = None
    schedule: ClassVar[tuple[int | None, int | None, int | None]] = (None, None, None)

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        epochs, iterations, val_iterations = self.schedule
        self.num_epochs = epochs or self.num_epochs
        self.num_iterations_per_epoch = iterations or self.num_iterations_per_epoch
        self.num_val_iterations_per_epoch = val_iterations or self.num_val_iterations_per_epoch

    def initialize(self):
        super().initialize()
        if self.ssl_run is not None:
            path = resolve_pretrained_checkpoint(self.plans_manager.plans, self.configuration_name, self.ssl_run)
            self.print_to_log_file(load_transferable_weights(self.network, path).summary())


class MixCLFinetuneTrainer(nnsslScratchTrainer):
    """Fine-tune from the MixCL checkpoint recorded by ``nnssl_pretrain -m mixcl -t <this dataset>``."""

    ssl_run = "mixcl"


class nnsslScratchTrainer_5epochs(nnsslScratchTrainer):
    schedule = (5, None, None)


class MixCLFinetuneTrainer_5epochs(MixCLFinetuneTrainer):
    schedule = (5, None, None)


class nnsslScratchTrainer_2ep5it(nnsslScratchTrainer):
    """CPU smoke schedule: 2 epochs x 5 iterations, 2 validation iterations."""

    schedule = (2, 5, 2)


class MixCLFinetuneTrainer_2ep5it(MixCLFinetuneTrainer):
    """CPU smoke schedule: 2 epochs x 5 iterations, 2 validation iterations."""

    schedule = (2, 5, 2)


class nnsslScratchTrainer_5ep20it(nnsslScratchTrainer):
    """Demo schedule: 5 epochs x 20 iterations (100 iterations), 5 validation iterations."""

    schedule = (5, 20, 5)


class MixCLFinetuneTrainer_5ep20it(MixCLFinetuneTrainer):
    """Demo schedule: 5 epochs x 20 iterations (100 iterations), 5 validation iterations."""

    schedule = (5, 20, 5)
