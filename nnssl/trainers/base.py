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

import nnssl
from nnssl.checkpoint import FORMAT_VERSION, check_transfer, unwrap
from nnssl.data.dataset_weights import case_probabilities, describe_sampling
from nnssl.interop import DKFZ_KEY, adaptation_plan
from nnssl.io import atomic_save_json, atomic_torch_save, load_json, remove_stale_temp_files, safe_load
from nnssl.models.base import SSLModel
from nnssl.plotting import plot_loss_terms, plot_progress
from nnssl.trainers.config import PretrainConfig, load_run_config
from nnssl.trainers.diagnostics import encoder_stage, relative_movement, term_gradient_norms

INITIAL_WEIGHTS = "initial_encoder_weights.pth"
MOVEMENT_FILE = "weight_movement.json"


class AtomicCheckpointMixin:
    """Write nnU-Net checkpoints to a temp file and rename, so a crash never leaves half a file."""

    def save_checkpoint(self, filename: str) -> None:
        """nnU-Net's checkpoint, written atomically."""
        tmp = filename + ".partial"
        super().save_checkpoint(tmp)
        if os.path.isfile(tmp):
            os.replace(tmp, filename)

    def on_train_start(self):
        if self.local_rank == 0:  # a save killed in an earlier run left these; nobody else writes here now
            for path in remove_stale_temp_files(self.output_folder):
                self.print_to_log_file(f"nnssl: removed {os.path.basename(path)}, left by an interrupted save")
        super().on_train_start()


def ddp_device(requested: torch.device) -> torch.device:
    """This rank's device: the GPU of LOCAL_RANK (torchrun; nnU-Net's spawn: the rank) or the CPU.

    nnU-Net 2.8.1 uses ``cuda:<global rank>``, which does not exist beyond the first node.
    """
    if requested.type == "cuda" and torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", torch.distributed.get_rank()))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def wrap_ddp(network: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel on this rank's device, with the projector heads inside.

    On GPUs every BatchNorm becomes SyncBatchNorm, as nnU-Net does; the heads' BatchNorms already
    reduce across ranks on any backend (``nnssl.distributed``), which keeps CPU/gloo runs exact.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    if device.type == "cuda":
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
        return DDP(network, device_ids=[device.index])
    return DDP(network)


def terms_to_floats(terms: dict) -> dict[str, float]:
    """Loss terms as Python floats with one device-to-host copy (not one sync per term)."""
    names = list(terms)
    device = next((v.device for v in terms.values() if isinstance(v, torch.Tensor)), None)
    values = torch.stack([torch.as_tensor(terms[k], device=device).detach().float().reshape(())
                          for k in names]).tolist()
    return dict(zip(names, values, strict=True))


