"""Properties of the partial (dataset-local) segmentation losses of the supervised method."""

import pytest
import torch

from nnssl.losses.partial import (
    IGNORE,
    ClassLayout,
    deep_supervision_weights,
    partial_dc_bce_loss,
    partial_dc_ce_loss,
    to_union_labels,
)

#: dataset 101 annotates labels 1 and 2, dataset 102 annotates label 1 (meaning something else)
LAYOUT = ClassLayout({101: (1, 2), 102: (1,)})


def batch(datasets, shape=(6, 7), seed=0):
    """Random logits over LAYOUT's channels and targets valid for each item's dataset."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(datasets), LAYOUT.num_outputs, *shape, generator=g, requires_grad=True)
    targets = torch.stack([torch.randint(0, len(LAYOUT.labels[d]) + 1, (1, *shape), generator=g)
                           for d in datasets])
    index = torch.tensor([LAYOUT.datasets.index(d) for d in datasets])
    return logits, targets, *LAYOUT.item_tables(index)


class TestLayout:
    def test_channels_are_background_then_each_datasets_labels(self):
        assert LAYOUT.num_outputs == 4
        assert LAYOUT.names() == ["background", "D101:1", "D101:2", "D102:1"]
        assert [LAYOUT.channel(101, 1), LAYOUT.channel(101, 2), LAYOUT.channel(102, 1)] == [1, 2, 3]
        index, mask = LAYOUT.tables()
        assert index.tolist() == [[0, 1, 2], [0, 3, IGNORE]]
        assert mask.tolist() == [[True, True, True, False], [True, False, False, True]]

    def test_non_contiguous_labels_and_unknown_values(self):
        layout = ClassLayout({5: (2, 4)})
        union_index, _ = layout.item_tables(torch.tensor([0]))
        target = torch.tensor([[[0, 2, 4, 3, 9]]])
        assert to_union_labels(target, union_index).tolist() == [[0, 1, 2, IGNORE, IGNORE]]

    @pytest.mark.parametrize("labels", [(), (0, 1), (1, 1)])
    def test_bad_label_sets_raise(self, labels):
        with pytest.raises(ValueError, match="dataset 7"):
            ClassLayout({7: labels})


@pytest.mark.parametrize("loss", [partial_dc_ce_loss, partial_dc_bce_loss])
@pytest.mark.parametrize("batch_dice", [True, False])
class TestDatasetLocality:
    def test_other_datasets_logits_have_no_effect_and_no_gradient(self, loss, batch_dice):
        logits, target, index, mask = batch([101, 101, 102])
        ref = loss(logits, target, index, mask, batch_dice=batch_dice)["loss"]
        ref.backward()
        grad = logits.grad
        # item b's gradient is zero on every channel its dataset does not annotate
        assert torch.all(grad[~mask] == 0)
        assert grad[mask].abs().sum() > 0
        changed = logits.detach().clone()
        changed[~mask] += 50 * torch.randn_like(changed[~mask])
        assert loss(changed, target, index, mask, batch_dice=batch_dice)["loss"].item() == \
            pytest.approx(ref.item(), rel=1e-5, abs=1e-6)

    def test_label_one_means_different_classes_in_two_datasets(self, loss, batch_dice):
        # two datasets with one label each; the network predicts "D201:1" everywhere, the label map says 1 everywhere
        layout = ClassLayout({201: (1,), 202: (1,)})
        logits = torch.zeros((1, layout.num_outputs, 5, 5))
        logits[:, layout.channel(201, 1)], logits[:, layout.channel(202, 1)] = 8.0, -8.0
        target = torch.ones(1, 1, 5, 5, dtype=torch.long)
        as_201 = loss(logits, target, *layout.item_tables(torch.tensor([0])), batch_dice=batch_dice)["loss"]
        as_202 = loss(logits, target, *layout.item_tables(torch.tensor([1])), batch_dice=batch_dice)["loss"]
        assert as_201.item() < -0.99  # right class: Dice close to 1, CE close to 0
        assert as_202.item() > 5  # for an image of 202, label 1 is D202:1, which the network did not predict


class TestSingleDatasetEqualsNnUNet:
    @pytest.mark.parametrize("batch_dice", [True, False])
    def test_dc_ce_equals_nnunets_dc_and_ce_loss(self, batch_dice):
        from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
        from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

        layout = ClassLayout({4: (1, 2)})
        g = torch.Generator().manual_seed(1)
        logits = torch.randn(3, 3, 8, 9, generator=g)
        target = torch.randint(0, 3, (3, 1, 8, 9), generator=g)
        ours = partial_dc_ce_loss(logits, target, *layout.item_tables(torch.zeros(3, dtype=torch.long)),
                                  batch_dice=batch_dice)["loss"]
        nnunet = DC_and_CE_loss({"batch_dice": batch_dice, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                                weight_ce=1, weight_dice=1, dice_class=MemoryEfficientSoftDiceLoss)(logits, target)
        assert ours.item() == pytest.approx(nnunet.item(), rel=1e-5)

    def test_dc_bce_is_bce_plus_dice_on_the_foreground_channels(self):
        layout = ClassLayout({4: (1, 2)})
        g = torch.Generator().manual_seed(2)
        logits = torch.randn(2, 3, 6, 6, generator=g)
        target = torch.randint(0, 3, (2, 1, 6, 6), generator=g)
        terms = partial_dc_bce_loss(logits, target, *layout.item_tables(torch.zeros(2, dtype=torch.long)))
        onehot = torch.nn.functional.one_hot(target[:, 0], 3).movedim(-1, 1).float()[:, 1:]
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 1:], onehot)
        p = torch.sigmoid(logits[:, 1:])
        dice = (2 * (p * onehot).sum((0, 2, 3)) + 1e-5) / (p.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1e-5)
        assert terms["ce"].item() == pytest.approx(bce.item(), rel=1e-5)
        assert terms["loss"].item() == pytest.approx(bce.item() - dice.mean().item(), rel=1e-5)


def test_ignored_voxels_do_not_count():
    logits, target, index, mask = batch([102, 102])
    target2 = target.clone()
    target2[:, :, :2] = 7  # a value dataset 102 does not declare: ignored
    a = partial_dc_ce_loss(logits, target2, index, mask)["loss"]
    logits2 = logits.detach().clone()
    logits2[:, :, :2] = torch.randn_like(logits2[:, :, :2]) * 30  # whatever is predicted there
    assert partial_dc_ce_loss(logits2, target2, index, mask)["loss"].item() == pytest.approx(a.item(), rel=1e-5)


def test_deep_supervision_weights_are_nnunets():
    assert deep_supervision_weights(1) == [1.0]
    w = deep_supervision_weights(4)
    assert w[-1] == 0 and sum(w) == pytest.approx(1.0)
    assert w[0] / w[1] == pytest.approx(2.0) and w[1] / w[2] == pytest.approx(2.0)
