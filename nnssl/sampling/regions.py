"""Region lattices for the local contrastive loss (method_spec B.3, B.5)."""

import itertools

import torch


def region_positions(spatial_shape, region_size: int) -> torch.Tensor:
    """Top-left corners of the A regions: {0, .5, 1}^d plus {.25, .75}^d of [0, S - K] per axis.

    2D gives A = 13 (the original code's layout), 3D gives A = 35. Positions are rounded and
    deduplicated order-preservingly (tiny maps can collapse lattice points).

    Shape:
        Returns (A, d) int64.
    Raises:
        ValueError: if a map is smaller than the region.
    """
    if any(s < region_size for s in spatial_shape):
        raise ValueError(f"feature map {tuple(spatial_shape)} is smaller than region size {region_size}; use a "
                         f"larger pretraining patch or fewer decoder stages")
    d = len(spatial_shape)
    fractions = [*itertools.product((0.0, 0.5, 1.0), repeat=d), *itertools.product((0.25, 0.75), repeat=d)]
    top = torch.tensor([s - region_size for s in spatial_shape], dtype=torch.float64)
    pos = torch.round(torch.tensor(fractions, dtype=torch.float64) * top).long()
    seen, keep = set(), []
    for i, p in enumerate(pos.tolist()):
        if tuple(p) not in seen:
            seen.add(tuple(p))
            keep.append(i)
    return pos[keep]


def extract_regions(features: torch.Tensor, positions: torch.Tensor, region_size: int) -> torch.Tensor:
    """Flattened K^d regions at ``positions`` of every map; identical coordinates for every item.

    Shape:
        features: (N, C, *S); positions: (A, d). Returns (N, A, C * K^d).
    """
    offsets = torch.stack(torch.meshgrid(*[torch.arange(region_size)] * positions.shape[1], indexing="ij"), -1)
    coords = (positions[:, None] + offsets.reshape(1, -1, positions.shape[1])).to(features.device)  # (A, K^d, d)
    gathered = features[(slice(None), slice(None), *coords.unbind(-1))]  # (N, C, A, K^d)
    return gathered.permute(0, 2, 1, 3).reshape(features.shape[0], positions.shape[0], -1)
