"""Supervised pixel contrast between two patches of the same dataset (MixCL L_label, Eq. 6).

Reference: MixCL (Li, Quan, Zhou) Eq. 6, read per anchor as in documentation/design.md A.5 / H.2-H.3; the
``supcon_out`` variant is Khosla et al. 2020 L_out / Wang et al. ICCV 2021 pixel contrast.
Anchors come from P1, contrasts from P2: there is no self pair. Label ids are compared only inside
one (P1, P2) pair, which the caller draws from one dataset, so ids stay dataset-local.
"""

import torch
import torch.nn.functional as F

from nnssl.losses._numerics import MASK_FILL, connected_zero, fp32_block

VARIANTS = ("eq6", "supcon_out")

#: largest |sim| = 1 / temperature the grouped loss exponentiates without a shift: fp32 exp(+-40) is
#: normal (2e17, 4e-18) and sums of up to 1e20 such terms stay finite
_EXP_RANGE = 40.0


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


#: label of padding rows in :func:`rows_by_item` (never positive, never negative)
PAD_LABEL = -1


def rows_by_item(rows: torch.Tensor, labels: torch.Tensor, item: torch.Tensor,
                 num_items: int, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Group sampled rows by batch item, padded to the largest group.

    Shape:
        rows: (N, D); labels, item: (N,) with item ids in [0, num_items).
        k: the largest group's size when the caller knows it (the loader does; no host sync), else read
        from ``item`` (one sync). A ``k`` smaller than the largest group raises an index error.
    Returns:
        (num_items, K, D) rows and (num_items, K) labels, padding labelled ``PAD_LABEL``.
    """
    counts = torch.bincount(item, minlength=num_items)
    if k is None:
        k = int(counts.max()) if item.numel() else 0
    order = torch.argsort(item, stable=True)
    item_sorted = item[order]
    slot = torch.arange(item.numel(), device=item.device) - (torch.cumsum(counts, 0) - counts)[item_sorted]
    out = rows.new_zeros((num_items, k, rows.shape[1]))
    out[item_sorted, slot] = rows[order]
    lab = labels.new_full((num_items, k), PAD_LABEL)
    lab[item_sorted, slot] = labels[order]
    return out, lab


def batched_label_contrast_loss(z1: torch.Tensor, y1: torch.Tensor, z2: torch.Tensor, y2: torch.Tensor,
                                temperature: float = 0.1, variant: str = "eq6",
                                num_labels: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`label_contrast_loss` of B (P1, P2) pairs at once, with no Python loop.

    Labels are compared only inside a pair (dataset-local ids); ``PAD_LABEL`` rows take no part.
    The relation is never built as (B, K1, K2) masks: with E = exp(sim) (|sim| <= 1 / temperature, so
    no shift is needed), the sums over an anchor's positives are one (B, K1, K2) x (B, K2, C) product
    with the contrasts' one-hot labels. Eq. 6 per anchor i of class c > 0:
    log sum_j E_ij - log sum_{y_j = c} E_ij; ``supcon_out``: mean over positives j of
    log(E_ij + N_i) - log E_ij with N_i = sum_{y_j != c} E_ij (= softplus(lse_neg - sim_ij)).
    Equal to :func:`dense_label_contrast_loss` to float tolerance (tested), in values and gradients.
    For temperature < 1 / 40 the exp range of fp32 is not enough and the dense version is used.

    Shape:
        z1: (B, K1, D), y1: (B, K1); z2: (B, K2, D), y2: (B, K2) (from :func:`rows_by_item`).
        num_labels: 1 + the largest label id, when the caller knows it (no host sync); else read from y.
    Returns:
        (per-pair loss (B,), informative (B,) bool: the pair has an anchor with a positive). A pair
        without one has loss 0 (graph-connected).
    Raises:
        ValueError: on an unknown ``variant`` or a non-positive temperature.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if 1.0 / temperature > _EXP_RANGE:
        return dense_label_contrast_loss(z1, y1, z2, y2, temperature, variant)
    if z1.shape[1] == 0 or z2.shape[1] == 0:  # no sampled rows at all: nothing informative
        zero = connected_zero(z1, z2)
        return zero.expand(z1.shape[0]), torch.zeros(z1.shape[0], dtype=torch.bool, device=z1.device)
    if num_labels is None:
        num_labels = 1 + int(max(y1.max() if y1.numel() else 0, y2.max() if y2.numel() else 0, 0))
    with fp32_block(z1.device.type):
        a = F.normalize(z1.float(), dim=2, eps=1e-8) / temperature  # the scale on (B, K1, D), not (B, K1, K2)
        b = F.normalize(z2.float(), dim=2, eps=1e-8)
        sim = torch.bmm(a, b.transpose(1, 2))  # (B, K1, K2), |sim| <= 1 / temperature
        # pad rows of z2 are zero vectors (sim 0) in a one-hot column of their own that is dropped
        onehot2 = F.one_hot(torch.where(y2 == PAD_LABEL, num_labels, y2), num_labels + 1)[..., :num_labels]
        onehot2 = onehot2.to(sim.dtype)  # (B, K2, C)
        own = y1.clamp(min=0)  # (B, K1); pad and background anchors are weighted out below
        n_pos = onehot2.sum(1).gather(1, own)  # (B, K1) positives per anchor
        has_pos = (y1 > 0) & (n_pos > 0)  # background anchors have no positive (both-0 pairs are ignored)
        e = torch.exp(sim)  # (B, K1, K2) in [exp(-40), exp(40)]
        class_sums = torch.bmm(e, onehot2)  # (B, K1, C): sum of E over each class of contrasts
        own_hot = F.one_hot(own, num_labels).to(sim.dtype)  # (B, K1, C)
        pos = (class_sums * own_hot).sum(2)
        others = (class_sums * (1 - own_hot)).sum(2)  # sums of non-negative terms: no cancellation
        if variant == "eq6":
            safe_pos = torch.where(has_pos, pos, torch.ones_like(pos))
            per_anchor = torch.log(torch.where(has_pos, pos + others, torch.ones_like(pos))) - torch.log(safe_pos)
        else:
            per_positive = torch.log(e + others[..., None]) - sim  # (B, K1, K2), used at positives only
            per_anchor = (torch.bmm(per_positive, onehot2) * own_hot).sum(2) / n_pos.clamp(min=1)
        weight = has_pos.float()
        per_pair = (per_anchor * weight).sum(1) / weight.sum(1).clamp(min=1)
        return per_pair, has_pos.any(dim=1)


def dense_label_contrast_loss(z1: torch.Tensor, y1: torch.Tensor, z2: torch.Tensor, y2: torch.Tensor,
                              temperature: float = 0.1, variant: str = "eq6") -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`batched_label_contrast_loss` computed on the dense (B, K1, K2) relation masks (the reference).

    Two masked copies of the similarity matrix and a logsumexp over each; kept to check the grouped
    version against (tests) and to measure it (``nnssl_benchmark speed --label-impl both``).

    Labels are compared only inside a pair (dataset-local ids); ``PAD_LABEL`` rows take no part.

    Shape:
        z1: (B, K1, D), y1: (B, K1); z2: (B, K2, D), y2: (B, K2) (from :func:`rows_by_item`).
    Returns:
        (per-pair loss (B,), informative (B,) bool: the pair has an anchor with a positive). A pair
        without one has loss 0 (graph-connected).
    Raises:
        ValueError: on an unknown ``variant`` or a non-positive temperature.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    with fp32_block(z1.device.type):
        a = F.normalize(z1.float(), dim=2, eps=1e-8)
        b = F.normalize(z2.float(), dim=2, eps=1e-8)
        sim = torch.bmm(a, b.transpose(1, 2)) / temperature  # (B, K1, K2)
        l1, l2 = y1[:, :, None], y2[:, None, :]
        same = l1 == l2
        valid = ~(same & (l1 == 0)) & (l1 != PAD_LABEL) & (l2 != PAD_LABEL)
        positive = same & valid
        has_pos = positive.any(dim=2)  # (B, K1) anchors that count
        if variant == "eq6":
            lse_valid = torch.logsumexp(sim.masked_fill(~valid, MASK_FILL), dim=2)
            lse_pos = torch.logsumexp(sim.masked_fill(~positive, MASK_FILL), dim=2)
            per_anchor = lse_valid - lse_pos
        else:
            negative = valid & ~positive
            lse_neg = torch.logsumexp(sim.masked_fill(~negative, MASK_FILL), dim=2, keepdim=True)
            per_pair_ij = F.softplus(lse_neg - sim)
            per_anchor = (per_pair_ij * positive).sum(2) / positive.sum(2).clamp(min=1)
        weight = has_pos.float()
        per_pair = (per_anchor * weight).sum(1) / weight.sum(1).clamp(min=1)
        return per_pair, has_pos.any(dim=1)
