"""Voxel masks for the masked-noise regression pretext (documentation/design.md C.1, Noise2Void practice)."""


import torch


def cell_side(ratio: float, ndim: int) -> int:
    """Side of the cubic grid cell holding one masked voxel (cell volume about 1 / ratio)."""
    return max(1, round((1.0 / ratio) ** (1.0 / ndim)))


def stratified_mask(shape, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """One voxel drawn uniformly inside each cell of a randomly offset grid (N2V-style layout).

    Cells overlapping the border draw a position in the whole virtual cell and keep it only when it
    falls inside, so every full cell holds exactly one voxel and the expected ratio is 1 / side^dim.

    Shape:
        shape: spatial shape (X, Y[, Z]). Returns a bool tensor of that shape.
    Raises:
        ValueError: if ratio is not in (0, 1].
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"mask ratio must be in (0, 1], got {ratio}")
    side = cell_side(ratio, len(shape))
    offset = torch.randint(0, side, (len(shape),), generator=generator)
    starts = [torch.arange(-int(o), s, side) for o, s in zip(offset, shape, strict=True)]
    grid = torch.stack(torch.meshgrid(*starts, indexing="ij"), -1).reshape(-1, len(shape))
    pos = grid + torch.randint(0, side, grid.shape, generator=generator)
    inside = ((pos >= 0) & (pos < torch.tensor(shape))).all(1)
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[tuple(pos[inside].T)] = True
    return mask


def bernoulli_mask(shape, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """I.i.d. Bernoulli(ratio) voxel mask of spatial ``shape``."""
    if not 0 < ratio <= 1:
        raise ValueError(f"mask ratio must be in (0, 1], got {ratio}")
    return torch.rand(shape, generator=generator) < ratio


def expected_ratio(ratio: float, ndim: int, layout: str) -> float:
    """The ratio a layout realises on average (the stratified grid rounds the cell side)."""
    return 1.0 / cell_side(ratio, ndim) ** ndim if layout == "stratified" else ratio


#: bounds of the automatic mask ratio: Noise2Void's 0.2 % and the upper end of masked-image modelling's range
MIN_RATIO, MAX_RATIO = 0.002, 0.10
#: masked voxels the automatic ratio aims at per patch
TARGET_MASKED = 256


def default_mask_ratio(patch_shape) -> float:
    """Mask ratio giving about ``TARGET_MASKED`` masked voxels per patch, within [0.2 %, 10 %].

    0.2 % (Noise2Void) of a 128^3 patch is 4k voxels, but of a 56x40 2D slice about 5 pixels: too
    little signal per step. Counting masked voxels instead of a fixed fraction gives 0.29 % for a
    40x56x40 patch, 0.2 % for 128^3 and 10 % (224 pixels) for a 56x40 slice.
    """
    voxels = 1
    for s in patch_shape:
        voxels *= int(s)
    return min(MAX_RATIO, max(MIN_RATIO, TARGET_MASKED / voxels))


__all__ = ["bernoulli_mask", "cell_side", "default_mask_ratio", "expected_ratio", "stratified_mask"]
