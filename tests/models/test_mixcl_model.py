"""MixCL model wiring: feature taps, gathering, term composition, gradients."""

import pytest
import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

from nnssl.heads import decoder_features, decoder_stage_outputs
from nnssl.methods.mixcl.config import MixCLConfig
from nnssl.methods.mixcl.model import MixCLModel, gather_voxels
from tests.conftest import ARCH, REQ, network
from tests.conftest import mixcl_batch as batch
from tests.conftest import mixcl_model as model


def test_decoder_features_match_nnunet_decoder_output():
    net = network().eval()
    x = torch.randn(1, 1, 8, 12, 8)
    skips = net.encoder(x)
    torch.testing.assert_close(net.decoder.seg_layers[-1](decoder_features(net.decoder, skips)), net(x))
    with pytest.raises(ValueError, match="num_stages"):
        decoder_features(net.decoder, skips, 5)


def test_decoder_stage_outputs_are_the_decoders_intermediate_maps():
    """Stage s has the channels and grid of skip K-2-s, and the last stage is decoder_features."""
    net = network().eval()
    skips = net.encoder(torch.randn(1, 1, 8, 12, 8))
    outs = decoder_stage_outputs(net.decoder, skips)
    assert len(outs) == len(skips) - 1
    for s, out in enumerate(outs):
        assert out.shape[1:] == skips[-(s + 2)].shape[1:]
    torch.testing.assert_close(outs[-1], decoder_features(net.decoder, skips))
    assert [o.shape for o in decoder_stage_outputs(net.decoder, skips, 1)] == [outs[0].shape]


def test_decoder_barlow_twins_adds_terms_and_trains_the_decoder_without_recon():
    """bt_decoder_stages put decoder maps into L_id: their terms sum into it, and with L_recon and L_label off
    the decoder stages get a gradient only through them (the fine-tune can then transfer a trained decoder)."""
    def decoder_grad(m):
        m.zero_grad()
        terms = m(**batch())
        terms["loss"].backward()
        return terms, m.backbone.decoder.stages[0].convs[0].conv.weight.grad.abs().sum().item()

    plain_terms, plain_grad = decoder_grad(model(label_weight=0.0, recon_weight=0.0))
    terms, grad = decoder_grad(model(label_weight=0.0, recon_weight=0.0, bt_decoder_stages=(0, 1)))
    assert not any(k.startswith("id_dec") for k in plain_terms) and plain_grad == 0.0
    assert {"id_dec0", "id_dec1"} <= set(terms) and grad > 0
    per_stage = sum(v for k, v in terms.items() if k.startswith(("id_stage", "id_dec")))
    assert terms["identity"].item() == pytest.approx(per_stage.item(), rel=1e-6)
    full = model(bt_decoder_stages=(1,))(**batch())  # beside L_recon, which uses the same decoder pass
    assert {"id_dec1", "recon", "label"} <= set(full) and torch.isfinite(full["loss"])
    with pytest.raises(ValueError, match=r"bt_decoder_stages \(2,\).*0\.\.1"):
        model(bt_decoder_stages=(2,))


