"""The supervised multi-dataset model: its output layer, its loss terms and the pool's class layout."""

import json
import os

import pytest
import torch

from nnssl.losses.partial import ClassLayout
from nnssl.methods.supervised.model import SupervisedModel, hard_dice
from tests.conftest import network

LAYOUT = ClassLayout({101: (1, 2), 102: (1,)})


def test_output_layers_have_one_channel_per_class_of_the_pool_and_deep_supervision_works():
    model = SupervisedModel(network(ds=True), LAYOUT)
    assert all(layer.out_channels == 4 for layer in model.backbone.decoder.seg_layers)
    torch.manual_seed(0)
    data = torch.randn(2, 1, 8, 12, 8)
    outputs = model.backbone(data)
    targets = [torch.randint(0, 2, (2, 1, *o.shape[2:])) for o in outputs]
    terms = model(data, targets, torch.tensor([0, 1]))
    assert set(terms) == {"loss", "ce", "dice", "pseudo_dice"}
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.backbone.encoder.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="2 network outputs but 1 targets"):
        model(data, targets[:1], torch.tensor([0, 1]))


def test_hard_dice_is_one_for_a_perfect_prediction_and_ignores_other_datasets_channels():
    target = torch.zeros(2, 1, 4, 4, dtype=torch.long)
    target[0, 0, :2] = 2  # dataset 101's label 2
    target[1, 0, 2:] = 1  # dataset 102's label 1
    index, mask = LAYOUT.item_tables(torch.tensor([0, 1]))
    logits = torch.zeros(2, 4, 4, 4)
    logits[0, 2, :2], logits[0, 0, 2:] = 5, 5
    logits[1, 3, 2:], logits[1, 0, :2] = 5, 5
    logits[1, 1:3] = 50  # huge logits on channels dataset 102 does not annotate: never predicted for it
    assert hard_dice(logits, target, index, mask).item() == pytest.approx(1.0)


def test_pool_class_layout_reads_each_sources_labels(tmp_path, monkeypatch):
    from nnssl.methods.supervised.trainer import dataset_labels, pool_class_layout

    for did, labels in ((7, {"background": 0, "b": 3, "a": 1}), (8, {"background": 0, "x": 1, "ignore": 2})):
        folder = tmp_path / f"Dataset00{did}_D"
        folder.mkdir()
        (folder / "dataset.json").write_text(json.dumps({"labels": labels}))
    monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path))
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "none"))
    layout = pool_class_layout({"7": "Dataset007_D", "8": "Dataset008_D"})
    assert layout.labels == {7: (1, 3), 8: (1,)} and layout.num_outputs == 4
    with pytest.raises(ValueError, match="is a region"):
        dataset_labels({"labels": {"background": 0, "r": [1, 2]}}, "X")
    with pytest.raises(ValueError, match=r"no dataset\.json"):
        pool_class_layout({"9": "Dataset009_Missing"})
    assert os.path.isdir(tmp_path)
