"""Pure tensor losses (no nnU-Net imports). Every loss runs in fp32 with autocast disabled."""

from nnssl.losses.barlow_twins import BarlowTwinsTerms, barlow_twins_loss, cross_correlation
from nnssl.losses.label_contrast import label_contrast_loss
from nnssl.losses.reconstruction import reconstruction_loss

__all__ = [
    "BarlowTwinsTerms",
    "barlow_twins_loss",
    "cross_correlation",
    "label_contrast_loss",
    "reconstruction_loss",
]
