"""Reconstruction consistency (MixCL L_recon): MSE between reconstruction and undistorted patch."""

import torch

from nnssl.losses._numerics import fp32_block


def reconstruction_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all voxels and channels, in fp32.

    Shape:
        prediction, target: (B, C, X, Y[, Z]) equal shapes.
    Raises:
        ValueError: if the shapes differ.
    """
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must match")
    with fp32_block(prediction.device.type):
        return (prediction.float() - target.float()).pow(2).mean()
