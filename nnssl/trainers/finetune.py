"""Fine-tuning trainers: stock nnU-Net training initialised from a nnssl checkpoint.

``<Method>FinetuneTrainer`` loads the transferable weights (prefix-filtered, shape-checked) of the
checkpoint that the target's plans record for this configuration and run name (``ssl_run``), or of
``$nnSSL_PRETRAINED``, and trains with the ``PRETRAINED`` schedule: linear warm-up over 5 % of the
steps, then poly; transferred weights peak at lr 1e-3, fresh ones (decoder, seg heads) at 1e-2.
Variants put the schedule in the class name (nnU-Net idiom):

- ``_frozenEncoderWarmup``: transferred weights frozen for the first 5 % of epochs, then warmed up;
- ``_linearProbe``: transferred weights frozen for the whole run (diagnostic);
- ``_nnUNetSchedule``: nnU-Net's scratch recipe on the pretrained init (the behaviour before 0.2);
- ``_warmup``: the scratch baseline's warm-up schedule, lr 1e-2 for every weight (init is the only difference);
- ``_encoderOnly`` (with any of the above, e.g. ``_nnUNetSchedule_encoderOnly``): only the encoder of a
  ``--transfer-decoder`` checkpoint loads, the decoder stays fresh (the paired decoder ablation);
- ``_5epochs`` (5 x 250), ``_5ep20it`` (5 x 20, demo), ``_2ep5it`` (2 x 5, smoke tests).

Scratch baselines: ``nnsslScratchTrainer`` is nnU-Net's default recipe (the strongest scratch
baseline); ``nnsslScratchTrainer_warmup`` uses the identical warm-up shape as the pretrained trainers.
``$nnSSL_FINETUNE_SCHEDULE`` overrides any field (``epochs=20,iterations=50,val_iterations=5``,
``pretrained_lr=3e-3``, ``freeze_fraction=0.1``, ``l2sp=1e-3``, ...). Every run writes ``nnssl_finetune.json``
(the resolved schedule, the checkpoint with its sha256, the frozen parts and the environment variables that were
set; ``nnssl/trainers/finetune_record.py``) into its fold folder and says the same in its log; ``--c`` refuses
to resume a fold with another checkpoint or schedule.
"""

import dataclasses
import os
from typing import ClassVar

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnssl import checkpoint_format
from nnssl.checkpoint import ENCODER_PREFIXES, load_transferable_weights, resolve_pretrained_checkpoint, unwrap
from nnssl.io import atomic_save_json, load_json
from nnssl.trainers.checkpointing import AtomicCheckpointMixin
from nnssl.trainers.finetune_record import RECORD_FILE, refuse_changed_resume, result_environment
from nnssl.trainers.finetune_schedule import (
    FROZEN_ENCODER_WARMUP,
    LINEAR_PROBE,
    NNUNET_DEFAULT,
    PRETRAINED,
    SCHEDULE_ENV,
    WARMUP,
    FinetuneSchedule,
    ResolvedSchedule,
)
from nnssl.trainers.l2sp import AnchoredSGD
from nnssl.trainers.threads import honour_thread_limit


def _short(schedule: FinetuneSchedule, suffix: str, epochs: int, iterations: int | None = None,
           val_iterations: int | None = None) -> FinetuneSchedule:
    return dataclasses.replace(schedule, name=f"{schedule.name}_{suffix}", epochs=epochs, iterations=iterations,
                               val_iterations=val_iterations)


