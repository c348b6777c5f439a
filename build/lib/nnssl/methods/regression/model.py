"""The regression pretraining model (see trainer.py beside it for the method and its trainer)."""

import torch
from torch import nn

from nnssl.heads import RegressionHead, decoder_features
from nnssl.losses.masked_regression import masked_l1_loss
from nnssl.methods.regression.config import RegressionConfig
from nnssl.models.base import SSLModel
from nnssl.sampling.masks import default_mask_ratio
from nnssl.views.masking import mask_and_corrupt


class RegressionModel(SSLModel):
    """Backbone + regression head; forward corrupts, reconstructs and scores masked voxels."""

    def __init__(self, backbone: nn.Module, in_channels: int, config: RegressionConfig, patch_size=None):
        enc = backbone.encoder
        super().__init__(backbone, nn.ModuleDict({"regression": RegressionHead(enc.output_channels[0], in_channels,
                                                                                enc.conv_op)}))
        self.cfg = config
        if config.mask_ratio is not None:
            self.mask_ratio = config.mask_ratio
        elif patch_size is not None:
            self.mask_ratio = default_mask_ratio(patch_size)
        else:
            raise ValueError("mask_ratio=None (automatic) needs the patch size")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Regression output (B, C, *S) for input (B, C, *S)."""
        return self.heads["regression"](decoder_features(self.backbone.decoder, self.backbone.encoder(x)))

    def forward(self, data: torch.Tensor, **_) -> dict:
        """Loss terms for a batch of clean patches ``data`` (B, C, *S)."""
        corrupted, mask = mask_and_corrupt(data, self.mask_ratio, self.cfg.mask_layout, self.cfg.replacement)
        loss = masked_l1_loss(self.reconstruct(corrupted), data, mask)
        return {"masked_l1": loss, "masked_fraction": mask.float().mean().detach(),
                "loss": loss + self.connect_all()}
