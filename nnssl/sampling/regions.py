"""Region lattices for the local contrastive loss (documentation/design.md B.3, B.5)."""

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


def jitter_positions(positions: torch.Tensor, spatial_shape, region_size: int, max_shift: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Each lattice position shifted by its own random offset in [-max_shift, max_shift] per axis (clamped).

    Applied identically to both views (voxel correspondence holds), so a region is matched by content at
    a position that changes every step, not by one of A fixed positions.

    Shape:
        positions: (A, d) int64. Returns (A, d) int64 within [0, S - K] per axis.
    """
    if max_shift <= 0:
        return positions
    shift = torch.randint(-max_shift, max_shift + 1, positions.shape, generator=generator)
    top = torch.tensor([s - region_size for s in spatial_shape])
    return torch.minimum(torch.clamp(positions + shift, min=0), top)


def decoder_stages_for_resolution(strides, target_stride: int = 4) -> int:
    """l such that the partial decoder d_l ends closest to 1/``target_stride`` of the input resolution.

    The paper's d_3 ends at 1/4 on a 6-level network; counting stages instead would make d_3 the whole
    full-resolution decoder of a 4-stage nnU-Net, where regions are separable by position alone.
    d_l ends at the resolution of encoder stage K-1-l (cumulative stride, the largest over axes).

    Shape:
        strides: per-stage strides, K entries of d ints (nnU-Net's ``strides``). Returns l in 1..K-1.
    """
    cumulative, c = [], None
    for s in strides:
        c = [int(a) for a in s] if c is None else [a * int(b) for a, b in zip(c, s, strict=True)]
        cumulative.append(max(c))
    k_count = len(cumulative)
    best = min(range(k_count - 1), key=lambda k: (abs(cumulative[k] - target_stride), -k))
    return max(1, k_count - 1 - best)


def extract_regions(features: torch.Tensor, positions: torch.Tensor, region_size: int) -> torch.Tensor:
    """Flattened K^d regions at ``positions`` of every map; identical coordinates for every item.

    Shape:
        features: (N, C, *S); positions: (A, d). Returns (N, A, C * K^d).
    """
    offsets = torch.stack(torch.meshgrid(*[torch.arange(region_size)] * positions.shape[1], indexing="ij"), -1)
    coords = (positions[:, None] + offsets.reshape(1, -1, positions.shape[1])).to(features.device)  # (A, K^d, d)
    gathered = features[(slice(None), slice(None), *coords.unbind(-1))]  # (N, C, A, K^d)
    return gathered.permute(0, 2, 1, 3).reshape(features.shape[0], positions.shape[0], -1)
