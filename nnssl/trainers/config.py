"""Frozen, validated run configurations; the CLI maps flags onto these fields.

The trainer's ``__init__`` signature is nnU-Net's, so a run's configuration reaches it as a JSON
file named by the environment variable ``nnSSL_RUN_CONFIG`` (the CLI writes it and sets it;
DDP workers inherit it). Without it, the defaults below apply.
"""

import dataclasses
import json
import os
from dataclasses import dataclass

RUN_CONFIG_ENV = "nnSSL_RUN_CONFIG"


@dataclass(frozen=True)
class PretrainConfig:
    """Fields every pretraining method shares.

    Attributes:
        run_name: names the output folder suffix and the key under which the target's plans record
            the checkpoint (defaults to the method name).
        target_dataset: dataset the checkpoint must be fine-tunable on (checked before training).
        epochs, iterations_per_epoch, val_iterations: schedule (nnU-Net's epoch = N iterations).
        batch_size: None uses the plans' batch size.
        learning_rate, weight_decay: optimiser settings.
        save_every: epochs between ``checkpoint_latest.pth`` writes.
    """

    method: str = ""
    run_name: str = ""
    target_dataset: str | None = None
    epochs: int = 100
    iterations_per_epoch: int = 250
    val_iterations: int = 10
    batch_size: int | None = None
    learning_rate: float = 1e-4
    weight_decay: float = 1e-5
    save_every: int = 10

    def __post_init__(self):
        for name in ("epochs", "iterations_per_epoch", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.val_iterations < 0:
            raise ValueError(f"val_iterations must be >= 0, got {self.val_iterations}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {self.batch_size}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")

    def to_json(self) -> dict:
        """Plain dict (for JSON next to the checkpoint)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MixCLConfig(PretrainConfig):
    """MixCL (method_spec A): L = w_id L_id + alpha L_label + beta L_recon.

    Attributes:
        identity_weight, label_weight (alpha), recon_weight (beta): 0 switches a term off (ablations).
        off_diagonal_weight: Barlow Twins lambda (5e-3).
        temperature: tau of the label term (0.1).
        label_stage: encoder stage of the label term (1 = the paper's "2nd layer").
        label_loss: "eq6" (default) or "supcon_out".
        boundary_mu, boundary_eps: weight map parameters (8, 0.05, voxel units).
        per_class, sample_cap: label voxels per class and per patch.
        bt_max_voxels: voxel subsample per stage for L_id (None = all voxels).
        bt_stages: encoder stages in L_id (None = all).
        same_image_prob: probability that P2 comes from the same case as P1.
        view_probability: per-transform probability of the intensity views.
        transfer_decoder: also transfer decoder stages (default: encoder only, as the paper).
    """

    method: str = "mixcl"
    identity_weight: float = 1.0
    label_weight: float = 0.01
    recon_weight: float = 0.01
    off_diagonal_weight: float = 5e-3
    temperature: float = 0.1
    label_stage: int = 1
    label_loss: str = "eq6"
    boundary_mu: float = 8.0
    boundary_eps: float = 0.05
    per_class: int = 512
    sample_cap: int = 4096
    bt_max_voxels: int | None = 32768
    bt_stages: tuple[int, ...] | None = None
    same_image_prob: float = 0.5
    view_probability: float = 0.2
    transfer_decoder: bool = False

    def __post_init__(self):
        super().__post_init__()
        for name in ("identity_weight", "label_weight", "recon_weight", "off_diagonal_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.identity_weight == self.label_weight == self.recon_weight == 0:
            raise ValueError("all MixCL terms are switched off; keep at least one weight > 0")
        if self.label_loss not in ("eq6", "supcon_out"):
            raise ValueError(f"label_loss must be 'eq6' or 'supcon_out', got {self.label_loss!r}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 <= self.same_image_prob <= 1 or not 0 <= self.view_probability <= 1:
            raise ValueError("same_image_prob and view_probability must be in [0, 1]")
        if self.sample_cap > 16384:
            raise ValueError(f"sample_cap {self.sample_cap} exceeds the hard cap 16384 (pair matrices grow as n^2)")


def load_run_config(config_class: type[PretrainConfig]) -> PretrainConfig:
    """Read the run configuration named by ``nnSSL_RUN_CONFIG`` (or the defaults)."""
    path = os.environ.get(RUN_CONFIG_ENV)
    if not path:
        return config_class()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{RUN_CONFIG_ENV}={path} does not exist; unset it or run nnssl_pretrain")
    with open(path) as f:
        values = json.load(f)
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown fields {unknown} in {path} for {config_class.__name__}")
    if values.get("bt_stages") is not None:
        values["bt_stages"] = tuple(values["bt_stages"])
    return config_class(**values)
