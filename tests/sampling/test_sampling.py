"""Boundary weight map and class sampler (documentation/design.md A.5, A.9)."""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from nnssl.sampling import boundary_weight_map, sample_class_voxels

MU, EPS = 8.0, 0.05


def slab(n: int = 40) -> np.ndarray:
    """A 1-voxel-boundary slab: distances to the boundary run 0..n-1 along x."""
    mask = np.zeros((n + 2, 3, 3), dtype=bool)
    mask[1:-1] = True
    return mask


def test_weight_is_eps_on_every_boundary_voxel():
    mask = np.zeros((20, 20, 20), dtype=bool)
    mask[3:15, 5:17, 2:12] = True
    w = boundary_weight_map(mask, MU, EPS)
    from scipy.ndimage import binary_erosion, generate_binary_structure
    boundary = mask & ~binary_erosion(mask, generate_binary_structure(3, 1), border_value=1)
    np.testing.assert_allclose(w[boundary], EPS)
    assert (w[mask] >= EPS).all() and (w[~mask] == 0).all()


def test_weight_peaks_at_half_mu_with_closed_form_max():
    d = np.linspace(0, 40, 4001)
    w = 0.5 * np.sqrt(d) * np.exp(-d / MU) + EPS
    assert d[np.argmax(w)] == pytest.approx(MU / 2, abs=1e-2)
    mask = np.zeros((60, 1, 1), dtype=bool)
    mask[0:41] = True  # boundary at x = 40 only (patch edge does not count)
    wm = boundary_weight_map(mask, MU, EPS)[:, 0, 0]
    assert np.argmax(wm) == 40 - int(MU / 2)
    assert wm.max() == pytest.approx(0.5 * np.sqrt(MU / 2) * np.exp(-0.5) + EPS)


def test_weight_map_flip_equivariance_and_full_class_uniform():
    rng = np.random.default_rng(0)
    mask = rng.random((16, 18, 14)) > 0.4
    w = boundary_weight_map(mask, MU, EPS)
    np.testing.assert_allclose(boundary_weight_map(np.flip(mask, 1), MU, EPS), np.flip(w, 1))
    full = boundary_weight_map(np.ones((5, 6, 7), dtype=bool), MU, EPS)
    np.testing.assert_allclose(full, EPS)


def test_sampler_draws_unique_voxels_inside_each_class_and_skips_ignore():
    seg = np.zeros((20, 20, 20), dtype=np.int16)
    seg[2:10, 2:10, 2:10] = 1
    seg[12:14, 12:14, 12:14] = 2  # 8 voxels < r
    seg[15:, 15:, 15:] = 7  # ignore
    seg[0] = -1  # nnU-Net padding
    coords, labels = sample_class_voxels(seg, per_class=50, ignore_label=7, generator=torch.Generator().manual_seed(0))
    assert set(labels.tolist()) == {0, 1, 2}
    values = seg[tuple(coords.T.numpy())]
    np.testing.assert_array_equal(values, labels.numpy())
    for c, expected in ((0, 50), (1, 50), (2, 8)):
        sel = coords[labels == c]
        assert len(sel) == expected
        assert len({tuple(x) for x in sel.tolist()}) == expected


def test_sampler_respects_cap():
    seg = np.repeat(np.arange(10), 100).reshape(10, 10, 10)
    _, labels = sample_class_voxels(seg, per_class=512, cap=200)
    assert len(labels) == 200 and torch.bincount(labels).tolist() == [20] * 10


def test_sampler_frequency_follows_weights():
    mask = np.zeros((12, 1, 1), dtype=np.int16)
    mask[:10] = 1
    w = boundary_weight_map(mask == 1, MU, EPS)[:10, 0, 0]
    g = torch.Generator().manual_seed(123)
    counts = np.zeros(12)
    for _ in range(3000):
        coords, labels = sample_class_voxels(mask, per_class=1, generator=g)
        counts[coords[labels == 1, 0].numpy()] += 1
    expected = w / w.sum() * counts[:10].sum()
    assert chisquare(counts[:10], expected).pvalue > 1e-3


def test_ill_opts():
    with pytest.raises(ValueError, match="mu"):
        boundary_weight_map(np.ones((3, 3)), mu=0)
    with pytest.raises(ValueError, match="per_class"):
        sample_class_voxels(np.ones((3, 3)), per_class=0)
