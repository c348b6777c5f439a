"""SSLTrainerBase: the one class that absorbs nnU-Net for every pretraining method.

A method subclass provides ``config_class``, ``transfer_prefixes``, ``build_ssl_model`` (an
nn.Module whose forward returns a dict of loss terms with key ``loss``) and ``build_loader``. The
base wraps the plans-built network into that model (so DDP sees one module), trains on the terms,
validates with the same terms (no Dice during SSL), logs and plots every term, and writes
checkpoints atomically whose ``network_weights`` are the plain network's unprefixed state dict.
"""

import math
import os
import sys
import tempfile
from collections import defaultdict
from typing import ClassVar

import numpy as np
import torch
from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.default_n_proc_DA import get_allowed_n_proc_DA
from nnunetv2.utilities.helpers import dummy_context
from torch import autocast, nn
from tqdm import tqdm

from nnssl.data.dataset_weights import case_probabilities, describe_sampling
from nnssl.io import atomic_save_json
from nnssl.models.base import SSLModel
from nnssl.planning.aliases import run_of
from nnssl.run_config import PretrainConfig, load_run_config
from nnssl.seeding import seed_everything, worker_seeds
from nnssl.trainers.checkpointing import AtomicCheckpointMixin, PretrainCheckpointMixin
from nnssl.trainers.ddp import ddp_device, wrap_ddp
from nnssl.trainers.monitoring import MonitoringMixin, terms_to_floats
from nnssl.trainers.threads import honour_thread_limit

__all__ = ["AtomicCheckpointMixin", "NnUNetOptimiserMixin", "SSLTrainerBase", "terms_to_floats"]


