"""Partial segmentation losses for multi-dataset supervised training with dataset-local classes.

One network predicts the union of every source dataset's classes: channel 0 is background, then each
dataset's foreground labels in turn (:class:`ClassLayout`). An item of dataset ``d`` is scored only on the
channels ``d`` annotates, so a class of dataset A is never a negative for an image of dataset B, and label 1
of A is never label 1 of B (MultiTalent, Ulrich et al., MICCAI 2023).

- :func:`partial_dc_ce_loss` (default, ``dc_ce``): nnU-Net's Dice + CE on a softmax restricted to the item's
  channels (background and its dataset's classes; the other logits are masked out).
- :func:`partial_dc_bce_loss` (``dc_bce``, MultiTalent's choice): one sigmoid per class, BCE + Dice on the
  item's foreground channels only.

Both return the same value as nnU-Net's ``DC_and_CE_loss`` / a BCE + Dice on one dataset when the pool has
one dataset (tests). Under DDP the batch Dice sums and the CE mean span every rank (``nnssl.distributed``).
Shapes: logits (B, C, *S) with C = ``ClassLayout.num_outputs``; target (B, 1, *S) holding dataset-local label
ids; ``union_index`` (B, L) and ``channel_mask`` (B, C) per item from :meth:`ClassLayout.item_tables`.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nnssl.distributed import all_reduce_sum, global_mean
from nnssl.losses._numerics import MASK_FILL, fp32_block

IGNORE = -1


@dataclass(frozen=True)
class ClassLayout:
    """The union output channels of a pool: background, then every dataset's foreground labels in order.

    Attributes:
        labels: ``{dataset id: sorted foreground label values}`` (dataset-local ids, as in its dataset.json).
    """

    labels: dict[int, tuple[int, ...]]

    def __post_init__(self):
        for d, values in self.labels.items():
            if not values:
                raise ValueError(f"dataset {d} has no foreground labels; supervised pretraining needs labelled "
                                 "datasets (leave it out of -d, or use a label-free method)")
            if any(v <= 0 for v in values) or len(set(values)) != len(values):
                raise ValueError(f"dataset {d}: foreground labels must be distinct positive ids, got {values}")

    @property
    def datasets(self) -> list[int]:
        return sorted(self.labels)

    @property
    def num_outputs(self) -> int:
        """Background plus every dataset's foreground classes."""
        return 1 + sum(len(v) for v in self.labels.values())

    def channel(self, dataset: int, label: int) -> int:
        """Union channel of ``label`` of ``dataset`` (0 for background)."""
        if label == 0:
            return 0
        offset = 1
        for d in self.datasets:
            if d == dataset:
                return offset + self.labels[d].index(label)
            offset += len(self.labels[d])
        raise KeyError(dataset)

    def names(self) -> list[str]:
        """One name per output channel: ``background`` and ``D<id>:<label>``."""
        return ["background"] + [f"D{d}:{v}" for d in self.datasets for v in self.labels[d]]

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per dataset (in :attr:`datasets` order): the union channel of each local label value (IGNORE where
        the dataset has no such label) and the channels it annotates.

        Shape: (n_datasets, max_label + 1) long and (n_datasets, num_outputs) bool.
        """
        max_label = max(max(v) for v in self.labels.values())
        index = torch.full((len(self.labels), max_label + 1), IGNORE, dtype=torch.long)
        mask = torch.zeros(len(self.labels), self.num_outputs, dtype=torch.bool)
        for i, d in enumerate(self.datasets):
            index[i, 0] = 0
            mask[i, 0] = True
            for v in self.labels[d]:
                index[i, v] = self.channel(d, v)
                mask[i, self.channel(d, v)] = True
        return index, mask

    def item_tables(self, dataset_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`tables` rows for a batch whose item b comes from dataset ``datasets[dataset_index[b]]``.

        Shape: dataset_index (B,) long; returns (B, max_label + 1) and (B, num_outputs).
        """
        index, mask = self.tables()
        return index.to(dataset_index.device)[dataset_index], mask.to(dataset_index.device)[dataset_index]


def to_union_labels(target: torch.Tensor, union_index: torch.Tensor) -> torch.Tensor:
    """Dataset-local label ids mapped to union channels (IGNORE for values the item's dataset does not declare).

    Shape: target (B, 1, *S) of integers (nnU-Net's segmentation layout); union_index (B, L). Returns (B, *S)
    long.
    """
    t = target[:, 0].long()
    flat = t.reshape(t.shape[0], -1)
    out_of_range = (flat < 0) | (flat >= union_index.shape[1])
    mapped = union_index.gather(1, flat.clamp(0, union_index.shape[1] - 1))
    return mapped.masked_fill(out_of_range, IGNORE).view_as(t)


