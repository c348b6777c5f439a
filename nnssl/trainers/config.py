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
#: how the pretraining loaders draw the cases of a pool (nnssl/data/dataset_weights.py)
SAMPLING_MODES = ("cases", "datasets")


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
        dataset_sampling: how the loaders draw cases of a pool: "cases" (uniform over cases, nnU-Net's draw, so
            a dataset in proportion to its size) or "datasets" (each source dataset equally often;
            ``nnssl/data/dataset_weights.py``).
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
    dataset_sampling: str = "cases"

    def __post_init__(self):
        for name in ("epochs", "iterations_per_epoch", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.val_iterations < 0:
            raise ValueError(f"val_iterations must be >= 0, got {self.val_iterations}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {self.batch_size}")
        if not self.learning_rate > 0 or self.learning_rate == float("inf"):  # NaN fails every comparison
            raise ValueError(f"learning_rate (--lr) must be a finite number > 0, got {self.learning_rate}")
        if self.dataset_sampling not in SAMPLING_MODES:
            raise ValueError(f"dataset_sampling must be one of {', '.join(SAMPLING_MODES)}, got "
                             f"{self.dataset_sampling!r}")

    def to_json(self) -> dict:
        """Plain dict (for JSON next to the checkpoint)."""
        return dataclasses.asdict(self)

    def caveats(self) -> list[str]:
        """Valid but probably unintended combinations of settings (the CLI prints them as warnings); none here."""
        return []


@dataclass(frozen=True)
class MixCLConfig(PretrainConfig):
    """MixCL (method_spec A): L = w_id L_id + alpha L_label + beta L_recon.

    Attributes:
        identity_weight, label_weight (alpha), recon_weight (beta): 0 switches a term off (ablations).
        off_diagonal_weight: Barlow Twins lambda (5e-3).
        temperature: tau of the label term (0.1).
        label_stage: encoder stage of the label term. None (default) picks the second-deepest stage:
            the paper's "2nd layer" is a transformer block with a global receptive field, while stage 1
            of a CNN sees about 11 voxels, too little to tell anterior from posterior hippocampus.
        label_decoder_stage: take L_label on the output of this decoder stage s instead (0 = the one after
            the bottleneck, -1 the last, full-resolution one; its own projector), so the transferred decoder
            learns the pool's labels; default None (an encoder stage, as the paper). Needs L_label on;
            exclusive with ``label_stage``.
        label_grad_ratio: when set (default 1.0), alpha is re-set at the first step of every epoch so that
            alpha * |grad L_label| = ratio * identity_weight * |grad L_id| on the encoder; ``label_weight``
            is then only the starting value. None keeps alpha fixed at ``label_weight`` (the paper's 0.01).
        label_loss: "eq6" (default) or "supcon_out".
        boundary_mu, boundary_eps: weight map parameters (8, 0.05, voxel units).
        per_class, sample_cap: label voxels per class and per patch.
        bt_max_voxels: voxel subsample per stage for L_id (None = all voxels).
        bt_stages: encoder stages in L_id (None = all).
        bt_decoder_stages: decoder stages s (0 = the one after the bottleneck) whose outputs join L_id too,
            each with its own projector (default none: L_id on the encoder, as the paper). Gives the
            decoder a signal besides L_recon, for ``transfer_decoder``.
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
    label_stage: int | None = None
    label_decoder_stage: int | None = None
    label_grad_ratio: float | None = 1.0
    label_loss: str = "eq6"
    boundary_mu: float = 8.0
    boundary_eps: float = 0.05
    per_class: int = 512
    sample_cap: int = 4096
    bt_max_voxels: int | None = 32768
    bt_stages: tuple[int, ...] | None = None
    bt_decoder_stages: tuple[int, ...] = ()
    same_image_prob: float = 0.5
    view_probability: float = 0.5
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
        if self.label_grad_ratio is not None and self.label_grad_ratio <= 0:
            raise ValueError(f"label_grad_ratio must be > 0 or None (fixed alpha), got {self.label_grad_ratio}")
        if not 0 <= self.same_image_prob <= 1 or not 0 <= self.view_probability <= 1:
            raise ValueError("same_image_prob and view_probability must be in [0, 1]")
        if self.per_class < 1 or self.sample_cap < 1:
            raise ValueError(f"per_class (--label-samples) and sample_cap must be >= 1, got {self.per_class} and "
                             f"{self.sample_cap}")
        if self.bt_decoder_stages and self.identity_weight == 0:
            raise ValueError(f"bt_decoder_stages {self.bt_decoder_stages} add decoder stages to L_id, which "
                             "--identity-weight 0 switches off; drop --bt-decoder-stages or keep L_id")
        if self.label_decoder_stage is not None and self.label_weight == 0:
            raise ValueError(f"label_decoder_stage {self.label_decoder_stage} moves L_label to the decoder, which "
                             "--no-label / --label-weight 0 / --allow-unlabelled switch off; drop "
                             "--label-decoder-stage or keep L_label")
        if self.label_decoder_stage is not None and self.label_stage is not None:
            raise ValueError(f"label_stage {self.label_stage} (encoder) and label_decoder_stage "
                             f"{self.label_decoder_stage} both place L_label; give one of --label-stage and "
                             "--label-decoder-stage")
        if self.sample_cap > 16384:
            raise ValueError(f"sample_cap {self.sample_cap} exceeds the hard cap 16384 (pair matrices grow as n^2)")

    def caveats(self) -> list[str]:
        out = []
        if self.label_decoder_stage is not None and not self.transfer_decoder:
            out.append(f"--label-decoder-stage {self.label_decoder_stage} without --transfer-decoder: the decoder "
                       "stages L_label trains are not transferred, only what it taught the encoder; add "
                       "--transfer-decoder")
        if (self.transfer_decoder and self.recon_weight == 0 and not self.bt_decoder_stages
                and self.label_decoder_stage is None):
            out.append("--transfer-decoder with L_recon off (--no-recon / --recon-weight 0): only L_recon trains "
                       "the decoder, so the decoder stages transferred keep their random init and the fine-tune "
                       "is encoder-only in effect; drop --transfer-decoder, keep L_recon or add --bt-decoder-stages "
                       "or --label-decoder-stage")
        if self.label_grad_ratio is not None and self.label_weight > 0 and self.identity_weight == 0:
            out.append(f"--label-grad-ratio needs L_id's gradient: with --identity-weight 0, alpha stays fixed at "
                       f"--label-weight ({self.label_weight})")
        return out


@dataclass(frozen=True)
class RegressionConfig(PretrainConfig):
    """Masked-noise regression (method_spec C): L1 on masked voxels of a full U-Net + regression head.

    Attributes:
        mask_ratio: fraction of voxels corrupted; None (default) scales it with the patch so that about
            256 voxels per patch are masked, within [0.2 %, 10 %] (``default_mask_ratio``).
        transfer_decoder: also transfer the decoder stages (default: encoder only; the decoder is tuned
            to reconstruct intensities, not to segment).
        mask_layout: "stratified" (one voxel per grid cell) or "bernoulli".
        replacement: "gaussian" (N(0, 1)) or "patch_gaussian" (N(mean, std) of the patch).
    Optimiser: nnU-Net's SGD (lr 1e-2, momentum 0.99, Nesterov, poly decay).
    """

    method: str = "regression"
    learning_rate: float = 1e-2
    weight_decay: float = 3e-5
    mask_ratio: float | None = None
    mask_layout: str = "stratified"
    replacement: str = "gaussian"
    transfer_decoder: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.mask_ratio is not None and not 0 < self.mask_ratio <= 1:
            raise ValueError(f"mask_ratio must be in (0, 1], got {self.mask_ratio}")
        if self.mask_layout not in ("stratified", "bernoulli"):
            raise ValueError(f"mask_layout must be 'stratified' or 'bernoulli', got {self.mask_layout!r}")
        if self.replacement not in ("gaussian", "patch_gaussian"):
            raise ValueError(f"replacement must be 'gaussian' or 'patch_gaussian', got {self.replacement!r}")


@dataclass(frozen=True)
class GlobalLocalConfig(PretrainConfig):
    """Chaitanya et al. (NeurIPS 2020) stage-wise global then local contrastive pretraining (method_spec B).

    Attributes:
        stage: "global" (encoder + g1) or "local" (frozen encoder, partial decoder d_l + g2); the CLI
            runs both in turn by default.
        global_strategy: "GR", "GD-" or "GD"; local_strategy: "LR" or "LD".
        partitions: S slice-axis partitions (4); cases_per_batch: m (batch = m x S x 2 views).
        temperature: tau of both losses (0.1).
        decoder_stages: l of d_l; None (default) picks l by resolution so that d_l ends closest to
            1/``local_stride`` of the input (the paper's d_3 ends at 1/4 on a 6-level network).
        local_stride: target output stride of d_l (4).
        lattice_jitter: per-step random shift (feature voxels, per region and axis, the same in both
            views) of the region lattice, so fixed positions cannot solve the local loss (1; 0 = off).
        region_size: K (1 or 3).
        patch_fraction: 3D pretraining patch as a fraction of the plan patch (rounded to the
            network's stride); 2D uses the plan patch.
        global_checkpoint: stage-1 checkpoint the local stage starts from (set by the CLI).
    Optimiser: Adam, lr 1e-3, constant (the paper's setting).
    """

    method: str = "global_local"
    stage: str = "global"
    global_strategy: str = "GD"
    local_strategy: str = "LR"
    partitions: int = 4
    cases_per_batch: int = 4
    temperature: float = 0.1
    decoder_stages: int | None = None
    local_stride: int = 4
    lattice_jitter: int = 1
    region_size: int = 3
    patch_fraction: float = 0.5
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    global_checkpoint: str | None = None

    def __post_init__(self):
        super().__post_init__()
        checks = {
            "stage": (self.stage, ("global", "local")),
            "global_strategy": (self.global_strategy, ("GR", "GD-", "GD")),
            "local_strategy": (self.local_strategy, ("LR", "LD")),
            "region_size": (self.region_size, (1, 3)),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.partitions < 1 or self.cases_per_batch < 1 or (self.decoder_stages or 1) < 1 or self.local_stride < 1:
            raise ValueError("partitions, cases_per_batch, decoder_stages and local_stride must be >= 1")
        if self.lattice_jitter < 0:
            raise ValueError(f"lattice_jitter must be >= 0, got {self.lattice_jitter}")
        if self.temperature <= 0 or not 0 < self.patch_fraction <= 1:
            raise ValueError("temperature must be > 0 and patch_fraction in (0, 1]")
        if self.global_strategy != "GR" and self.partitions < 2:
            raise ValueError(f"{self.global_strategy} needs at least 2 partitions for negatives")


#: partial losses of the supervised method (``nnssl/losses/partial.py``)
SUPERVISED_LOSSES = ("dc_ce", "dc_bce")


@dataclass(frozen=True)
class SupervisedConfig(PretrainConfig):
    """Supervised multi-dataset training with dataset-local classes (MultiTalent, Ulrich et al., MICCAI 2023).

    nnU-Net's network, augmentation and deep supervision on the pool; the output layer has one channel per
    class of every source dataset (plus background) and each item's loss counts only its own dataset's
    channels, so label 1 of one dataset is never label 1 (nor a negative) of another. Transfer: encoder and
    decoder; the output layer (the pool's classes) stays behind.

    Attributes:
        loss: "dc_ce" (Dice + CE on a softmax over the item's own channels) or "dc_bce" (one sigmoid per class,
            BCE + Dice on the item's own classes, MultiTalent's choice).
        deep_supervision: nnU-Net's deep supervision (default on, as nnU-Net trains).
    Optimiser: nnU-Net's SGD (lr 1e-2, momentum 0.99, Nesterov, poly decay).
    """

    method: str = "supervised"
    learning_rate: float = 1e-2
    weight_decay: float = 3e-5
    loss: str = "dc_ce"
    deep_supervision: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.loss not in SUPERVISED_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(SUPERVISED_LOSSES)}, got {self.loss!r}")


def load_run_config(config_class: type[PretrainConfig], plans: dict | None = None,
                    run_key: str | None = None) -> tuple[PretrainConfig, str]:
    """The run configuration and where it came from.

    In order: the file named by ``nnSSL_RUN_CONFIG`` (set by ``nnssl_pretrain``); the configuration
    ``nnssl_pretrain`` recorded in the pool's plans under ``run_key`` (so a stock ``nnUNetv2_train ...
    --c`` resumes with the same settings); the class defaults.
    """
    path = os.environ.get(RUN_CONFIG_ENV)
    recorded = ((plans or {}).get("nnssl") or {}).get("runs", {}).get(run_key) if run_key else None
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{RUN_CONFIG_ENV}={path} does not exist; unset it or run nnssl_pretrain")
        with open(path) as f:
            values, source = json.load(f), path
    elif recorded is not None:
        values, source = dict(recorded), f"the pool's plans (run {run_key!r})"
    else:
        return config_class(), "defaults"
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown fields {unknown} in {source} for {config_class.__name__}")
    for name in ("bt_stages", "bt_decoder_stages"):  # JSON lists back to the dataclass's tuples
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    return config_class(**values), source