class SSLTrainerBase(PretrainCheckpointMixin, MonitoringMixin, nnUNetTrainer):
    """Pretraining trainer: loss-term training and validation, term logging, SSL checkpoints."""

    method: ClassVar[str] = ""
    config_class: ClassVar[type[PretrainConfig]] = PretrainConfig

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        if self.is_ddp:
            self.device = ddp_device(device)
            if self.device.type != "cuda":
                self.grad_scaler = None
        honour_thread_limit(self.device)
        stage = getattr(self, "stage", "")
        run = run_of(plans) or self.method  # a named run trains under its own plans identifier
        self.ssl_config, self.config_source = load_run_config(self.config_class, plans,
                                                              f"{run}{'_' + stage if stage else ''}")
        if self.ssl_config.method != self.method:
            raise ValueError(f"{self.config_source} configures method "
                             f"{self.ssl_config.method!r}, but trainer {type(self).__name__} runs {self.method!r}")
        cfg = self.ssl_config
        seed_everything(cfg.seed + self.local_rank)  # before initialize() builds the network (nnssl/seeding.py)
        self.run_name = cfg.run_name or self.method
        if self.run_name != run:
            raise ValueError(f"{self.config_source} configures run {self.run_name!r}, but plans "
                             f"{plans.get('plans_name')} belong to run {run!r}; train a named run under its plans "
                             f"identifier (-p {plans.get('plans_name')}_{self.run_name}), as nnssl_pretrain does")
        self.num_epochs = cfg.epochs
        self.num_iterations_per_epoch = cfg.iterations_per_epoch
        self.num_val_iterations_per_epoch = cfg.val_iterations
        self.initial_lr = cfg.learning_rate
        self.weight_decay = cfg.weight_decay
        self.save_every = cfg.save_every
        self.enable_deep_supervision = False
        self.term_log: dict[str, dict[str, list[float]]] = {"train": defaultdict(list), "val": defaultdict(list)}
        self._best_val: float | None = None
        self._iteration = 0
        self._theta0: dict[str, torch.Tensor] | None = None
        self.movement_log: list[dict] = []

    # ---- what a method provides -------------------------------------------------------------
    @property
    def transfer_prefixes(self) -> tuple[str, ...]:
        """Key prefixes of the plain network that fine-tuning loads."""
        raise NotImplementedError

    def build_ssl_model(self, backbone: nn.Module) -> SSLModel:
        """Wrap the plans-built network with this method's heads and loss computation."""
        raise NotImplementedError

    def build_loader(self, dataset, training: bool):
        """A batchgenerators-style loader yielding the model's keyword inputs; pass it
        ``sampling_probabilities=self.case_probabilities(dataset)``."""
        raise NotImplementedError

    def case_probabilities(self, dataset) -> np.ndarray | None:
        """Draw probability per case of ``dataset`` under ``dataset_sampling`` (None: nnU-Net's uniform draw)."""
        return case_probabilities(dataset.identifiers, self.ssl_config.dataset_sampling)

    # ---- nnU-Net hooks -----------------------------------------------------------------------
    def initialize(self):
        """nnU-Net's initialize; under DDP the wrap is ours (see :func:`wrap_ddp`)."""
        if not self.is_ddp or self.was_initialized:
            return super().initialize()
        self.is_ddp = False  # nnU-Net would pin DDP to device_ids=[global rank] and GPU-only SyncBatchNorm
        try:
            super().initialize()
        finally:
            self.is_ddp = True
        self._set_batch_size_and_oversample()  # the global batch split over the ranks, as nnU-Net does
        self.network = wrap_ddp(self.network, self.device)

    def _do_i_compile(self):
        return False

    def _set_batch_size_and_oversample(self):
        """The plan's batch, or ``--batch-size``; under DDP that is the global batch, split over ranks."""
        if self.ssl_config.batch_size is not None:
            self.configuration_manager.configuration["batch_size"] = self.ssl_config.batch_size
        super()._set_batch_size_and_oversample()

    def set_deep_supervision_enabled(self, enabled: bool):
        """The backbone is built without deep supervision; nothing to switch."""

    def configure_optimizers(self):
        """Wrap the network with the SSL heads (before DDP wrapping), then AdamW + cosine."""
        if not isinstance(self.network, SSLModel):
            self.network = self.build_ssl_model(self.network).to(self.device)
        params = [p for p in self.network.parameters() if p.requires_grad]
        return self.make_optimizer(params), None  # the schedule is set per epoch from lr_at (closed form)

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        """AdamW (MixCL's optimiser); methods override."""
        return torch.optim.AdamW(params, lr=self.initial_lr, weight_decay=self.weight_decay)

    def lr_at(self, epoch: int) -> float:
        """Cosine schedule from ``initial_lr`` to 0 over ``num_epochs``; methods override."""
        return 0.5 * self.initial_lr * (1 + math.cos(math.pi * epoch / self.num_epochs))

    def on_train_epoch_start(self):
        self.network.train()
        self._iteration = 0
        self._progress = tqdm(total=self.num_iterations_per_epoch, unit="it", leave=False,
                              desc=f"nnssl {self.method} epoch {self.current_epoch + 1}/{self.num_epochs}",
                              disable=self.local_rank != 0, mininterval=1 if sys.stderr.isatty() else 30)
        lr = self.lr_at(self.current_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.print_to_log_file("")
        self.print_to_log_file(f"Epoch {self.current_epoch}")
        self.print_to_log_file(f"Current learning rate: {self.optimizer.param_groups[0]['lr']:.3g}")
        self.logger.log("lrs", self.optimizer.param_groups[0]["lr"], self.current_epoch)

    def get_dataloaders(self):
        tr, val = self.get_tr_and_val_datasets()
        self.print_to_log_file("nnssl: " + describe_sampling(tr.identifiers, self.ssl_config.dataset_sampling))
        dl_tr, dl_val = self.build_loader(tr, True), self.build_loader(val, False)
        n = get_allowed_n_proc_DA()
        if n == 0:
            return SingleThreadedAugmenter(dl_tr, None), SingleThreadedAugmenter(dl_val, None)
        pin = self.device.type == "cuda"
        seed, n_val = self.ssl_config.seed, max(1, n // 2)
        return (NonDetMultiThreadedAugmenter(dl_tr, None, n, max(6, n // 2), worker_seeds(seed, self.local_rank, n),
                                             pin, 0.002),
                NonDetMultiThreadedAugmenter(dl_val, None, n_val, max(3, n // 4),
                                             worker_seeds(seed + 500, self.local_rank, n_val), pin, 0.002))

    def on_train_start(self):
        if self.local_rank == 0:
            super().on_train_start()
        else:  # nnU-Net 2.8.1 copies plans, dataset.json and fingerprint from every rank: only rank 0 writes
            base = self.output_folder_base
            with tempfile.TemporaryDirectory() as scratch:
                self.output_folder_base = scratch
                try:
                    super().on_train_start()
                finally:
                    self.output_folder_base = base
        self.print_to_log_file(f"nnssl: run configuration from {self.config_source}")
        self.verify_adaptation_record()
        if self.local_rank == 0:
            atomic_save_json(self.ssl_config.to_json(), os.path.join(self.output_folder, "nnssl_config.json"))
        self._theta0 = self.initial_encoder_weights()

    def _model_inputs(self, batch: dict) -> dict:
        """The batch's tensors on the device, and its python ints as they are (sizes the loader knows)."""
        return {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items() if isinstance(v, torch.Tensor) or type(v) is int}

    def _forward_terms(self, batch: dict) -> dict:
        ctx = autocast(self.device.type, enabled=True) if self.device.type == "cuda" else dummy_context()
        with ctx:
            return self.network(**self._model_inputs(batch))

    def train_step(self, batch: dict) -> dict:
        self.optimizer.zero_grad(set_to_none=True)
        terms = self._forward_terms(batch)
        if self._iteration == 0:
            terms = self.probe_gradients(terms)
        self._iteration += 1
        if getattr(self, "_progress", None) is not None:
            self._progress.update()
        loss = terms["loss"]
        self.check_finite(terms)
        if self.grad_scaler is not None:
            self.grad_scaler.scale(loss).backward()
            self.grad_scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
            self.optimizer.step()
        return terms_to_floats(terms)

    def validation_step(self, batch: dict) -> dict:
        return terms_to_floats(self._forward_terms(batch))

    def on_train_epoch_end(self, train_outputs: list[dict]):
        if getattr(self, "_progress", None) is not None:
            self._progress.close()
        self.logger.log("train_losses", self._log_terms("train", train_outputs), self.current_epoch)

    def on_validation_epoch_end(self, val_outputs: list[dict]):
        self.logger.log("val_losses", self._log_terms("val", val_outputs), self.current_epoch)

    def perform_actual_validation(self, save_probabilities: bool = False):
        """Pretraining has no segmentation to validate; print where the checkpoint went."""
        final = os.path.join(self.output_folder, "checkpoint_final.pth")
        if self.local_rank == 0 and os.path.isfile(final):
            self.print_to_log_file(f"nnssl: pretrained checkpoint: {final}")


class NnUNetOptimiserMixin:
    """nnU-Net's optimiser for a pretraining trainer: SGD (momentum 0.99, Nesterov) with its poly decay."""

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, self.initial_lr, weight_decay=self.weight_decay, momentum=0.99, nesterov=True)

    def lr_at(self, epoch: int) -> float:
        return self.initial_lr * (1 - epoch / self.num_epochs) ** 0.9  # nnU-Net's poly schedule
