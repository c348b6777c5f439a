"""MixCL's run configuration (documentation/design.md A)."""

from dataclasses import dataclass

from nnssl.run_config import PretrainConfig


@dataclass(frozen=True)
class MixCLConfig(PretrainConfig):
    """MixCL (documentation/design.md A): L = w_id L_id + alpha L_label + beta L_recon.

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

    @property
    def needs_labels(self) -> bool:
        return self.label_weight > 0

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