def test_label_term_on_a_decoder_stage_trains_the_decoder_up_to_that_stage():
    """label_decoder_stage moves L_label to a decoder map (own projector): with L_id and L_recon off, the decoder
    stages up to s and the encoder get a gradient from it, the later decoder stages none; on the encoder (the
    default) the decoder gets none."""
    def grads(m):
        m.zero_grad()
        terms = m(**batch())
        terms["loss"].backward()
        dec = [st.convs[0].conv.weight.grad.abs().sum().item() for st in m.backbone.decoder.stages]
        return terms, dec, m.backbone.encoder.stages[0][0].convs[0].conv.weight.grad.abs().sum().item()

    off = {"identity_weight": 0.0, "recon_weight": 0.0, "label_grad_ratio": None}
    terms, dec, enc = grads(model(**off, label_decoder_stage=0))
    assert terms["label"].item() > 0 and dec[0] > 0 and dec[1] == 0.0 and enc > 0
    projector = model(**off, label_decoder_stage=0).heads["label_projector"]
    assert projector.mlp[0].in_features == ARCH["features_per_stage"][1]
    terms, dec, _ = grads(model(**off, label_decoder_stage=1))  # the full-resolution stage, stride 1
    assert terms["label"].item() > 0 and min(dec) > 0
    _, dec, _ = grads(model(**off))
    assert max(dec) == 0.0
    full = model(label_decoder_stage=1)(**batch())  # beside L_id and L_recon (one decoder pass)
    assert {"identity", "label", "recon"} <= set(full) and torch.isfinite(full["loss"])
    assert model(label_decoder_stage=-1).label_decoder_stage == 1  # counted from the full-resolution end
    for bad in (2, -3):
        with pytest.raises(ValueError, match=rf"label_decoder_stage {bad}.*0\.\.1"):
            model(label_decoder_stage=bad)
    with pytest.raises(ValueError, match="--label-decoder-stage"):
        MixCLConfig(label_decoder_stage=0, label_weight=0.0)
    with pytest.raises(ValueError, match="--label-stage and --label-decoder-stage"):
        MixCLConfig(label_decoder_stage=0, label_stage=1)


def test_gather_voxels_maps_full_resolution_coords_to_stage_grid():
    feats = torch.arange(2 * 3 * 4 * 6 * 4, dtype=torch.float32).reshape(2, 3, 4, 6, 4)
    coords = torch.tensor([[1, 7, 11, 7], [0, 0, 1, 2]])
    rows = gather_voxels(feats, coords, (2, 2, 2))
    torch.testing.assert_close(rows[0], feats[1, :, 3, 5, 3])
    torch.testing.assert_close(rows[1], feats[0, :, 0, 0, 1])


def test_terms_and_total_and_gradients_reach_encoder():
    m = model()
    terms = m(**batch())
    assert {"id_stage0", "id_stage1", "id_stage2", "identity", "label", "recon", "loss"} <= set(terms)
    expected = terms["identity"] + 0.01 * terms["label"] + 0.01 * terms["recon"]
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    terms["loss"].backward()
    enc_grad = m.backbone.encoder.stages[0][0].convs[0].conv.weight.grad
    assert enc_grad is not None and enc_grad.abs().sum() > 0
    assert m.heads["reconstruction"].conv.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in m.parameters())  # DDP: nothing unused


def test_one_encoder_pass_for_all_views_equals_a_pass_per_view():
    """V1, V1' and V2 go through the encoder as one batch. With nnU-Net's InstanceNorm every sample is
    normalised on its own, and the projectors still see each view alone (Barlow Twins' per-view BatchNorm
    statistics), so the terms and every gradient equal those of one encoder pass per view. Fails if the encoder
    mixed samples (e.g. BatchNorm) or the projectors got the views together."""
    import copy

    data = batch()
    b = data["v1"].shape[0]
    joint = model().train()
    split = copy.deepcopy(joint)
    encoder = split.backbone.encoder
    one_pass = encoder.forward

    def per_view(x):
        assert x.shape[0] == 3 * b  # the model does send all three views at once
        parts = [one_pass(x[i:i + b]) for i in range(0, x.shape[0], b)]
        return [torch.cat(level) for level in zip(*parts, strict=True)]

    encoder.forward = per_view
    results = []
    for m in (joint, split):
        torch.manual_seed(0)
        terms = m(**data)
        terms["loss"].backward()
        results.append((terms, {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}))
    (t_joint, g_joint), (t_split, g_split) = results
    for name in ("identity", "label", "recon", "loss"):
        assert t_split[name].item() == pytest.approx(t_joint[name].item(), rel=1e-5, abs=1e-7), name
    assert g_joint.keys() == g_split.keys() and len(g_joint) > 10
    for n in g_joint:
        assert torch.allclose(g_split[n], g_joint[n], rtol=1e-4, atol=1e-6), n