def _dice_loss(probs: torch.Tensor, onehot: torch.Tensor, channel_mask: torch.Tensor, batch_dice: bool,
               smooth: float) -> torch.Tensor:
    """-mean soft Dice over the foreground channels each item (or, with ``batch_dice``, any item) annotates.

    Shape: probs, onehot (B, C, *S) float (0 outside the item's channels); channel_mask (B, C). Returns ().
    """
    axes = tuple(range(2, probs.ndim))
    intersect, sum_pred, sum_gt = (probs * onehot).sum(axes), probs.sum(axes), onehot.sum(axes)
    valid = channel_mask[:, 1:].float()
    intersect, sum_pred, sum_gt = intersect[:, 1:], sum_pred[:, 1:], sum_gt[:, 1:]
    if batch_dice:  # nnU-Net's batch Dice: sums over the batch (all ranks); a channel counts if any item has it
        intersect, sum_pred, sum_gt = (all_reduce_sum(x.sum(0)) for x in (intersect, sum_pred, sum_gt))
        valid = (all_reduce_sum(valid.sum(0)) > 0).float()
    dice = (2 * intersect + smooth) / (sum_gt + sum_pred + smooth).clamp_min(1e-8)
    return -(dice * valid).sum() / valid.sum().clamp_min(1.0)


def partial_dc_ce_loss(logits: torch.Tensor, target: torch.Tensor, union_index: torch.Tensor,
                       channel_mask: torch.Tensor, batch_dice: bool = True,
                       smooth: float = 1e-5) -> dict[str, torch.Tensor]:
    """Dice + CE on a softmax over the item's own channels (background + its dataset's classes).

    Shape: logits (B, C, *S); target (B, 1, *S) dataset-local ids; union_index (B, L); channel_mask (B, C).
    Returns {"loss", "ce", "dice"} (dice is -mean soft Dice, nnU-Net's sign), each ().
    """
    with fp32_block(logits.device.type):
        logits = logits.float()
        mask = channel_mask.view(*channel_mask.shape, *([1] * (logits.ndim - 2)))
        log_probs = torch.log_softmax(logits.masked_fill(~mask, MASK_FILL), dim=1)
        labels = to_union_labels(target, union_index)
        valid = labels != IGNORE
        nll = F.nll_loss(log_probs, labels.clamp_min(0), reduction="none")
        ce = global_mean((nll * valid).sum(), valid.sum())
        probs = log_probs.exp() * mask
        onehot = torch.zeros_like(probs).scatter_(1, labels.clamp_min(0).unsqueeze(1), 1.0) * valid.unsqueeze(1)
        dice = _dice_loss(probs * valid.unsqueeze(1), onehot, channel_mask, batch_dice, smooth)
        return {"loss": ce + dice, "ce": ce, "dice": dice}


def partial_dc_bce_loss(logits: torch.Tensor, target: torch.Tensor, union_index: torch.Tensor,
                        channel_mask: torch.Tensor, batch_dice: bool = True,
                        smooth: float = 1e-5) -> dict[str, torch.Tensor]:
    """BCE + Dice on one sigmoid per foreground class, counting only the item's own foreground channels.

    Shape: as :func:`partial_dc_ce_loss`. Returns {"loss", "ce" (the BCE), "dice"}, each (). Channel 0
    (background) is never scored.
    """
    with fp32_block(logits.device.type):
        logits = logits.float()
        labels = to_union_labels(target, union_index)
        valid = (labels != IGNORE).unsqueeze(1).float()
        onehot = torch.zeros_like(logits).scatter_(1, labels.clamp_min(0).unsqueeze(1), 1.0)
        fg = channel_mask.clone()
        fg[:, 0] = False
        fg_mask = fg.view(*fg.shape, *([1] * (logits.ndim - 2))).float() * valid
        bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
        ce = global_mean((bce * fg_mask).sum(), fg_mask.sum())
        probs = torch.sigmoid(logits) * fg_mask
        dice = _dice_loss(probs, onehot * fg_mask, channel_mask, batch_dice, smooth)
        return {"loss": ce + dice, "ce": ce, "dice": dice}


PARTIAL_LOSSES = {"dc_ce": partial_dc_ce_loss, "dc_bce": partial_dc_bce_loss}


def deep_supervision_weights(n: int) -> list[float]:
    """nnU-Net's deep-supervision weights for ``n`` outputs: 1/2^i, the lowest resolution 0, normalised to 1."""
    w = [1 / 2 ** i for i in range(n)]
    if n > 1:
        w[-1] = 0.0
    total = sum(w)
    return [x / total for x in w]
