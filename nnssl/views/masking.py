"""Masked-noise corruption for the regression pretext (documentation/design.md C.1)."""

import torch

from nnssl.sampling.masks import bernoulli_mask, stratified_mask

LAYOUTS = ("stratified", "bernoulli")
REPLACEMENTS = ("gaussian", "patch_gaussian")


def mask_and_corrupt(x: torch.Tensor, ratio: float = 0.002, layout: str = "stratified",
                     replacement: str = "gaussian", generator: torch.Generator | None = None):
    """Replace masked voxels by Gaussian noise, the same voxels in every channel.

    ``gaussian`` draws N(0, 1) (nnU-Net-normalised units); ``patch_gaussian`` draws N(mean, std) of
    each item and channel.

    Shape:
        x: (B, C, *S). Returns (corrupted (B, C, *S), mask (B, *S) bool).
    Raises:
        ValueError: on an unknown layout or replacement.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if replacement not in REPLACEMENTS:
        raise ValueError(f"replacement must be one of {REPLACEMENTS}, got {replacement!r}")
    make = stratified_mask if layout == "stratified" else bernoulli_mask
    mask = torch.stack([make(x.shape[2:], ratio, generator) for _ in range(x.shape[0])]).to(x.device)
    noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
    if replacement == "patch_gaussian":
        dims = tuple(range(2, x.ndim))
        noise = noise * x.std(dim=dims, keepdim=True) + x.mean(dim=dims, keepdim=True)
    return torch.where(mask[:, None], noise, x), mask
