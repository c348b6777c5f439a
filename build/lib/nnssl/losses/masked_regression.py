"""Masked L1 regression loss (Umapathy et al. ISMRM 2022 / Noise2Void): only corrupted voxels count."""

import torch

from nnssl.distributed import global_mean
from nnssl.losses._numerics import fp32_block


def masked_l1_loss(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L = sum_v M_v |f(x~)_v - x_v| / sum_v M_v, averaged over channels.

    Shape:
        prediction, target: (B, C, *S); mask: (B, *S) bool, the same voxels for every channel.
    Returns:
        fp32 scalar; a graph-connected 0 when the mask is empty (on every rank).
    Raises:
        ValueError: on mismatched shapes.
    """
    if prediction.shape != target.shape or mask.shape != (prediction.shape[0], *prediction.shape[2:]):
        raise ValueError(f"prediction {tuple(prediction.shape)}, target {tuple(target.shape)} and mask "
                         f"{tuple(mask.shape)} must be (B, C, *S), (B, C, *S) and (B, *S)")
    with fp32_block(prediction.device.type):
        m = mask[:, None].float()
        # masked voxels of all ranks under DDP (nnssl.distributed); no host sync; 0 if none
        return global_mean((m * (prediction.float() - target.float()).abs()).sum() / prediction.shape[1], m.sum())
