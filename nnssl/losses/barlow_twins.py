"""Barlow Twins cross-correlation loss, used pixel-wise per encoder stage by MixCL (L_id).

Reference: Zbontar et al., "Barlow Twins: Self-Supervised Learning via Redundancy Reduction", ICML 2021;
MixCL (Li, Quan, Zhou) Eq. 4-5 with the typo fixes of documentation/design.md A.7 (off-diagonal C_ij, Pearson).
"""

from typing import NamedTuple

import torch

from nnssl.distributed import all_reduce_sum, reduce_count
from nnssl.losses._numerics import fp32_block


class BarlowTwinsTerms(NamedTuple):
    """Detached-friendly parts of the Barlow Twins loss."""

    on_diagonal: torch.Tensor
    off_diagonal: torch.Tensor
    total: torch.Tensor


def _standardise(z: torch.Tensor, m: torch.Tensor, eps: float, center: bool) -> torch.Tensor:
    """Columns standardised with statistics over all ranks' ``m`` rows (one process: this one's)."""
    if center:
        z = z - all_reduce_sum(z.sum(dim=0, keepdim=True)) / m
    # center=False is literal MixCL Eq. 5: column cosine, no centring
    return z / torch.sqrt(all_reduce_sum((z * z).sum(dim=0, keepdim=True)) / m + eps)


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5, center: bool = True) -> torch.Tensor:
    """Cross-correlation matrix C = Zbar1^T Zbar2 / M of two embeddings, computed in fp32.

    Under DDP, M counts the rows of every rank and the column statistics and C are summed over
    ranks (differentiably), so every rank gets the combined batch's C (nnssl.distributed).

    Shape:
        z1, z2: (M, D) rows are samples (voxels), columns embedding dimensions.
    Returns:
        (D, D) matrix; with ``center=True`` every entry is a Pearson correlation in [-1, 1].
    Raises:
        ValueError: if the shapes differ or are not 2D.
    """
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must both be (M, D) with equal shapes, got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}")
    with fp32_block(z1.device.type):
        m = reduce_count(z1.shape[0]).to(z1.device)
        a = _standardise(z1.float(), m, eps, center)
        b = _standardise(z2.float(), m, eps, center)
        return all_reduce_sum(a.T @ b) / m


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, off_diagonal_weight: float = 5e-3,
                      eps: float = 1e-5, center: bool = True) -> BarlowTwinsTerms:
    """Barlow Twins loss sum_i (1 - C_ii)^2 + lambda * sum_{i!=j} C_ij^2 (plain sums, no 1/D).

    Args:
        z1, z2: (M, D) projector outputs of the same voxels in two views.
        off_diagonal_weight: lambda of the paper (5e-3).
        eps: added to the variance before the square root (keeps collapsed columns finite).
        center: standardise columns (Pearson, default) or only scale (literal MixCL Eq. 5).
    Returns:
        BarlowTwinsTerms(on_diagonal, off_diagonal (already weighted), total), fp32 scalars.
    """
    c = cross_correlation(z1, z2, eps=eps, center=center)
    diag = torch.diagonal(c)
    on = (1.0 - diag).pow(2).sum()
    off = (c.pow(2).sum() - diag.pow(2).sum()) * off_diagonal_weight
    return BarlowTwinsTerms(on, off, on + off)