class GroupedLR:
    """Sets every optimiser group's lr from a :class:`ResolvedSchedule`; nnU-Net calls ``step(epoch)``."""

    def __init__(self, optimizer: torch.optim.Optimizer, resolved: ResolvedSchedule):
        self.optimizer, self.resolved = optimizer, resolved

    def set_step(self, step: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.resolved.lr(group["nnssl_group"], step)

    def step(self, epoch: int | None = None) -> None:
        self.set_step((epoch or 0) * self.resolved.iterations)


class nnsslScratchTrainer(AtomicCheckpointMixin, nnUNetTrainer):
    """nnU-Net training from random initialisation with nnU-Net's default recipe."""

    ssl_run: ClassVar[str | None] = None
    schedule: ClassVar[FinetuneSchedule] = NNUNET_DEFAULT
    #: narrows the checkpoint's transfer prefixes (None: transfer what the checkpoint's record says)
    transfer_only: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        honour_thread_limit(self.device)
        override = os.environ.get(SCHEDULE_ENV, "")
        self.finetune_schedule = self.schedule.with_overrides(override)
        self.schedule_override = override
        s = self.finetune_schedule
        self.num_epochs = s.epochs or self.num_epochs
        self.num_iterations_per_epoch = s.iterations or self.num_iterations_per_epoch
        self.num_val_iterations_per_epoch = s.val_iterations or self.num_val_iterations_per_epoch
        self.initial_lr = s.fresh_lr
        self.resolved_schedule = s.resolve(self.num_epochs, self.num_iterations_per_epoch)
        self.pretrained_checkpoint: str | None = None
        self.pretrained_sha256: str | None = None
        self._resumed = False
        self.transfer_summary = "random initialisation (no pretrained weights)"
        self._transferred: list[torch.nn.Parameter] = []
        self._frozen_scope: list[torch.nn.Parameter] = []  # the transferred weights the schedule's freeze applies to
        self._iteration = 0

    # ---- weights and optimiser ---------------------------------------------------------------
    def load_pretrained(self) -> None:
        """Load this trainer's checkpoint (if any) and remember which parameters it filled."""
        if self.ssl_run is None or self.pretrained_checkpoint is not None:
            return
        path = resolve_pretrained_checkpoint(self.plans_manager.plans, self.configuration_name, self.ssl_run)
        report = load_transferable_weights(self.network, path, expected_method=self.ssl_run, only=self.transfer_only)
        loaded = set(report.loaded)
        params = list(unwrap(self.network).named_parameters(remove_duplicate=False))
        self._transferred = list({id(p): p for n, p in params if n in loaded}.values())
        encoder = {id(p) for n, p in params if n.startswith(ENCODER_PREFIXES)}
        scoped = self.finetune_schedule.freeze_scope == "encoder"
        self._frozen_scope = [p for p in self._transferred if not scoped or id(p) in encoder]
        self.pretrained_checkpoint = path
        self.pretrained_sha256 = checkpoint_format.sha256(path)
        restricted = f"; transfer restricted to {', '.join(self.transfer_only)}" if self.transfer_only else ""
        self.transfer_summary = report.summary().removeprefix("nnssl: ") + restricted  # the log line adds "nnssl: "

    def configure_optimizers(self):
        """nnU-Net's SGD with one group per role (fresh; transferred; transferred outside the freeze scope, e.g. a
        transferred decoder with ``freeze_scope=encoder``) on the per-step warm-up/poly schedule, plus the
        schedule's L2-SP pull on the transferred group (``AnchoredSGD``; plain SGD when ``l2sp`` is 0)."""
        self.load_pretrained()
        transferred = {id(p) for p in self._transferred}
        fresh = [p for p in unwrap(self.network).parameters() if id(p) not in transferred]
        groups = [{"params": fresh, "nnssl_group": "fresh"}]
        if self._frozen_scope:  # the freeze and the L2-SP pull apply to this group only
            groups.append({"params": self._frozen_scope, "nnssl_group": "transferred",
                           "l2sp": self.finetune_schedule.l2sp})
        in_scope = {id(p) for p in self._frozen_scope}
        unfrozen = [p for p in self._transferred if id(p) not in in_scope]
        if unfrozen:  # a transferred decoder when only the encoder is frozen (freeze_scope=encoder)
            groups.append({"params": unfrozen, "nnssl_group": "transferred_unfrozen"})
        optimizer = AnchoredSGD(groups, self.initial_lr, weight_decay=self.weight_decay, momentum=0.99, nesterov=True)
        self._set_frozen(self.resolved_schedule.frozen("transferred", self.current_epoch), rewrap=False)
        return optimizer, GroupedLR(optimizer, self.resolved_schedule)

    def _set_frozen(self, frozen: bool, rewrap: bool = True) -> None:
        """Freeze or release the transferred weights in the freeze scope (no gradient, so no optimiser state
        while frozen)."""
        if not self._frozen_scope or self._frozen_scope[0].requires_grad != frozen:
            return
        for p in self._frozen_scope:
            p.requires_grad_(not frozen)
        if rewrap and self.is_ddp:  # DDP fixes its set of trained parameters at construction
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.network = DDP(self.network.module, device_ids=[self.local_rank])
        self.print_to_log_file(f"nnssl: {self.finetune_schedule.frozen_part} {'frozen' if frozen else 'released'} "
                               f"at epoch {self.current_epoch}")

    def finetune_record(self) -> dict:
        """What this run trains with (``nnssl_finetune.json``)."""
        return {"trainer": type(self).__name__, "pretrained_checkpoint": self.pretrained_checkpoint,
                "pretrained_sha256": self.pretrained_sha256,
                "transferred_parameters": sum(p.numel() for p in self._transferred),
                "freeze_scope_parameters": sum(p.numel() for p in self._frozen_scope),
                "transfer_only": list(self.transfer_only) if self.transfer_only else None,
                "schedule_override": self.schedule_override or None,
                "environment": result_environment(),
                **self.resolved_schedule.to_json()}

    def load_checkpoint(self, filename_or_checkpoint) -> None:
        super().load_checkpoint(filename_or_checkpoint)
        self._resumed = True

    # ---- nnU-Net hooks -----------------------------------------------------------------------
    def on_train_start(self):
        path = os.path.join(self.output_folder, RECORD_FILE)
        if self._resumed and os.path.isfile(path):  # nnUNetv2_train --c (initialised by then): the same run, or refused
            refuse_changed_resume(self.output_folder, load_json(path), self.finetune_record())
        super().on_train_start()  # initialises a fresh run, which loads the pretrained weights
        record = self.finetune_record()
        self.print_to_log_file(f"nnssl: {self.transfer_summary}")
        self.print_to_log_file(f"nnssl: {self.resolved_schedule.describe()}"
                               + (f" (from {SCHEDULE_ENV}={self.schedule_override})" if self.schedule_override else ""))
        if self.local_rank == 0:
            atomic_save_json(record, path)

    def on_train_epoch_start(self):
        self._set_frozen(self.resolved_schedule.frozen("transferred", self.current_epoch))
        self._iteration = 0
        super().on_train_epoch_start()

    def train_step(self, batch: dict) -> dict:
        self.lr_scheduler.set_step(self.current_epoch * self.num_iterations_per_epoch + self._iteration)
        self._iteration += 1
        return super().train_step(batch)


class nnsslScratchTrainer_warmup(nnsslScratchTrainer):
    """Random init with the pretrained trainers' warm-up shape ("same schedule" baseline)."""

    schedule = WARMUP


class nnsslScratchTrainer_5epochs(nnsslScratchTrainer):
    schedule = _short(NNUNET_DEFAULT, "5epochs", 5)


class nnsslScratchTrainer_5ep20it(nnsslScratchTrainer):
    schedule = _short(NNUNET_DEFAULT, "5ep20it", 5, 20, 5)


class nnsslScratchTrainer_2ep5it(nnsslScratchTrainer):
    schedule = _short(NNUNET_DEFAULT, "2ep5it", 2, 5, 2)


class nnsslScratchTrainer_warmup_2ep5it(nnsslScratchTrainer):
    schedule = _short(WARMUP, "2ep5it", 2, 5, 2)


# ---- MixCL -----------------------------------------------------------------------------------
class MixCLFinetuneTrainer(nnsslScratchTrainer):
    """Fine-tune from ``nnssl_pretrain -m mixcl -t <this dataset>`` (encoder), warm-up schedule."""

    ssl_run = "mixcl"
    schedule = PRETRAINED


class MixCLFinetuneTrainer_frozenEncoderWarmup(MixCLFinetuneTrainer):
    schedule = FROZEN_ENCODER_WARMUP


class MixCLFinetuneTrainer_linearProbe(MixCLFinetuneTrainer):
    schedule = LINEAR_PROBE


class MixCLFinetuneTrainer_nnUNetSchedule(MixCLFinetuneTrainer):
    schedule = NNUNET_DEFAULT


class MixCLFinetuneTrainer_encoderOnly(MixCLFinetuneTrainer):
    """The encoder of a ``--transfer-decoder`` checkpoint only (the decoder starts fresh)."""

    transfer_only = ENCODER_PREFIXES


class MixCLFinetuneTrainer_nnUNetSchedule_encoderOnly(MixCLFinetuneTrainer_nnUNetSchedule):
    """``_nnUNetSchedule`` loading only the encoder: pairs with it to isolate the decoder transfer."""

    transfer_only = ENCODER_PREFIXES


class MixCLFinetuneTrainer_warmup(MixCLFinetuneTrainer):
    """Pretrained init with exactly ``nnsslScratchTrainer_warmup``'s schedule (one lr for all weights)."""

    schedule = WARMUP


class MixCLFinetuneTrainer_5epochs(MixCLFinetuneTrainer):
    schedule = _short(PRETRAINED, "5epochs", 5)


class MixCLFinetuneTrainer_5ep20it(MixCLFinetuneTrainer):
    schedule = _short(PRETRAINED, "5ep20it", 5, 20, 5)


class MixCLFinetuneTrainer_2ep5it(MixCLFinetuneTrainer):
    schedule = _short(PRETRAINED, "2ep5it", 2, 5, 2)


class MixCLFinetuneTrainer_nnUNetSchedule_5epochs(MixCLFinetuneTrainer):
    """nnU-Net's recipe on the pretrained init, 5 x 250 iterations: pairs with ``nnsslScratchTrainer_5epochs``."""

    schedule = _short(NNUNET_DEFAULT, "5epochs", 5)


class MixCLFinetuneTrainer_nnUNetSchedule_2ep5it(MixCLFinetuneTrainer):
    schedule = _short(NNUNET_DEFAULT, "2ep5it", 2, 5, 2)


class MixCLFinetuneTrainer_nnUNetSchedule_5ep20it(MixCLFinetuneTrainer):
    """nnU-Net's recipe on the MixCL init, 5 x 20 iterations: the demo's pair differs only in the init."""

    schedule = _short(NNUNET_DEFAULT, "5ep20it", 5, 20, 5)


# ---- regression ------------------------------------------------------------------------------
class RegressionFinetuneTrainer(nnsslScratchTrainer):
    """Fine-tune from ``nnssl_pretrain -m regression -t <this dataset>``, warm-up schedule."""

    ssl_run = "regression"
    schedule = PRETRAINED


class RegressionFinetuneTrainer_frozenEncoderWarmup(RegressionFinetuneTrainer):
    schedule = FROZEN_ENCODER_WARMUP


class RegressionFinetuneTrainer_linearProbe(RegressionFinetuneTrainer):
    schedule = LINEAR_PROBE


class RegressionFinetuneTrainer_nnUNetSchedule(RegressionFinetuneTrainer):
    schedule = NNUNET_DEFAULT


class RegressionFinetuneTrainer_warmup(RegressionFinetuneTrainer):
    """Pretrained init with exactly ``nnsslScratchTrainer_warmup``'s schedule (one lr for all weights)."""

    schedule = WARMUP


class RegressionFinetuneTrainer_5epochs(RegressionFinetuneTrainer):
    schedule = _short(PRETRAINED, "5epochs", 5)


class RegressionFinetuneTrainer_5ep20it(RegressionFinetuneTrainer):
    schedule = _short(PRETRAINED, "5ep20it", 5, 20, 5)


class RegressionFinetuneTrainer_nnUNetSchedule_5epochs(RegressionFinetuneTrainer):
    """nnU-Net's recipe on the pretrained init, 5 x 250 iterations: pairs with ``nnsslScratchTrainer_5epochs``."""

    schedule = _short(NNUNET_DEFAULT, "5epochs", 5)


class RegressionFinetuneTrainer_nnUNetSchedule_2ep5it(RegressionFinetuneTrainer):
    schedule = _short(NNUNET_DEFAULT, "2ep5it", 2, 5, 2)


class RegressionFinetuneTrainer_2ep5it(RegressionFinetuneTrainer):
    schedule = _short(PRETRAINED, "2ep5it", 2, 5, 2)


# ---- global_local ----------------------------------------------------------------------------
class GlobalLocalFinetuneTrainer(nnsslScratchTrainer):
    """Fine-tune (all layers) from ``nnssl_pretrain -m global_local -t <this dataset>`` (encoder + d_l)."""

    ssl_run = "global_local"
    schedule = PRETRAINED


class GlobalLocalFinetuneTrainer_frozenEncoderWarmup(GlobalLocalFinetuneTrainer):
    schedule = FROZEN_ENCODER_WARMUP


class GlobalLocalFinetuneTrainer_linearProbe(GlobalLocalFinetuneTrainer):
    schedule = LINEAR_PROBE


class GlobalLocalFinetuneTrainer_nnUNetSchedule(GlobalLocalFinetuneTrainer):
    schedule = NNUNET_DEFAULT


class GlobalLocalFinetuneTrainer_warmup(GlobalLocalFinetuneTrainer):
    """Pretrained init with exactly ``nnsslScratchTrainer_warmup``'s schedule (one lr for all weights)."""

    schedule = WARMUP


class GlobalLocalFinetuneTrainer_5epochs(GlobalLocalFinetuneTrainer):
    schedule = _short(PRETRAINED, "5epochs", 5)


class GlobalLocalFinetuneTrainer_5ep20it(GlobalLocalFinetuneTrainer):
    schedule = _short(PRETRAINED, "5ep20it", 5, 20, 5)


class GlobalLocalFinetuneTrainer_nnUNetSchedule_5epochs(GlobalLocalFinetuneTrainer):
    """nnU-Net's recipe on the pretrained init, 5 x 250 iterations: pairs with ``nnsslScratchTrainer_5epochs``."""

    schedule = _short(NNUNET_DEFAULT, "5epochs", 5)


class GlobalLocalFinetuneTrainer_nnUNetSchedule_2ep5it(GlobalLocalFinetuneTrainer):
    schedule = _short(NNUNET_DEFAULT, "2ep5it", 2, 5, 2)


class GlobalLocalFinetuneTrainer_2ep5it(GlobalLocalFinetuneTrainer):
    schedule = _short(PRETRAINED, "2ep5it", 2, 5, 2)


# ---- supervised -----------------------------------------------------------------------------
class SupervisedFinetuneTrainer(nnsslScratchTrainer):
    """Fine-tune from ``nnssl_pretrain -m supervised -t <this dataset>`` (encoder and decoder; the pool's output
    layer stays behind), warm-up schedule."""

    ssl_run = "supervised"
    schedule = PRETRAINED


class SupervisedFinetuneTrainer_nnUNetSchedule(SupervisedFinetuneTrainer):
    schedule = NNUNET_DEFAULT


class SupervisedFinetuneTrainer_nnUNetSchedule_encoderOnly(SupervisedFinetuneTrainer_nnUNetSchedule):
    """``_nnUNetSchedule`` loading only the encoder (the decoder stays fresh): isolates the decoder transfer."""

    transfer_only = ENCODER_PREFIXES


class SupervisedFinetuneTrainer_frozenEncoderWarmup(SupervisedFinetuneTrainer):
    schedule = FROZEN_ENCODER_WARMUP


class SupervisedFinetuneTrainer_linearProbe(SupervisedFinetuneTrainer):
    schedule = LINEAR_PROBE


class SupervisedFinetuneTrainer_warmup(SupervisedFinetuneTrainer):
    """Pretrained init with exactly ``nnsslScratchTrainer_warmup``'s schedule (one lr for all weights)."""

    schedule = WARMUP


class SupervisedFinetuneTrainer_5epochs(SupervisedFinetuneTrainer):
    schedule = _short(PRETRAINED, "5epochs", 5)


class SupervisedFinetuneTrainer_2ep5it(SupervisedFinetuneTrainer):
    schedule = _short(PRETRAINED, "2ep5it", 2, 5, 2)


class SupervisedFinetuneTrainer_nnUNetSchedule_5epochs(SupervisedFinetuneTrainer):
    """nnU-Net's recipe on the pretrained init, 5 x 250 iterations: pairs with ``nnsslScratchTrainer_5epochs``."""

    schedule = _short(NNUNET_DEFAULT, "5epochs", 5)


class SupervisedFinetuneTrainer_nnUNetSchedule_2ep5it(SupervisedFinetuneTrainer):
    schedule = _short(NNUNET_DEFAULT, "2ep5it", 2, 5, 2)


__all__ = [name for name, obj in list(globals().items())
           if isinstance(obj, type) and issubclass(obj, nnsslScratchTrainer)]
