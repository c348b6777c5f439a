"""Masked-noise regression pretext (documentation/design.md C.3) and the local stage's frozen encoder (B.6)."""

import pytest
import torch

from nnssl.losses.masked_regression import masked_l1_loss
from nnssl.methods.global_local.config import GlobalLocalConfig
from nnssl.methods.global_local.model import GlobalModel, LocalModel
from nnssl.methods.regression.config import RegressionConfig
from nnssl.methods.regression.model import RegressionModel
from nnssl.sampling.masks import cell_side, stratified_mask
from nnssl.views.masking import mask_and_corrupt
from tests.conftest import network


@pytest.mark.parametrize("shape", [(40, 56, 40), (33, 17, 25), (64, 48)])
def test_stratified_mask_one_voxel_per_full_cell_and_ratio(shape):
    ratio = 0.002 if len(shape) == 3 else 0.01
    side = cell_side(ratio, len(shape))
    g = torch.Generator().manual_seed(0)
    ratios = []
    for _ in range(20):
        m = stratified_mask(shape, ratio, g)
        ratios.append(m.float().mean().item())
    # full cells of an unshifted grid: exactly one voxel each when the offset is 0
    m = stratified_mask(shape, ratio, torch.Generator().manual_seed(3))
    assert m.any()
    target = 1 / side ** len(shape)
    assert abs(sum(ratios) / len(ratios) - target) < 0.25 * target
    assert abs(target - ratio) <= 1 / side ** len(shape)


def test_every_full_cell_holds_exactly_one_voxel():
    import itertools

    shape, side = (24, 16, 24), 8
    for seed in range(3):
        idx = stratified_mask(shape, 1 / side**3, torch.Generator().manual_seed(seed)).nonzero()
        explained = False
        for off in itertools.product(range(side), repeat=3):  # the grid offset is drawn per axis
            o = torch.tensor(off)
            cells = torch.div(idx + o, side, rounding_mode="floor")
            full = [[k for k in range(n // side + 1) if k * side - oo >= 0 and k * side - oo + side <= n]
                    for n, oo in zip(shape, off, strict=True)]
            wanted = set(itertools.product(*full))
            got = [tuple(c) for c in cells.tolist() if tuple(c) in wanted]
            if sorted(got) == sorted(wanted):
                explained = True
                break
        assert explained, "no grid offset explains the mask as exactly one voxel per full cell"


def test_corruption_same_voxels_every_channel_and_only_there():
    x = torch.randn(2, 3, 16, 16, 16)
    corrupted, mask = mask_and_corrupt(x, 0.01, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (2, 16, 16, 16)
    diff = corrupted != x
    assert torch.equal(diff.any(1), mask) and torch.equal(diff.all(1), mask)
    with pytest.raises(ValueError, match="layout"):
        mask_and_corrupt(x, layout="grid")


def test_masked_l1_ignores_unmasked_voxels():
    target = torch.randn(2, 2, 8, 8)
    mask = torch.zeros(2, 8, 8, dtype=torch.bool)
    mask[:, ::3, ::3] = True
    pred = target.clone()
    assert masked_l1_loss(pred, target, mask).item() == 0
    pred[:, :, ~mask[0]] += 5.0
    assert masked_l1_loss(pred, target, mask).item() == 0
    pred2 = target.clone()
    pred2[:, :, mask[0]] += 1.0
    assert masked_l1_loss(pred2, target, mask).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must be"):
        masked_l1_loss(pred, target, mask[0])


def test_regression_model_gradients_reach_encoder_and_decoder():
    net = network()
    m = RegressionModel(net, 1, RegressionConfig(mask_ratio=0.05))
    x = torch.randn(2, 1, 8, 12, 8)
    assert m.reconstruct(x).shape == x.shape
    terms = m(data=x)
    terms["loss"].backward()
    assert net.encoder.stages[0][0].convs[0].conv.weight.grad.abs().sum() > 0
    assert net.decoder.stages[-1].convs[0].conv.weight.grad.abs().sum() > 0


def test_local_stage_keeps_the_encoder_bit_identical():
    net = network()
    model = LocalModel(net, GlobalLocalConfig(stage="local", decoder_stages=2, region_size=3)).train()
    before = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    views = torch.randn(8, 1, 12, 16, 12)
    image = torch.arange(4).repeat_interleave(2)
    terms = model(views=views, image=image, partition=image % 2)
    terms["loss"].backward()
    opt.step()
    assert all(p.grad is None for p in net.encoder.parameters())
    for k, v in net.encoder.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert net.decoder.stages[0].convs[0].conv.weight.grad.abs().sum() > 0


def test_global_model_trains_encoder():
    net = network()
    model = GlobalModel(net, GlobalLocalConfig(partitions=2))
    views = torch.randn(8, 1, 8, 12, 8)
    image = torch.arange(4).repeat_interleave(2)
    model(views=views, image=image, partition=image % 2)["loss"].backward()
    assert net.encoder.stages[-1][0].convs[0].conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="decoder_stages"):
        LocalModel(network(), GlobalLocalConfig(stage="local", decoder_stages=5))
