"""Checkpoint writing for trainers: nnU-Net's checkpoints made atomic, and the pretraining checkpoint (through
``nnssl/checkpoint_format.py``) with its adaptation record, verified against the target before training."""

import os
from collections import defaultdict

import nnssl
from nnssl import checkpoint_format
from nnssl.checkpoint import check_transfer, unwrap
from nnssl.interop import DKFZ_KEY, adaptation_plan
from nnssl.io import load_json, remove_stale_temp_files


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


class PretrainCheckpointMixin(AtomicCheckpointMixin):
    """The pretraining checkpoint of an ``SSLTrainerBase``: record, verification, save and resume. Its own
    ``save_checkpoint`` is atomic; from :class:`AtomicCheckpointMixin` it keeps the start's removal of what a
    killed save left (``.tmp_*``, ``*.partial``)."""

    def adaptation_record(self) -> dict:
        """What fine-tuning needs to know about this checkpoint (MIC-DKFZ/nnssl-style record)."""
        plans = self.plans_manager.plans
        return {
            "format_version": checkpoint_format.FORMAT_VERSION,
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
            DKFZ_KEY: adaptation_plan(self.plans_manager.plans, self.configuration_name, self.num_input_channels,
                                      model.backbone),
            "nnssl_config": self.ssl_config.to_json(),
            "nnssl_term_weights": model.term_weights(),
            "nnssl_weight_movement": self.movement_log,
        }
        checkpoint_format.write(checkpoint, filename)
        if os.path.basename(filename) == checkpoint_format.FINAL:
            print(f"nnssl: pretrained checkpoint written to {filename}")

    def load_checkpoint(self, filename_or_checkpoint) -> None:
        if not self.was_initialized:
            self.initialize()
        ckpt = filename_or_checkpoint
        if isinstance(ckpt, str):
            ckpt = checkpoint_format.read(ckpt, map_location=self.device, required=checkpoint_format.WRITE_REQUIRED)
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
