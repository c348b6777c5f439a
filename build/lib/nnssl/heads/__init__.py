"""Pretraining heads (never transferred) and feature taps into nnU-Net networks."""

from nnssl.heads.modules import (
    GlobalProjector,
    LocalProjector,
    RegressionHead,
    VoxelProjector,
    decoder_features,
    decoder_stage_outputs,
)

__all__ = ["GlobalProjector", "LocalProjector", "RegressionHead", "VoxelProjector", "decoder_features",
           "decoder_stage_outputs"]
