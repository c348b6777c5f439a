"""The supervised multi-dataset model (see trainer.py beside it for the method and its trainer)."""

import torch
from torch import nn

from nnssl.losses.partial import PARTIAL_LOSSES, ClassLayout, deep_supervision_weights
from nnssl.models.base import SSLModel


def replace_output_layers(backbone: nn.Module, num_outputs: int) -> None:
    """Give every segmentation output layer of an nnU-Net decoder ``num_outputs`` channels (fresh weights)."""
    layers = backbone.decoder.seg_layers
    for i, old in enumerate(layers):
        layers[i] = type(old)(old.in_channels, num_outputs, old.kernel_size, old.stride, old.padding,
                              bias=old.bias is not None)


class SupervisedModel(SSLModel):
    """The plans-built network with one output per class of the pool; forward returns the partial loss terms.

    The output layers live in the backbone (nnU-Net's ``decoder.seg_layers``) with the pool's union of classes;
    fine-tuning never transfers them. No extra heads.
    """

    def __init__(self, backbone: nn.Module, layout: ClassLayout, loss: str = "dc_ce", batch_dice: bool = True):
        replace_output_layers(backbone, layout.num_outputs)
        super().__init__(backbone, nn.ModuleDict())
        self.layout = layout
        self.loss_fn = PARTIAL_LOSSES[loss]
        self.batch_dice = batch_dice
        index, mask = layout.tables()
        self.register_buffer("union_index", index, persistent=False)
        self.register_buffer("channel_mask", mask, persistent=False)

    def forward(self, data: torch.Tensor, target, dataset_index: torch.Tensor, **_) -> dict:
        """Loss terms for a batch.

        Shape: data (B, C_in, *S); target (B, 1, *S) of dataset-local labels, or nnU-Net's deep-supervision
        list of them (one per output, full resolution first); dataset_index (B,) long into ``layout.datasets``.
        """
        outputs = self.backbone(data)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        targets = list(target) if isinstance(target, (list, tuple)) else [target]
        if len(targets) != len(outputs):
            raise ValueError(f"{len(outputs)} network outputs but {len(targets)} targets (deep supervision on in "
                             f"the network and off in the loader, or the reverse)")
        union_index, channel_mask = self.union_index[dataset_index], self.channel_mask[dataset_index]
        weights = deep_supervision_weights(len(outputs))
        total, first = None, None
        for w, out, tgt in zip(weights, outputs, targets, strict=True):
            if w == 0:
                continue
            terms = self.loss_fn(out, tgt, union_index, channel_mask, batch_dice=self.batch_dice)
            first = first or terms
            total = w * terms["loss"] if total is None else total + w * terms["loss"]
        with torch.no_grad():
            pseudo = hard_dice(outputs[0], targets[0], union_index, channel_mask)
        return {"loss": total + self.connect_all(), "ce": first["ce"].detach(), "dice": first["dice"].detach(),
                "pseudo_dice": pseudo}


def hard_dice(logits: torch.Tensor, target: torch.Tensor, union_index: torch.Tensor,
              channel_mask: torch.Tensor) -> torch.Tensor:
    """Mean Dice of the argmax over each item's own channels, over the foreground channels present in the batch's
    datasets (a training-log diagnostic, like nnU-Net's pseudo Dice).

    Shape: logits (B, C, *S); target (B, 1, *S); union_index (B, L); channel_mask (B, C). Returns ().
    """
    from nnssl.losses.partial import IGNORE, to_union_labels

    mask = channel_mask.view(*channel_mask.shape, *([1] * (logits.ndim - 2)))
    pred = logits.float().masked_fill(~mask, float("-inf")).argmax(1)
    labels = to_union_labels(target, union_index)
    valid = labels != IGNORE
    c = logits.shape[1]
    pred_1h = torch.nn.functional.one_hot(pred, c).movedim(-1, 1) * valid.unsqueeze(1)
    true_1h = torch.nn.functional.one_hot(labels.clamp_min(0), c).movedim(-1, 1) * valid.unsqueeze(1)
    axes = (0, *range(2, logits.ndim))
    tp = (pred_1h * true_1h).sum(axes).float()
    denominator = (pred_1h.sum(axes) + true_1h.sum(axes)).float()
    present = (channel_mask.any(0) & (denominator > 0))[1:].float()
    dice = (2 * tp / denominator.clamp_min(1))[1:]
    return (dice * present).sum() / present.sum().clamp_min(1.0)
