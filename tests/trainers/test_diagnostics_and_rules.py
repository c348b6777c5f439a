"""Weight movement, per-term gradient norms, d_l by resolution, lattice jitter, mask ratio, MixCL alpha."""

import pytest
import torch

from nnssl.losses.contrastive import similarity_stats
from nnssl.sampling.masks import MAX_RATIO, MIN_RATIO, default_mask_ratio, stratified_mask
from nnssl.sampling.regions import decoder_stages_for_resolution, jitter_positions, region_positions
from nnssl.trainers.diagnostics import encoder_stage, relative_movement, term_gradient_norms


def test_encoder_stage_names_only_the_encoder_copy():
    assert encoder_stage("encoder.stages.2.0.convs.0.conv.weight") == "stage2"
    assert encoder_stage("encoder.stem.convs.0.conv.weight") == "stem"
    assert encoder_stage("decoder.encoder.stages.2.0.convs.0.conv.weight") is None  # the duplicate
    assert encoder_stage("decoder.stages.0.convs.0.conv.weight") is None


def test_relative_movement_zero_scale_and_per_stage():
    g = torch.Generator().manual_seed(0)
    sd = {"encoder.stages.0.w": torch.randn(4, 3, generator=g), "encoder.stages.1.w": torch.randn(5, generator=g),
          "decoder.stages.0.w": torch.randn(3, generator=g), "encoder.stages.0.n": torch.tensor(3)}
    assert relative_movement(sd, sd) == {"stage0": 0.0, "stage1": 0.0}
    moved = {**sd, "encoder.stages.1.w": sd["encoder.stages.1.w"] * 1.5,
             "decoder.stages.0.w": sd["decoder.stages.0.w"] + 9}
    m = relative_movement(sd, moved)
    assert m["stage0"] == 0.0 and m["stage1"] == pytest.approx(0.5)  # ||1.5 t - t|| / ||t||; decoder ignored
    with pytest.raises(ValueError, match=r"encoder\.stages\.0\.w"):
        relative_movement(sd, {k: v for k, v in sd.items() if k != "encoder.stages.0.w"})


def test_term_gradient_norms_match_manual_gradients():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    other = torch.nn.Parameter(torch.tensor(3.0))
    terms = {"a": (w**2).sum(), "b": 3 * w[0], "c": other * 2, "const": torch.tensor(1.0)}
    norms = term_gradient_norms(terms, ("a", "b", "c", "const", "missing"), [w])
    assert norms["a"] == pytest.approx(float(torch.tensor([2.0, 4.0]).norm()))
    assert norms["b"] == pytest.approx(3.0)
    assert "c" not in norms and "const" not in norms and "missing" not in norms  # unconnected / constant
    terms["a"].backward()  # the graph is kept for the real backward
    assert w.grad is not None


def test_similarity_stats_on_perfect_embeddings():
    z = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    pos = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.bool)
    pos_sim, neg_sim = similarity_stats(z, pos, ~pos)
    assert float(pos_sim) == pytest.approx(1.0) and float(neg_sim) == pytest.approx(0.0)


@pytest.mark.parametrize(("strides", "expected"), [
    ([[1, 1], [2, 2], [2, 2], [2, 2]], 1),  # 4-stage 2D (Hippocampus): d_1 ends at 1/4, not the full decoder
    ([[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]], 3),  # 6 levels: the paper's d_3
    ([[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]], 1),  # anisotropic: the largest stride counts
    ([[1, 1], [2, 2]], 1),  # too shallow for 1/4: the smallest partial decoder
])
def test_partial_decoder_by_resolution(strides, expected):
    l_stages = decoder_stages_for_resolution(strides, 4)
    assert l_stages == expected
    # d_l ends at the resolution of encoder stage K-1-l
    k = len(strides) - 1 - l_stages
    assert 0 <= k < len(strides) - 1


def test_lattice_jitter_stays_in_bounds_and_moves_positions():
    shape, k = (14, 10), 3
    base = region_positions(shape, k)
    g = torch.Generator().manual_seed(0)
    moved = [jitter_positions(base, shape, k, 1, g) for _ in range(20)]
    for m in moved:
        assert m.shape == base.shape and int(m.min()) >= 0
        assert all(int(m[:, d].max()) <= shape[d] - k for d in range(2))
        assert int((m - base).abs().max()) <= 1
    assert any(not torch.equal(m, base) for m in moved)
    assert torch.equal(jitter_positions(base, shape, k, 0, g), base)


@pytest.mark.parametrize(("patch", "expected"), [((56, 40), MAX_RATIO), ((128, 128, 128), MIN_RATIO),
                                                 ((40, 56, 40), 256 / (40 * 56 * 40))])
def test_default_mask_ratio_gives_enough_masked_voxels(patch, expected):
    ratio = default_mask_ratio(patch)
    assert ratio == pytest.approx(expected)
    assert MIN_RATIO <= ratio <= MAX_RATIO
    n_masked = int(stratified_mask(patch, ratio, torch.Generator().manual_seed(0)).sum())
    assert n_masked >= 100  # a 2D slice gets ~200 masked pixels, not the ~5 of a fixed 0.2 %


def test_mixcl_label_stage_and_alpha_rule():
    from nnssl.methods.mixcl.config import MixCLConfig
    from nnssl.methods.mixcl.model import MixCLModel, default_label_stage

    assert default_label_stage(4) == 2 and default_label_stage(6) == 4
    net = torch.nn.Module()
    m = MixCLModel(net, [8, 16, 32, 64], [[1, 1], [2, 2], [2, 2], [2, 2]], 1, torch.nn.Conv2d, MixCLConfig())
    assert m.label_stage == 2 and m.label_weight == 0.01
    assert m.rebalance({"identity": 50.0, "label": 0.5})  # alpha * 0.5 = 1.0 * 50
    assert m.label_weight == pytest.approx(100.0)
    fixed = MixCLModel(net, [8, 16, 32, 64], [[1, 1], [2, 2], [2, 2], [2, 2]], 1, torch.nn.Conv2d,
                       MixCLConfig(label_grad_ratio=None))
    assert not fixed.rebalance({"identity": 50.0, "label": 0.5}) and fixed.label_weight == 0.01
    terms = {"identity": torch.tensor(2.0), "label": torch.tensor(3.0), "recon": torch.tensor(4.0),
             "loss": torch.tensor(0.0)}
    assert float(m.combine(terms)) == pytest.approx(2.0 + 100.0 * 3.0 + 0.01 * 4.0)


def test_terms_become_floats_in_one_copy():
    import torch

    from nnssl.trainers.base import terms_to_floats

    terms = {"loss": torch.tensor(1.5, requires_grad=True) * 2, "label_pairs": torch.tensor(0.5), "alpha": 0.25}
    assert terms_to_floats(terms) == {"loss": 3.0, "label_pairs": 0.5, "alpha": 0.25}
