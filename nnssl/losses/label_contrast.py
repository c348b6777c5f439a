"""Supervised pixel contrast between two patches of the same dataset (MixCL L_label, Eq. 6).

Reference: MixCL (Li, Quan, Zhou) Eq. 6, read per anchor as in method_spec A.5 / H.2-H.3; the
``supcon_out`` variant is Khosla et al. 2020 L_out / Wang et al. ICCV 2021 pixel contrast.
Anchors come from P1, contrasts from P2: there is no self pair. Label ids are compared only inside
one (P1, P2) pair, which the caller draws from one dataset, so ids stay dataset-local.
"""

import torch
import torch.nn.functional as F

from nnssl.losses._numerics import MASK_FILL, connected_zero, fp32_block

VARIANTS = ("eq6", "supcon_out")


def label_contrast_loss(z1: torch.Tensor, y1: torch.Tensor, z2: torch.Tensor, y2: torch.Tensor,
                        temperature: float = 0.1, variant: str = "eq6",
                        ignore_label: int | None = None) -> torch.Tensor:
    """Label-consistency loss of one (P1, P2) pair.

    Relation A_ij: positive if y1_i == y2_j != 0; negative if y1_i != y2_j; ignored if both are
    background (0) or either is ``ignore_label``. Background anchors have no positive and drop out.

    Shape:
        z1: (N1, D) embeddings sampled from view V1 (normalised here).
        y1: (N1,) integer labels of those samples.
        z2: (N2, D) embeddings sampled from view V2.
        y2: (N2,) integer labels.
    Returns:
        fp32 scalar: mean over anchors with at least one positive; a graph-connected 0 if none.
    Raises:
        ValueError: on an unknown ``variant``, non-positive temperature or mismatched shapes.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if z1.ndim != 2 or z2.ndim != 2 or z1.shape[1] != z2.shape[1]:
        raise ValueError(f"z1, z2 must be (N1, D) and (N2, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if y1.shape != (z1.shape[0],) or y2.shape != (z2.shape[0],):
        raise ValueError(f"y1, y2 must be (N1,) and (N2,), got {tuple(y1.shape)} and {tuple(y2.shape)} "
                         f"for N1={z1.shape[0]}, N2={z2.shape[0]}")
    with fp32_block(z1.device.type):
        a = F.normalize(z1.float(), dim=1, eps=1e-8)
        b = F.normalize(z2.float(), dim=1, eps=1e-8)
        sim = a @ b.T / temperature  # (N1, N2)

        same = y1[:, None] == y2[None, :]
        valid = ~(same & (y1[:, None] == 0))
        if ignore_label is not None:
            valid &= (y1[:, None] != ignore_label) & (y2[None, :] != ignore_label)
        positive = same & valid

        has_pos = positive.any(dim=1)
        if not bool(has_pos.any()):
            return connected_zero(z1, z2)
        sim, positive, valid = sim[has_pos], positive[has_pos], valid[has_pos]

        if variant == "eq6":
            lse_valid = torch.logsumexp(sim.masked_fill(~valid, MASK_FILL), dim=1)
            lse_pos = torch.logsumexp(sim.masked_fill(~positive, MASK_FILL), dim=1)
            return (lse_valid - lse_pos).mean()

        negative = valid & ~positive
        lse_neg = torch.logsumexp(sim.masked_fill(~negative, MASK_FILL), dim=1, keepdim=True)
        per_pair = F.softplus(lse_neg - sim)  # (anchors, N2), used only at positives
        per_anchor = (per_pair * positive).sum(1) / positive.sum(1)
        return per_anchor.mean()
