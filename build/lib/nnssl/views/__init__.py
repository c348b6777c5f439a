"""Augmentation for pretraining views, built from batchgeneratorsv2 transforms."""

from nnssl.views.transforms import (
    base_patch_transform,
    global_view_transform,
    intensity_view_transform,
    local_view_transform,
)

__all__ = ["base_patch_transform", "global_view_transform", "intensity_view_transform", "local_view_transform"]
