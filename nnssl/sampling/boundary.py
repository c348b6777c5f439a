"""Boundary-distance weighted voxel sampling for MixCL's label term (documentation/design.md A.5).

W_c = 0.5 * sqrt(D_c) * exp(-D_c / mu) + eps on class mask S_c, where D_c is the Euclidean distance
(scipy) to the class boundary B_c = S_c AND NOT erode(S_c) (6-connectivity, patch edge not a boundary).
W_c = eps on the boundary, peaks at D = mu / 2 and decays towards eps deep inside large structures.
"""

from collections.abc import Sequence

import numpy as np
import torch
from scipy.ndimage import binary_erosion, distance_transform_edt, generate_binary_structure


def boundary_weight_map(mask: np.ndarray, mu: float = 8.0, eps: float = 0.05,
                        sampling: Sequence[float] | None = None) -> np.ndarray:
    """Sampling weights of one class mask.

    Shape:
        mask: (X, Y[, Z]) boolean.
    Returns:
        float64 array of the same shape: W_c on the mask, 0 outside it. A class that fills the
        patch (no boundary) gets the uniform weight ``eps``.
    Raises:
        ValueError: if mu or eps is not positive.
    """
    if mu <= 0 or eps <= 0:
        raise ValueError(f"mu and eps must be > 0, got mu={mu}, eps={eps}")
    mask = np.asarray(mask, dtype=bool)
    weights = np.zeros(mask.shape, dtype=np.float64)
    if not mask.any():
        return weights
    structure = generate_binary_structure(mask.ndim, 1)
    boundary = mask & ~binary_erosion(mask, structure=structure, border_value=1)
    if not boundary.any():
        weights[mask] = eps
        return weights
    distance = distance_transform_edt(~boundary, sampling=sampling)
    d = distance[mask]
    weights[mask] = 0.5 * np.sqrt(d) * np.exp(-d / mu) + eps
    return weights


def sample_class_voxels(seg: np.ndarray, per_class: int = 512, cap: int = 4096, mu: float = 8.0,
                        eps: float = 0.05, ignore_label: int | None = None,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw voxels of every class present (background included), weighted by the boundary map.

    Draws min(r, |S_c|) voxels per class without replacement, r = per_class, reduced to
    cap // n_classes when the total would exceed ``cap``. Negative labels (nnU-Net padding) and
    ``ignore_label`` are never sampled.

    Shape:
        seg: (X, Y[, Z]) integer label patch.
    Returns:
        coords (N, ndim) int64 voxel coordinates and labels (N,) int64.
    Raises:
        ValueError: if per_class or cap is not positive.
    """
    if per_class < 1 or cap < 1:
        raise ValueError(f"per_class and cap must be >= 1, got per_class={per_class}, cap={cap}")
    seg = np.asarray(seg)
    classes = [int(c) for c in np.unique(seg) if c >= 0 and c != ignore_label]
    if not classes:
        return torch.zeros((0, seg.ndim), dtype=torch.int64), torch.zeros((0,), dtype=torch.int64)
    r = min(per_class, max(1, cap // len(classes)))
    coords, labels = [], []
    for c in classes:
        w = torch.from_numpy(boundary_weight_map(seg == c, mu=mu, eps=eps).ravel())
        n = min(r, int((w > 0).sum()))
        flat = torch.multinomial(w, n, replacement=False, generator=generator)
        coords.append(torch.stack(torch.unravel_index(flat, seg.shape), dim=1))
        labels.append(torch.full((n,), c, dtype=torch.int64))
    return torch.cat(coords), torch.cat(labels)
