"""Mask-form contrastive loss shared by the global and local losses of Chaitanya et al. (NeurIPS 2020).

One core, many losses (solo-learn style): positives and negatives come as boolean masks built from
index tensors (``nnssl.sampling.strategies``), so G^R, G^D-, G^D, L^R and L^D differ only in masks.
For G^R with two views it is SimCLR's NT-Xent.
"""

import torch
import torch.nn.functional as F

from nnssl.losses._numerics import MASK_FILL, fp32_block


def contrastive_loss(z: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                     temperature: float = 0.1) -> torch.Tensor:
    """Mean over ordered positive pairs (a, p) of -log(e^{s_ap} / (e^{s_ap} + sum_{n in N(a)} e^{s_an})).

    Written as softplus(LSE_{N(a)} s_a. - s_ap) with finite masking; the diagonal is never used.

    Shape:
        z: (N, D) embeddings (normalised here); positive, negative: (N, N) bool.
    Returns:
        fp32 scalar; a graph-connected 0 when there is no positive pair.
    Raises:
        ValueError: on mismatched shapes, overlapping masks or a non-positive temperature.
    """
    n = z.shape[0]
    if positive.shape != (n, n) or negative.shape != (n, n):
        raise ValueError(f"positive {tuple(positive.shape)} and negative {tuple(negative.shape)} must be ({n}, {n})")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if bool((positive & negative).any()):
        raise ValueError("positive and negative masks overlap")
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    positive, negative = positive & ~eye, negative & ~eye
    with fp32_block(z.device.type):
        zn = F.normalize(z.float(), dim=1, eps=1e-8)
        sim = zn @ zn.T / temperature
        lse_neg = torch.logsumexp(sim.masked_fill(~negative, MASK_FILL), dim=1, keepdim=True)
        # mean over positive pairs without a host sync; 0 (still connected to z) when there is none
        pos = positive.float()
        return (F.softplus(lse_neg - sim) * pos).sum() / pos.sum().clamp(min=1)


@torch.no_grad()
def similarity_stats(z: torch.Tensor, positive: torch.Tensor,
                     negative: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cosine similarity over positive pairs and over negative pairs (detached, for the curves).

    A trivially solved loss shows as positives near 1 with negatives near 0 from the first epochs.

    Shape:
        z: (N, D); positive, negative: (N, N) bool (the diagonal is ignored). Returns two fp32 scalars
        (NaN where a mask is empty).
    """
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    zn = F.normalize(z.detach().float(), dim=1, eps=1e-8)
    sim = zn @ zn.T
    nan = torch.tensor(float("nan"), device=z.device)
    pos, neg = positive & ~eye, negative & ~eye
    return (sim[pos].mean() if pos.any() else nan), (sim[neg].mean() if neg.any() else nan)
