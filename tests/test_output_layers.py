"""Class-matched output layers: name and map matching, row copying, and the pool model's prediction kept."""

import pytest
import torch

from nnssl.checkpoint import DECODER_PREFIXES, ENCODER_PREFIXES, load_transferable_weights
from nnssl.io import atomic_torch_save
from nnssl.losses.partial import ClassLayout
from nnssl.output_layers import layout_from_record, layout_records, match_classes, normalise, parse_label_map
from tests.conftest import ARCH, REQ

#: a pool of two datasets: 101 (liver, liver tumour) and 102 (kidney, kidney tumour)
POOL = ClassLayout({101: (1, 2), 102: (1, 2)})
NAMES = {101: {1: "Liver", 2: "Liver_Tumor"}, 102: {1: "Kidney", 2: "Kidney Tumor"}}


def net(classes: int):
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    torch.manual_seed(classes)
    return get_network_from_plans("dynamic_network_architectures.architectures.unet.PlainConvUNet", ARCH, REQ,
                                  1, classes, allow_init=True, deep_supervision=True)


def pool_checkpoint(path, layout=POOL, names=NAMES, prefixes=ENCODER_PREFIXES + DECODER_PREFIXES, record=None):
    pool = net(layout.num_outputs)
    record = record or {"transfer_prefixes": list(prefixes), "plans_identifier": "p", "configuration": "3d_fullres",
                        "method": "supervised", "output_classes": layout.names(),
                        "output_layout": layout_records(layout, names)}
    atomic_torch_save({"network_weights": pool.state_dict(), "nnssl_adaptation_record": record}, str(path))
    return pool


def test_names_match_case_and_separator_insensitively_within_one_dataset():
    layout = layout_records(POOL, NAMES)
    m = match_classes({"background": 0, "kidney": 1, "kidney-tumor": 2}, layout)
    assert {t: (r["dataset"], r["label"]) for t, r in m.items()} == {0: (None, 0), 1: (102, 1), 2: (102, 2)}
    assert normalise("Liver_Tumor") == normalise("liver tumor") == "livertumor"
    assert match_classes({"background": 0, "spleen": 1}, layout) == {}  # nothing shared: everything fresh


def test_an_ambiguous_name_match_asks_for_the_map():
    names = {101: {1: "Tumor", 2: "Liver"}, 102: {1: "Tumor", 2: "Kidney"}}
    with pytest.raises(ValueError, match=r"source datasets \[101, 102\] equally well.*--label-map"):
        match_classes({"background": 0, "tumor": 1}, layout_records(POOL, names))
    m = match_classes({"background": 0, "tumor": 1}, layout_records(POOL, names), {1: (102, 1)})
    assert m[1]["channel"] == POOL.channel(102, 1)


def test_the_copied_rows_reproduce_the_pool_models_logits_for_that_dataset(tmp_path):
    """After loading, the fine-tune network's logits of (background, kidney, kidney tumour) equal the pool model's
    channels (0, D102:1, D102:2) at every deep-supervision output: a dc_ce pool model's prediction for dataset 102
    is kept exactly, before any fine-tuning step."""
    pool = pool_checkpoint(tmp_path / "c.pth")
    target = net(3)
    report = load_transferable_weights(target, str(tmp_path / "c.pth"),
                                       target_labels={"background": 0, "Kidney": 1, "Kidney_Tumor": 2})
    x = torch.randn(2, 1, 16, 16, 16)
    pool.eval(), target.eval()
    with torch.no_grad():
        for a, b in zip(pool(x), target(x), strict=True):
            torch.testing.assert_close(b, a[:, [0, POOL.channel(102, 1), POOL.channel(102, 2)]])
    assert len(report.head_keys) == 2 * len(target.decoder.seg_layers)
    assert report.matched_classes[1] == "Kidney (1) <- D102:1 (Kidney)"
    assert "output layers class-matched" in report.summary()


def test_unmatched_rows_stay_fresh_and_a_map_overrides_names(tmp_path):
    pool_checkpoint(tmp_path / "c.pth")
    target = net(4)
    fresh = target.decoder.seg_layers[0].weight.detach().clone()
    labels = {"background": 0, "Liver": 1, "spleen": 2, "stomach": 3}
    load_transferable_weights(target, str(tmp_path / "c.pth"), target_labels=labels, label_map={2: (102, 1)})
    w = target.decoder.seg_layers[0].weight
    sd = torch.load(tmp_path / "c.pth", weights_only=True)["network_weights"]["decoder.seg_layers.0.weight"]
    torch.testing.assert_close(w[2], sd[POOL.channel(102, 1)])  # by the map
    torch.testing.assert_close(w[0], sd[0])
    torch.testing.assert_close(w[1], fresh[1])  # the map wins: no name matching beside it
    torch.testing.assert_close(w[3], fresh[3])


def test_no_rows_are_copied_when_the_decoder_stays_behind(tmp_path):
    """An output layer reads the decoder's last features: on a fresh decoder its rows would mean nothing."""
    pool_checkpoint(tmp_path / "c.pth")
    target = net(3)
    fresh = target.decoder.seg_layers[0].weight.detach().clone()
    report = load_transferable_weights(target, str(tmp_path / "c.pth"), only=ENCODER_PREFIXES,
                                       target_labels={"background": 0, "Kidney": 1, "Kidney_Tumor": 2})
    assert not report.head_keys
    torch.testing.assert_close(target.decoder.seg_layers[0].weight, fresh)


def test_an_older_record_without_names_matches_by_map_only(tmp_path):
    layout = layout_from_record({"output_classes": POOL.names()})
    assert layout[0]["dataset"] is None and layout[3] == {"channel": 3, "dataset": 102, "label": 1, "name": None}
    assert match_classes({"background": 0, "Kidney": 1}, layout) == {}
    assert match_classes({"background": 0, "Kidney": 1}, layout, {1: (102, 1)})[1]["channel"] == 3


@pytest.mark.parametrize(("text", "match"), [
    ("200:1=101", "not TARGET:LABEL=SOURCE:LABEL"),
    ("201:1=101:3", "names target 201, but the target is 200"),
    ("200:0=101:0", "background"),
    ("200:1=101:3,200:1=101:2", "twice"),
    (" , ", "maps nothing"),
])
def test_bad_label_maps_name_the_item(text, match):
    with pytest.raises(ValueError, match=match):
        parse_label_map(text, target=200)


def test_a_map_to_a_class_the_checkpoint_lacks_is_refused():
    with pytest.raises(ValueError, match=r"no\s+such class"):
        match_classes({"background": 0, "a": 1}, layout_records(POOL, NAMES), {1: (103, 1)})
    with pytest.raises(ValueError, match="target label 5 is not a class"):
        match_classes({"background": 0, "a": 1}, layout_records(POOL, NAMES), {5: (101, 1)})
    assert parse_label_map("200:1=101:3,200:2=101:1", 200) == {1: (101, 3), 2: (101, 1)}
