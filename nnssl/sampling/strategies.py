"""Positive/negative masks of Chaitanya et al.'s global (G^R, G^D-, G^D) and local (L^R, L^D) strategies.

Items carry index tensors: ``image`` (base image id: views of one image share it), ``partition``
(slice-axis partition s), and for local items ``position`` (region index u). Masks never contain
the diagonal; positives and negatives are disjoint (documentation/design.md B.2, B.3, H.8, H.9).
"""

import torch

GLOBAL_STRATEGIES = ("GR", "GD-", "GD")
LOCAL_STRATEGIES = ("LR", "LD")


def _eye(n: int, device) -> torch.Tensor:
    return torch.eye(n, dtype=torch.bool, device=device)


def global_masks(strategy: str, image: torch.Tensor, partition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) (N, N) masks for a global strategy.

    G^R: positives = other views of the same image; negatives = every other item.
    G^D-: positives = other views of the same image; negatives = items of another partition.
    G^D: positives = every other item of the same partition; negatives = items of another partition.

    Raises:
        ValueError: on an unknown strategy.
    """
    if strategy not in GLOBAL_STRATEGIES:
        raise ValueError(f"global strategy must be one of {GLOBAL_STRATEGIES}, got {strategy!r}")
    eye = _eye(len(image), image.device)
    same_image = image[:, None] == image[None, :]
    same_part = partition[:, None] == partition[None, :]
    if strategy == "GR":
        return same_image & ~eye, ~same_image
    if strategy == "GD-":
        return same_image & ~eye, ~same_part
    return same_part & ~eye, ~same_part


def local_masks(strategy: str, image: torch.Tensor, partition: torch.Tensor,
                position: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) (N, N) masks for a local strategy over region items.

    L^R: positive = the same position in the other view of the same image; negatives = the other
    positions of both views of that image. L^D: positives = the same position in every other map of
    the same partition (other view, other volumes); negatives = other positions in those maps.

    Raises:
        ValueError: on an unknown strategy.
    """
    if strategy not in LOCAL_STRATEGIES:
        raise ValueError(f"local strategy must be one of {LOCAL_STRATEGIES}, got {strategy!r}")
    eye = _eye(len(image), image.device)
    same_pos = position[:, None] == position[None, :]
    group = (image if strategy == "LR" else partition)
    same_group = group[:, None] == group[None, :]
    return same_group & same_pos & ~eye, same_group & ~same_pos