class SSLTrainerBase(nnUNetTrainer):
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
        stage = getattr(self, "stage", "")
        self.ssl_config, self.config_source = load_run_config(self.config_class, plans,
                                                              f"{self.method}{'_' + stage if stage else ''}")
        if self.ssl_config.method != self.method:
            raise ValueError(f"{self.config_source} configures method "
                             f"{self.ssl_config.method!r}, but trainer {type(self).__name__} runs {self.method!r}")
        cfg = self.ssl_config
        self.run_name = cfg.run_name or self.method
        self.num_epochs = cfg.epochs
        self.num_iterations_per_epoch = cfg.iterations_per_epoch
        self.num_val_iterations_per_epoch = cfg.val_iterations
        self.initial_lr = cfg.learning_rate
        self.weight_decay = cfg.weight_decay
        self.save_every = cfg.save_every
        self.enable_deep_supervision = False
        if self.run_name != self.method and self.output_folder_base is not None:
            self._move_to_run_folder(f"{self.output_folder_base}__{self.run_name}")
        self.term_log: dict[str, dict[str, list[float]]] = {"train": defaultdict(list), "val": defaultdict(list)}
        self._best_val: float | None = None
        self._iteration = 0
        self._theta0: dict[str, torch.Tensor] | None = None
        self.movement_log: list[dict] = []

    def _move_to_run_folder(self, base: str) -> None:
        """Point the output folder at a named run's and move the log nnU-Net's __init__ already started there
        (otherwise every named run leaves a stray unnamed folder holding only the citation)."""
        old_folder, old_log = self.output_folder, self.log_file
        self.output_folder_base = base
        self.output_folder = os.path.join(base, os.path.basename(old_folder))
        self.log_file = os.path.join(self.output_folder, os.path.basename(old_log))
        self.logger.output_folder = self.output_folder
        if self.local_rank != 0 or not os.path.isfile(old_log):
            return
        os.makedirs(self.output_folder, exist_ok=True)
        os.replace(old_log, self.log_file)
        for folder in (old_folder, os.path.dirname(old_folder)):  # only if nothing else lives there
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)

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
        return (NonDetMultiThreadedAugmenter(dl_tr, None, n, max(6, n // 2), None, pin, 0.002),
                NonDetMultiThreadedAugmenter(dl_val, None, max(1, n // 2), max(3, n // 4), None, pin, 0.002))

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

    def initial_encoder_weights(self) -> dict[str, torch.Tensor]:
        """theta_0 of the encoder: saved at the first start, read back when a run is continued."""
        path = os.path.join(self.output_folder, INITIAL_WEIGHTS)
        if os.path.isfile(path):
            return torch.load(path, map_location="cpu", weights_only=True)
        weights = {k: v.detach().cpu().clone() for k, v in unwrap(self.network).backbone.state_dict().items()
                   if encoder_stage(k) is not None}
        if self.local_rank == 0:
            atomic_torch_save(weights, path)
        return weights

    def log_weight_movement(self) -> dict[str, float]:
        """Per encoder stage ||theta - theta_0|| / ||theta_0||, logged and written to weight_movement.json."""
        if self._theta0 is None:
            return {}
        movement = relative_movement(self._theta0, unwrap(self.network).backbone.state_dict())
        self.movement_log.append({"epoch": self.current_epoch, **movement})
        self.print_to_log_file("encoder movement |theta - theta0| / |theta0|: "
                               + ", ".join(f"{k} {v:.3g}" for k, v in movement.items()))
        if self.local_rank == 0:
            atomic_save_json(self.movement_log, os.path.join(self.output_folder, MOVEMENT_FILE))
        return movement

    def probe_gradients(self, terms: dict) -> dict:
        """Gradient norm of each weighted term on the encoder; lets the model rebalance its weights."""
        model = unwrap(self.network)
        params = [p for p in model.backbone.encoder.parameters() if p.requires_grad]
        if not params or not model.balance_terms:
            return terms
        norms = term_gradient_norms(terms, model.balance_terms, params)
        if self.is_ddp:  # every rank must use the same weights
            names = sorted(norms)
            t = torch.tensor([norms[n] for n in names], device=self.device)
            torch.distributed.all_reduce(t)
            norms = {n: float(v) / torch.distributed.get_world_size() for n, v in zip(names, t, strict=True)}
        if model.rebalance(norms):
            terms = {**terms, "loss": model.combine(terms)}
        for name, value in norms.items():
            self.term_log["train"][f"grad_{name}"].append(value)
        for name, value in model.term_weights().items():
            self.term_log["train"][f"weight_{name}"].append(value)
        return terms

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

    def check_finite(self, terms: dict) -> None:
        """Stop before a non-finite loss reaches the weights (and every later checkpoint).

        Raises:
            FloatingPointError: naming the term, the epoch and iteration, and the last good checkpoint.
        """
        if bool(torch.isfinite(terms["loss"].detach()).all()):
            return  # diagnostics such as pos_sim may be NaN (no pair of a kind) without harm
        bad = {k: float(v) for k, v in terms.items() if not math.isfinite(float(v))}
        good = [f for f in ("checkpoint_best.pth", "checkpoint_latest.pth")
                if os.path.isfile(os.path.join(self.output_folder, f))]
        raise FloatingPointError(
            f"nnssl: loss term(s) {bad} not finite at epoch {self.current_epoch}, iteration {self._iteration}; "
            f"nothing non-finite was saved. Last good checkpoint: "
            f"{os.path.join(self.output_folder, good[0]) if good else 'none'}. Lower --lr, or check the input "
            f"images for inf/NaN or extreme values")

    def validation_step(self, batch: dict) -> dict:
        return terms_to_floats(self._forward_terms(batch))

    def _log_terms(self, split: str, outputs: list[dict]) -> float:
        means = {k: float(np.mean([o[k] for o in outputs])) for k in outputs[0]} if outputs else {}
        if self.is_ddp:
            gathered = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, means)
            means = {k: float(np.mean([g[k] for g in gathered])) for k in means}
        for k, v in means.items():
            self.term_log[split][k].append(v)
        return means.get("loss", float("nan"))

    def on_train_epoch_end(self, train_outputs: list[dict]):
        if getattr(self, "_progress", None) is not None:
            self._progress.close()
        self.logger.log("train_losses", self._log_terms("train", train_outputs), self.current_epoch)

    def on_validation_epoch_end(self, val_outputs: list[dict]):
        self.logger.log("val_losses", self._log_terms("val", val_outputs), self.current_epoch)

    def on_epoch_end(self):
        from time import time

        self.logger.log("epoch_end_timestamps", time(), self.current_epoch)
        self.log_weight_movement()
        for split in ("train", "val"):
            terms = {k: round(v[-1], 4) for k, v in self.term_log[split].items() if v}
            if terms:
                self.print_to_log_file(f"{split} terms: {terms}")
        start = self.logger.get_value("epoch_start_timestamps", step=-1)
        self.print_to_log_file(f"Epoch time: {self.logger.get_value('epoch_end_timestamps', step=-1) - start:.2f} s")
        if (self.current_epoch + 1) % self.save_every == 0 and self.current_epoch != self.num_epochs - 1:
            self.save_checkpoint(os.path.join(self.output_folder, "checkpoint_latest.pth"))
        val = self.term_log["val"]["loss"][-1] if self.term_log["val"]["loss"] else None
        if self.is_new_best(val):
            self._best_val = val
            self.save_checkpoint(os.path.join(self.output_folder, "checkpoint_best.pth"))
        if self.local_rank == 0:
            title = f"{self.method} pretraining" + (f", run {self.run_name}" if self.run_name != self.method else "")
            plot_loss_terms(self.term_log, os.path.join(self.output_folder, "loss_terms.png"),
                            title=f"{title}: every loss term")
            plot_progress(self.logger.get_checkpoint(), os.path.join(self.output_folder, "progress.png"), title=title)
        self.current_epoch += 1

    def is_new_best(self, val: float | None) -> bool:
        """Whether a validation loss beats the best so far; NaN and inf never do (never "best")."""
        return val is not None and math.isfinite(val) and (self._best_val is None or val < self._best_val)

    def perform_actual_validation(self, save_probabilities: bool = False):
        """Pretraining has no segmentation to validate; print where the checkpoint went."""
        final = os.path.join(self.output_folder, "checkpoint_final.pth")
        if self.local_rank == 0 and os.path.isfile(final):
            self.print_to_log_file(f"nnssl: pretrained checkpoint: {final}")

    # ---- adaptation record and checkpoints ---------------------------------------------------
    def adaptation_record(self) -> dict:
        """What fine-tuning needs to know about this checkpoint (MIC-DKFZ/nnssl-style record)."""
        plans = self.plans_manager.plans
        return {
            "format_version": FORMAT_VERSION,
            "nnssl_version": nnssl.__version__,
            "method": self.method,
            "run_name": self.run_name,
            "plans_identifier": self.plans_manager.plans_name,
            "configuration": self.configuration_name,
            "pool_dataset": self.plans_manager.dataset_name,
            "source_datasets": plans.get("nnssl", {}).get("sources", {}),
            "target_dataset": self.ssl_config.target_dataset,
            "transfer_prefixes": list(self.transfer_prefixes),
            "network_arch_class_name": self.configuration_manager.network_arch_class_name,
            "network_arch_init_kwargs": self.configuration_manager.network_arch_init_kwargs,
            "num_input_channels": self.num_input_channels,
            "patch_size": list(self.configuration_manager.patch_size),
        }

    def verify_adaptation_record(self) -> None:
        """Fail before training if the checkpoint could not be fine-tuned on the target.

        Raises:
            ValueError: when the transfer prefixes select nothing, or a transferable tensor is
                missing or shaped differently in the network built from the target's plans.
        """
        from nnunetv2.paths import nnUNet_preprocessed
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        source = unwrap(self.network).backbone.state_dict()
        target_sd = source
        target = self.ssl_config.target_dataset
        if target:
            base = os.path.join(str(nnUNet_preprocessed), target)
            plans_file = os.path.join(base, f"{self.plans_manager.plans_name}.json")
            if not os.path.isfile(plans_file):
                raise ValueError(f"target {target} has no plans {plans_file}; rerun nnssl_pretrain with -t")
            pm = PlansManager(plans_file)
            cm = pm.get_configuration(self.configuration_name)
            lm = pm.get_label_manager(load_json(os.path.join(base, "dataset.json")))
            net = self.build_network_architecture(pm, cm, self.num_input_channels, lm.num_segmentation_heads, True)
            target_sd = net.state_dict()
        problems = check_transfer(source, target_sd, self.transfer_prefixes)
        if problems:
            raise ValueError(f"this pretraining could not be fine-tuned on {target or 'its own plans'}: "
                             + "; ".join(problems[:5]))

    def save_checkpoint(self, filename: str) -> None:
        if self.local_rank != 0 or self.disable_checkpointing:
            return
        model = unwrap(self.network)
        checkpoint = {
            "network_weights": model.backbone.state_dict(),
            "ssl_heads": model.heads.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "grad_scaler_state": self.grad_scaler.state_dict() if self.grad_scaler is not None else None,
            "logging": self.logger.get_checkpoint(),
            "nnssl_term_log": {s: dict(v) for s, v in self.term_log.items()},
            "_best_ema": self._best_val,
            "current_epoch": self.current_epoch + 1,
            "init_args": self.my_init_kwargs,
            "trainer_name": self.__class__.__name__,
            "inference_allowed_mirroring_axes": self.inference_allowed_mirroring_axes,
            "nnssl_adaptation_record": self.adaptation_record(),
            DKFZ_KEY: adaptation_plan(self.plans_manager.plans, self.configuration_name, self.num_input_channels),
            "nnssl_config": self.ssl_config.to_json(),
            "nnssl_term_weights": model.term_weights(),
            "nnssl_weight_movement": self.movement_log,
        }
        atomic_torch_save(checkpoint, filename)
        if os.path.basename(filename) == "checkpoint_final.pth":
            atomic_save_json(checkpoint["nnssl_adaptation_record"],
                             os.path.join(os.path.dirname(filename), "adaptation_record.json"))
            print(f"nnssl: pretrained checkpoint written to {filename}")

    def load_checkpoint(self, filename_or_checkpoint) -> None:
        if not self.was_initialized:
            self.initialize()
        ckpt = filename_or_checkpoint
        if isinstance(ckpt, str):
            ckpt = safe_load(ckpt, map_location=self.device)
        model = unwrap(self.network)
        model.backbone.load_state_dict(ckpt["network_weights"])
        model.heads.load_state_dict(ckpt["ssl_heads"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        if self.grad_scaler is not None and ckpt.get("grad_scaler_state") is not None:
            self.grad_scaler.load_state_dict(ckpt["grad_scaler_state"])
        self.my_init_kwargs = ckpt["init_args"]
        self.current_epoch = ckpt["current_epoch"]
        self.logger.load_checkpoint(ckpt["logging"])
        self.term_log = {s: defaultdict(list, v) for s, v in ckpt.get("nnssl_term_log", {}).items()} or self.term_log
        self._best_val = ckpt.get("_best_ema")
        model.set_term_weights(ckpt.get("nnssl_term_weights", {}))
        self.movement_log = list(ckpt.get("nnssl_weight_movement", []))
