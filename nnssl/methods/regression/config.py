"""The masked-noise regression method's run configuration (documentation/design.md C)."""

from dataclasses import dataclass

from nnssl.run_config import PretrainConfig


@dataclass(frozen=True)
class RegressionConfig(PretrainConfig):
    """Masked-noise regression (documentation/design.md C): L1 on masked voxels of a full U-Net + regression head.

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
