"""Pretraining heads (never transferred) and feature taps into nnU-Net networks."""

from nnssl.heads.modules import RegressionHead, VoxelProjector, decoder_features

__all__ = ["RegressionHead", "VoxelProjector", "decoder_features"]
