"""The fine-tuning trainer: stock nnU-Net training, from random init or from a nnssl checkpoint.

:class:`nnsslScratchTrainer` is every fine-tune trainer's base. With ``ssl_run`` set (each method's
``<Method>FinetuneTrainer`` and its variants, derived in ``nnssl/trainers/finetune_variants.py``) it loads the
transferable weights (prefix-filtered, shape-checked) of the checkpoint that the target's plans record for this
configuration and run (``plans["nnssl"]["run"]`` of a run's plans identifier, else the method's own run), or of
``$nnSSL_PRETRAINED``, and trains with the ``PRETRAINED`` schedule: linear warm-up over 5 % of the steps, then
poly; transferred weights peak at lr 1e-3, fresh ones (decoder, seg heads) at 1e-2.

Scratch baselines: ``nnsslScratchTrainer`` is nnU-Net's default recipe (the strongest scratch
baseline); ``nnsslScratchTrainer_warmup`` uses the identical warm-up shape as the pretrained trainers.
``$nnSSL_FINETUNE_SCHEDULE`` overrides any field (``epochs=20,iterations=50,val_iterations=5``,
``pretrained_lr=3e-3``, ``freeze_fraction=0.1``, ``l2sp=1e-3``, ...). Every run writes ``nnssl_finetune.json``
(the resolved schedule, the checkpoint with its sha256, the frozen parts and the environment variables that were
set; ``nnssl/trainers/finetune_record.py``) into its fold folder and says the same in its log; ``--c`` refuses
to resume a fold with another checkpoint or schedule.
"""

import os
from typing import ClassVar

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnssl import checkpoint_format
from nnssl.checkpoint import ENCODER_PREFIXES, load_transferable_weights, resolve_pretrained_checkpoint, unwrap
from nnssl.io import atomic_save_json, load_json
from nnssl.planning.aliases import run_of
from nnssl.planning.block import NnsslBlock
from nnssl.seeding import seed_from_environment
from nnssl.trainers.checkpointing import AtomicCheckpointMixin
from nnssl.trainers.finetune_presets import NNUNET_DEFAULT, WARMUP, shortened
from nnssl.trainers.finetune_record import RECORD_FILE, refuse_changed_resume, result_environment
from nnssl.trainers.finetune_schedule import SCHEDULE_ENV, FinetuneSchedule, ResolvedSchedule
from nnssl.trainers.l2sp import AnchoredSGD
from nnssl.trainers.threads import honour_thread_limit


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
        self.seed = seed_from_environment()  # None: unseeded, as stock nnU-Net (nnssl/seeding.py)
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
        self.pretrained_run: str | None = None
        self._resumed = False
        self.transfer_summary = "random initialisation (no pretrained weights)"
        self._transferred: list[torch.nn.Parameter] = []
        self._frozen_scope: list[torch.nn.Parameter] = []  # the transferred weights the schedule's freeze applies to
        self._iteration = 0
        self.matched_classes: list[str] = []

    # ---- weights and optimiser ---------------------------------------------------------------
    def load_pretrained(self) -> None:
        """Load this trainer's checkpoint (if any) and remember which parameters it filled."""
        if self.ssl_run is None or self.pretrained_checkpoint is not None:
            return
        self.pretrained_run = run_of(self.plans_manager.plans) or self.ssl_run  # a named run: its plans identifier
        path = resolve_pretrained_checkpoint(self.plans_manager.plans, self.configuration_name, self.pretrained_run)
        block = NnsslBlock.from_plans(self.plans_manager.plans)
        report = load_transferable_weights(self.network, path, expected_method=self.ssl_run, only=self.transfer_only,
                                           target_labels=self.dataset_json.get("labels"),
                                           label_map=block.label_map_pairs() if block else None)
        self.matched_classes = report.matched_classes
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
        return {"trainer": type(self).__name__, "plans": self.plans_manager.plans_name, "run": self.pretrained_run,
                "pretrained_checkpoint": self.pretrained_checkpoint,
                "pretrained_sha256": self.pretrained_sha256,
                "transferred_parameters": sum(p.numel() for p in self._transferred),
                "freeze_scope_parameters": sum(p.numel() for p in self._frozen_scope),
                "transfer_only": list(self.transfer_only) if self.transfer_only else None,
                "matched_output_classes": self.matched_classes,
                **({"seed": self.seed} if self.seed is not None else {"process_seed": torch.initial_seed()}),
                "schedule_override": self.schedule_override or None,
                "environment": result_environment(),
                **self.resolved_schedule.to_json()}

    def load_checkpoint(self, filename_or_checkpoint) -> None:
        """nnU-Net's resume (``--c``) and ``nnUNetv2_train --val``. The file is first read with ``weights_only=True``
        (tensors and plain data: ``nnssl/io.py``'s ``safe_load``), so a tampered ``checkpoint_latest.pth`` is refused
        before nnU-Net's own loader, which would unpickle anything, sees it."""
        if isinstance(filename_or_checkpoint, str):
            from nnssl.io import safe_load

            safe_load(filename_or_checkpoint, map_location="cpu")  # refuses before nnU-Net unpickles it
        # nnU-Net 2.8.1's load_checkpoint only works when given a path (a dict leaves its `checkpoint` unbound)
        super().load_checkpoint(filename_or_checkpoint)
        self._resumed = True

    # ---- nnU-Net hooks -----------------------------------------------------------------------
    def run_training(self):
        """nnU-Net's training; an error nnssl raises (or a full disk) ends it with one line, not a traceback."""
        try:
            super().run_training()
        except Exception as e:  # exit_with_one_line re-raises what it has no line for
            from nnssl.errors import exit_with_one_line

            exit_with_one_line(e, "nnssl")

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
    schedule = shortened(NNUNET_DEFAULT, "5epochs", 5)


class nnsslScratchTrainer_5ep20it(nnsslScratchTrainer):
    schedule = shortened(NNUNET_DEFAULT, "5ep20it", 5, 20, 5)


class nnsslScratchTrainer_2ep5it(nnsslScratchTrainer):
    schedule = shortened(NNUNET_DEFAULT, "2ep5it", 2, 5, 2)


class nnsslScratchTrainer_warmup_2ep5it(nnsslScratchTrainer):
    schedule = shortened(WARMUP, "2ep5it", 2, 5, 2)


#: the scratch baselines, as nnssl's shim exports them
SCRATCH_TRAINERS = (nnsslScratchTrainer, nnsslScratchTrainer_warmup, nnsslScratchTrainer_5epochs,
                    nnsslScratchTrainer_5ep20it, nnsslScratchTrainer_2ep5it, nnsslScratchTrainer_warmup_2ep5it)
