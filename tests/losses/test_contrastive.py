"""Global/local contrastive losses, strategy masks and region lattices (documentation/design.md B.6)."""

import math

import pytest
import torch
import torch.nn.functional as F

from nnssl.losses.contrastive import contrastive_loss
from nnssl.sampling.regions import extract_regions, region_positions
from nnssl.sampling.strategies import global_masks, local_masks


def batch_index(m=3, s=4, views=2):
    image = torch.arange(m * s).repeat_interleave(views)
    partition = (torch.arange(m * s) % s).repeat_interleave(views)
    return image, partition


def nt_xent_reference(z1, z2, tau):
    """SimCLR NT-Xent, written independently: 2N items, denominator over all k != i."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n = z1.shape[0]
    sim = z @ z.T / tau
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        denom = sum(math.exp(sim[i, k]) for k in range(2 * n) if k != i)
        losses.append(-math.log(math.exp(sim[i, j]) / denom))
    return sum(losses) / len(losses)


def test_gr_with_two_views_equals_nt_xent():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    # interleave to the loader's order (image-major, view-minor)
    z = torch.stack([z1, z2], 1).reshape(12, 16)
    image = torch.arange(6).repeat_interleave(2)
    pos, neg = global_masks("GR", image, torch.zeros(12, dtype=torch.long))
    assert contrastive_loss(z, pos, neg, 0.5).item() == pytest.approx(nt_xent_reference(z1, z2, 0.5), rel=1e-6)


def test_mask_properties():
    image, partition = batch_index()
    n = len(image)
    eye = torch.eye(n, dtype=torch.bool)
    for strategy in ("GR", "GD-", "GD"):
        pos, neg = global_masks(strategy, image, partition)
        assert not (pos & neg).any() and not (pos | neg)[eye].any()
    pos, neg = global_masks("GD-", image, partition)
    assert not (neg & (partition[:, None] == partition[None, :])).any()  # no same-partition negatives
    pos, neg = global_masks("GD", image, partition)
    assert torch.equal(pos, (partition[:, None] == partition[None, :]) & ~eye)
    assert torch.equal(neg, partition[:, None] != partition[None, :])
    assert torch.equal((pos | neg), ~eye)  # together they cover every non-diagonal item
    pos, _ = global_masks("GR", image, partition)
    assert torch.equal(pos.sum(1), torch.ones(n, dtype=torch.long))  # exactly the other view
    with pytest.raises(ValueError, match="global strategy"):
        global_masks("G", image, partition)


def test_local_masks():
    image, partition = batch_index(m=2, s=2)
    a = 5
    img, part = image.repeat_interleave(a), partition.repeat_interleave(a)
    pos_idx = torch.arange(a).repeat(len(image))
    pos, neg = local_masks("LR", img, part, pos_idx)
    assert torch.equal(pos.sum(1), torch.ones(len(img), dtype=torch.long))  # the other view, same position
    assert torch.equal(neg.sum(1), torch.full((len(img),), 2 * (a - 1)))  # other positions of both maps
    pos_d, neg_d = local_masks("LD", img, part, pos_idx)
    assert (pos_d.sum(1) == 3).all()  # other view + the other volume's two views of the same partition
    assert not (pos_d & neg_d).any()


def test_invariances_and_closed_form():
    image, partition = batch_index()
    g = torch.Generator().manual_seed(1)
    z = torch.randn(len(image), 8, generator=g)
    pos, neg = global_masks("GD", image, partition)
    ref = contrastive_loss(z, pos, neg).item()
    rot, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
    assert contrastive_loss(z @ rot, pos, neg).item() == pytest.approx(ref, rel=1e-5)
    assert contrastive_loss(4.0 * z, pos, neg).item() == pytest.approx(ref, rel=1e-5)
    perm = torch.randperm(len(image), generator=g)
    pos_p, neg_p = global_masks("GD", image[perm], partition[perm])
    assert contrastive_loss(z[perm], pos_p, neg_p).item() == pytest.approx(ref, rel=1e-5)
    swap = torch.arange(len(image)).reshape(-1, 2).flip(1).reshape(-1)  # swap view order
    assert contrastive_loss(z[swap], *global_masks("GD", image[swap], partition[swap])).item() == \
        pytest.approx(ref, rel=1e-5)
    # perfect embeddings: positives identical, negatives orthogonal -> mean log(1 + |N| e^{-1/tau})
    perfect = torch.eye(8)[partition]
    n_neg = neg.sum(1).float()
    expected = torch.log1p(n_neg * math.exp(-1 / 0.1)).mean().item()
    assert contrastive_loss(perfect, pos, neg, 0.1).item() == pytest.approx(expected, rel=1e-4)


def test_no_positive_pair_gives_connected_zero_and_bad_masks_raise():
    z = torch.randn(4, 3, requires_grad=True)
    none = torch.zeros(4, 4, dtype=torch.bool)
    loss = contrastive_loss(z, none, ~none)
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(z.grad).all()
    with pytest.raises(ValueError, match="overlap"):
        contrastive_loss(z, ~none, ~none)


@pytest.mark.parametrize("shape", [(7, 9), (5, 11, 6), (3, 3), (20, 28, 20)])
@pytest.mark.parametrize("k", [1, 3])
def test_regions_stay_in_bounds(shape, k):
    pos = region_positions(shape, k)
    assert (pos >= 0).all() and (pos + k <= torch.tensor(shape)).all()
    assert len({tuple(p) for p in pos.tolist()}) == len(pos)
    f = torch.randn(2, 4, *shape)
    regions = extract_regions(f, pos, k)
    assert regions.shape == (2, len(pos), 4 * k ** len(shape))
    # both views' descriptors come from the same coordinates
    torch.testing.assert_close(extract_regions(f.flip(0), pos, k), regions.flip(0))


def test_lattice_sizes_and_values():
    assert len(region_positions((64, 64), 3)) == 13
    assert len(region_positions((20, 28, 20), 3)) == 35
    f = torch.arange(5 * 6, dtype=torch.float32).reshape(1, 1, 5, 6)
    pos = region_positions((5, 6), 3)
    r = extract_regions(f, pos, 3)
    top_left = f[0, 0, pos[0, 0]:pos[0, 0] + 3, pos[0, 1]:pos[0, 1] + 3].reshape(-1)
    torch.testing.assert_close(r[0, 0], top_left)
    with pytest.raises(ValueError, match="smaller than region size"):
        region_positions((2, 9), 3)
