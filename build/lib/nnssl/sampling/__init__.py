"""Index producers: they return voxel coordinates and group ids, never losses."""

from nnssl.sampling.boundary import boundary_weight_map, sample_class_voxels

__all__ = ["boundary_weight_map", "sample_class_voxels"]
