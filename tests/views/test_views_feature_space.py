"""Views must differ where the loss sees them: in the features of nnU-Net's InstanceNorm network."""

import numpy as np
import pytest
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet
from scipy.ndimage import gaussian_filter

from nnssl.views.transforms import affine_intensity_view_transform, intensity_view_transform


def nnunet_like_network(ndim: int) -> PlainConvUNet:
    """The 4-stage PlainConvUNet that nnU-Net plans for Hippocampus (InstanceNorm after every conv)."""
    conv, norm = (torch.nn.Conv2d, torch.nn.InstanceNorm2d) if ndim == 2 else (torch.nn.Conv3d, torch.nn.InstanceNorm3d)
    return PlainConvUNet(1, 4, [32, 64, 128, 256], conv, 3, [1, 2, 2, 2], [2, 2, 2, 2], 3, [2, 2, 2], True, norm,
                         {"eps": 1e-5, "affine": True}, None, None, torch.nn.LeakyReLU, {"inplace": True}).eval()


def relative_feature_differences(transform, ndim: int, draws: int = 10) -> np.ndarray:
    """(draws, stages) ||f(v1) - f(v2)|| / ||f(v1)|| for pairs of views of smooth random z-scored images."""
    rng = np.random.default_rng(0)
    np.random.seed(0)
    torch.manual_seed(0)
    net = nnunet_like_network(ndim)
    shape = (56, 40) if ndim == 2 else (32, 40, 32)
    out = []
    for _ in range(draws):
        x = torch.from_numpy(gaussian_filter(rng.standard_normal(shape), 2)).float()[None]
        x = (x - x.mean()) / x.std()
        v1, v2 = (transform(image=x.clone())["image"][None] for _ in range(2))
        with torch.no_grad():
            f1, f2 = net.encoder(v1), net.encoder(v2)
        out.append([float((a - b).norm() / a.norm()) for a, b in zip(f1, f2, strict=True)])
    return np.array(out)


@pytest.mark.parametrize("ndim", [2, 3])
def test_views_differ_in_feature_space_and_affine_views_do_not(ndim):
    ours = relative_feature_differences(intensity_view_transform(), ndim)
    affine = relative_feature_differences(affine_intensity_view_transform(), ndim)
    # InstanceNorm cancels a global brightness/contrast change up to the borders: the negative control
    assert np.median(affine[:, 0]) < 0.1
    # the default views change the features of every stage, and almost every pair differs
    assert np.all(np.median(ours, axis=0) > 0.15), np.median(ours, axis=0)
    assert np.mean(ours[:, 0] > 0.03) >= 0.9, ours[:, 0]
    assert np.median(ours[:, 0]) > 3 * np.median(affine[:, 0])


def test_views_keep_voxel_correspondence():
    """Intensity-only: a coordinate-ramp image keeps its argmax/argmin structure (nothing moves)."""
    np.random.seed(1)
    x = torch.linspace(-1, 1, 56)[:, None].expand(56, 40)[None].clone()
    for _ in range(10):
        v = intensity_view_transform(p=1.0)(image=x.clone())["image"]
        assert v.shape == x.shape
        rows = v[0].mean(1)  # smooth monotone changes keep the ramp's order
        assert float(torch.corrcoef(torch.stack([rows, x[0].mean(1)]))[0, 1]) > 0.8