def test_label_term_averages_only_pairs_with_shared_foreground():
    """A pair whose patches share no foreground label adds nothing (not a zero) to the label mean.

    In eval mode each pair's loss is independent of the other pair's labels, so the label term of the
    full batch must be the mean of the terms with pair 1, and then pair 0, made background-only.
    """
    m = model().eval()
    data = batch()

    def without(pair):
        return {**data, "labels1": torch.where(data["coords1"][:, 0] == pair, 0, data["labels1"])}

    with torch.no_grad():
        full, only0, only1 = m(**data), m(**without(1)), m(**without(0))
        empty = m(**{**data, "labels1": torch.zeros_like(data["labels1"])})
    assert full["label_pairs"].item() == 1.0 and only0["label_pairs"].item() == 0.5
    assert full["label"].item() == pytest.approx((only0["label"].item() + only1["label"].item()) / 2, rel=1e-5)
    assert empty["label"].item() == 0.0 and empty["label_pairs"].item() == 0.0 and torch.isfinite(empty["loss"])


def test_sizes_given_by_the_loader_change_nothing():
    """label_rows1/2 and num_labels (python ints from the loader, no host sync) give the terms read from tensors."""
    m = model().eval()
    data = batch()
    rows1 = int(torch.bincount(data["coords1"][:, 0]).max())
    rows2 = int(torch.bincount(data["coords2"][:, 0]).max())
    with torch.no_grad():
        read = m(**data)
        given = m(**data, label_rows1=rows1, label_rows2=rows2 + 3,  # extra padding is inert
                  num_labels=2 + int(torch.cat([data["labels1"], data["labels2"]]).max()))
    assert given["label"].item() == pytest.approx(read["label"].item(), rel=1e-6)
    assert given["loss"].item() == pytest.approx(read["loss"].item(), rel=1e-6)
    with pytest.raises(IndexError):  # a size smaller than the largest group is caught, not silently wrong
        m(**data, label_rows1=rows1 - 1)


@pytest.mark.parametrize(("switch", "absent"), [({"label_weight": 0.0}, "label"), ({"recon_weight": 0.0}, "recon"),
                                                ({"identity_weight": 0.0}, "identity")])
def test_ablation_switches_remove_terms(switch, absent):
    terms = model(**switch)(**batch())
    assert absent not in terms
    assert torch.isfinite(terms["loss"])


def test_identical_views_give_zero_on_diagonal_identity():
    b = batch()
    b["v1b"] = b["v1"].clone()
    m = model(label_weight=0.0, recon_weight=0.0).train()
    assert torch.isfinite(m(**b)["identity"])
    # same voxels, same projector, same BN batch statistics: C_ii = 1 up to eps
    from nnssl.losses import cross_correlation
    rows = m.backbone.encoder(b["v1"])[0].movedim(1, -1).reshape(-1, 8)
    z = m.heads["projectors"][0](rows)
    assert torch.allclose(torch.diagonal(cross_correlation(z, z)), torch.ones(16), atol=1e-3)


def test_2d_network_terms_and_gradients():
    arch = {**ARCH, "conv_op": "torch.nn.modules.conv.Conv2d", "kernel_sizes": [[3, 3]] * 3,
            "strides": [[1, 1], [2, 2], [2, 2]], "norm_op": "torch.nn.modules.instancenorm.InstanceNorm2d"}
    net = get_network_from_plans("dynamic_network_architectures.architectures.unet.PlainConvUNet", arch, REQ, 1, 3,
                                 deep_supervision=False)
    m = MixCLModel(net, net.encoder.output_channels, net.encoder.strides, 1, net.encoder.conv_op, MixCLConfig())
    b = {k: (v[:, :, 0] if v.is_floating_point() else v) for k, v in batch().items()}
    b["coords1"], b["coords2"] = b["coords1"][:, :3], b["coords2"][:, :3]
    terms = m(**b)
    terms["loss"].backward()
    assert {"label", "recon", "identity"} <= set(terms) and torch.isfinite(terms["loss"])
    assert net.encoder.stages[0][0].convs[0].conv.weight.grad.abs().sum() > 0
