"""Base-patch (spatial, once) and view (intensity-only) transforms from batchgeneratorsv2.

Dense losses need voxel-aligned views: the spatial transform runs once per base patch (image and
label together); each view then gets only intensity transforms, so voxel i of V1 is voxel i of V1'.
"""

import numpy as np
from batchgeneratorsv2.helpers.scalar_type import RandomScalar
from batchgeneratorsv2.transforms.base.basic_transform import BasicTransform
from batchgeneratorsv2.transforms.intensity.brightness import BrightnessAdditiveTransform
from batchgeneratorsv2.transforms.intensity.contrast import BGContrast, ContrastTransform
from batchgeneratorsv2.transforms.intensity.gamma import GammaTransform
from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
from batchgeneratorsv2.transforms.local.brightness_gradient import BrightnessGradientAdditiveTransform
from batchgeneratorsv2.transforms.local.local_gamma import LocalGammaTransform
from batchgeneratorsv2.transforms.noise.gaussian_blur import GaussianBlurTransform
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms
from batchgeneratorsv2.transforms.utils.pseudo2d import Convert2DTo3DTransform, Convert3DTo2DTransform
from batchgeneratorsv2.transforms.utils.random import RandomTransform


def base_patch_transform(patch_size, rotation: RandomScalar, do_dummy_2d: bool, p_elastic: float = 0.5,
                         p_affine: float = 0.5) -> BasicTransform:
    """Spatial augmentation applied once to a base patch and its label (MixCL: elastic, affine p=0.5).

    Magnitudes are nnU-Net's defaults (rotation as planned, scale 0.7-1.4). Padding labels stay -1
    so the sampler never draws them.
    """
    transforms: list[BasicTransform] = []
    spatial_size = patch_size[1:] if do_dummy_2d else patch_size
    if do_dummy_2d:
        transforms.append(Convert3DTo2DTransform())
    transforms.append(SpatialTransform(
        spatial_size, patch_center_dist_from_border=0, random_crop=False,
        p_elastic_deform=p_elastic, p_rotation=p_affine, rotation=rotation, p_scaling=p_affine,
        scaling=(0.7, 1.4), p_synchronize_scaling_across_axes=1, bg_style_seg_sampling=False,
        border_mode_seg="constant", padding_value_seg=-1))
    if do_dummy_2d:
        transforms.append(Convert2DTo3DTransform())
    return ComposeTransforms(transforms)


class RelativeScale:
    """Random length as a fraction U(low, high) of the image's extent along the sampled axis.

    For the ``scale`` of batchgeneratorsv2's local transforms (called as ``scale(shape, dim)``);
    picklable, so it works in nnU-Net's augmentation workers.
    """

    def __init__(self, low: float, high: float):
        self.low, self.high = low, high

    def __call__(self, shape, dim, *_) -> float:
        return float(np.random.uniform(self.low, self.high) * shape[dim])


#: default per-transform probability of a view: a view is left untouched with probability 0.5^5 = 3 %
VIEW_PROBABILITY = 0.5


def intensity_view_transform(p: float = VIEW_PROBABILITY) -> BasicTransform:
    """Intensity-only view whose changes survive InstanceNorm; each transform with probability ``p``.

    nnU-Net's networks normalise every channel of every instance right after the first convolution,
    so a global brightness/contrast change (an affine intensity map) gives the same features: such a
    view pair is no pair at all (documentation/design.md I.2). The views here change intensities non-linearly or
    locally: gamma (0.7-1.5), Gaussian noise (variance 0-0.1), Gaussian blur (sigma 0.5-1.0 voxels),
    a smooth additive bias field (batchgeneratorsv2's brightness gradient) and a local gamma. All
    keep voxel correspondence, so dense losses stay valid.
    """
    field_scale = RelativeScale(0.3, 1.0)
    return ComposeTransforms([
        RandomTransform(GammaTransform(gamma=(0.7, 1.5), p_invert_image=0, synchronize_channels=False,
                                       p_per_channel=1, p_retain_stats=1), p),
        RandomTransform(GaussianNoiseTransform(noise_variance=(0, 0.1), p_per_channel=1,
                                               synchronize_channels=True), p),
        RandomTransform(GaussianBlurTransform(blur_sigma=(0.5, 1.0), synchronize_channels=False,
                                              synchronize_axes=True, p_per_channel=1), p),
        RandomTransform(BrightnessGradientAdditiveTransform(scale=field_scale, loc=(-0.5, 1.5),
                                                            max_strength=(0.2, 1.0), same_for_all_channels=True,
                                                            mean_centered=True), p),
        RandomTransform(LocalGammaTransform(scale=field_scale, loc=(-0.5, 1.5), gamma=(0.7, 1.5),
                                            same_for_all_channels=True), p),
    ])


def affine_intensity_view_transform(p: float = 1.0) -> BasicTransform:
    """Global brightness shift and contrast only: the views InstanceNorm cancels (a negative control)."""
    return ComposeTransforms([RandomTransform(t, p) for t in brightness_contrast(0.3, (0.7, 1.3))])


class InPlaneZoom:
    """Per-axis scale for SpatialTransform: U(low, high) in-plane, 1 along the slice axis of 3D patches.

    A scale < 1 zooms in, i.e. a crop of that fraction resized back to the patch (Chaitanya's
    random crop + resize). Picklable, so it works in nnU-Net's augmentation workers.
    """

    def __init__(self, low: float, high: float, keep_axis0: bool):
        self.low, self.high, self.keep_axis0 = low, high, keep_axis0

    def __call__(self, image=None, dim=None, **_) -> float:
        if self.keep_axis0 and dim == 0:
            return 1.0
        return float(np.random.uniform(self.low, self.high))


def brightness_contrast(brightness_sigma: float = 0.3, contrast=(0.7, 1.3)) -> list[BasicTransform]:
    """Additive brightness (Gaussian, z-scored units) then contrast about the mean: Chaitanya's intensity aug."""
    return [BrightnessAdditiveTransform(mu=0.0, sigma=brightness_sigma, synchronize_channels=True),
            ContrastTransform(contrast_range=BGContrast(contrast), preserve_range=False, synchronize_channels=True,
                              p_per_channel=1)]


def global_view_transform(patch_size, crop_fraction=(0.5, 0.6)) -> BasicTransform:
    """Global-loss view: in-plane crop of 50-60 % resized back, then the InstanceNorm-proof intensity view."""
    zoom = InPlaneZoom(*crop_fraction, keep_axis0=len(patch_size) == 3)
    spatial = SpatialTransform(patch_size, patch_center_dist_from_border=0, random_crop=False, p_rotation=0,
                               p_scaling=1, scaling=zoom, p_synchronize_scaling_across_axes=0)
    return ComposeTransforms([spatial, intensity_view_transform()])


def local_view_transform() -> BasicTransform:
    """Local-loss view: intensity-only (voxel correspondence kept) and not cancelled by InstanceNorm.

    Chaitanya's brightness/contrast views worked with BatchNorm; with nnU-Net's InstanceNorm they
    would give identical features, so the local loss uses :func:`intensity_view_transform`.
    """
    return intensity_view_transform()
