"""Transfer loader, adaptation record checks, checkpoint resolution, atomic writes."""

import os

import pytest
import torch

from nnssl.checkpoint import (
    ENCODER_PREFIXES,
    check_transfer,
    load_transferable_weights,
    resolve_pretrained_checkpoint,
)
from nnssl.io import atomic_torch_save
from tests.conftest import network


def save_ckpt(path, net, prefixes=ENCODER_PREFIXES):
    record = {"transfer_prefixes": list(prefixes), "plans_identifier": "p", "configuration": "3d_fullres",
              "method": "mixcl"}
    atomic_torch_save({"network_weights": net.state_dict(), "nnssl_adaptation_record": record}, str(path))


def test_loader_transfers_encoder_only_and_reports(tmp_path):
    src, dst = network(), network()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(1.0)
    save_ckpt(tmp_path / "c.pth", src)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    report = load_transferable_weights(dst, str(tmp_path / "c.pth"))
    after = dst.state_dict()
    for k in after:
        if k.startswith("encoder."):
            torch.testing.assert_close(after[k], src.state_dict()[k])
        elif k.startswith("decoder.encoder."):
            torch.testing.assert_close(after[k], after[k[len("decoder."):]])  # both copies identical
        else:
            torch.testing.assert_close(after[k], before[k])
    assert report.loaded and all(k.startswith(ENCODER_PREFIXES) for k in report.loaded)
    assert any("seg_layers" in k for k in report.kept_fresh)
    assert "loaded" in report.summary()


@pytest.mark.parametrize("method", ["mixcl", "regression"])
def test_transfer_decoder_moves_decoder_stages_but_never_the_seg_heads(tmp_path, method):
    """``--transfer-decoder`` (mixcl, regression): encoder, transposed convs and decoder stages load; seg heads stay."""
    from types import SimpleNamespace

    from nnssl.checkpoint import DECODER_PREFIXES
    from nnssl.methods.mixcl.config import MixCLConfig
    from nnssl.methods.mixcl.trainer import MixCLPretrainer
    from nnssl.methods.regression.config import RegressionConfig
    from nnssl.methods.regression.trainer import RegressionPretrainer

    trainer, config = {"mixcl": (MixCLPretrainer, MixCLConfig), "regression": (RegressionPretrainer,
                                                                              RegressionConfig)}[method]
    prefixes = {flag: trainer.transfer_prefixes.fget(SimpleNamespace(ssl_config=config(transfer_decoder=flag)))
                for flag in (False, True)}
    assert prefixes[False] == ENCODER_PREFIXES and prefixes[True] == ENCODER_PREFIXES + DECODER_PREFIXES
    src, dst = network(ds=True), network(ds=True)
    with torch.no_grad():
        for p in src.parameters():
            p.add_(1.0)
    save_ckpt(tmp_path / "c.pth", src, prefixes[True])
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    report = load_transferable_weights(dst, str(tmp_path / "c.pth"))
    after, source = dst.state_dict(), src.state_dict()
    heads = [k for k in after if ".seg_layers." in k]
    assert heads and set(heads) <= set(report.kept_fresh)
    assert any(k.startswith("decoder.stages.") for k in report.loaded)
    assert any(k.startswith("decoder.transpconvs.") for k in report.loaded)
    for k in after:
        torch.testing.assert_close(after[k], before[k] if k in heads else source[k])


def test_encoder_only_loads_the_encoder_of_a_decoder_checkpoint(tmp_path):
    """``only=ENCODER_PREFIXES`` (the ``_encoderOnly`` trainers): decoder stages of the same file stay fresh."""
    from nnssl.checkpoint import DECODER_PREFIXES
    from nnssl.methods.registry import finetune_trainer_class

    src, dst = network(ds=True), network(ds=True)
    with torch.no_grad():
        for p in src.parameters():
            p.add_(1.0)
    save_ckpt(tmp_path / "c.pth", src, ENCODER_PREFIXES + DECODER_PREFIXES)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    report = load_transferable_weights(dst, str(tmp_path / "c.pth"), only=ENCODER_PREFIXES)
    after, source = dst.state_dict(), src.state_dict()
    encoder = [k for k in after if k.startswith(ENCODER_PREFIXES)]
    assert encoder and set(report.loaded) == set(encoder)
    for k in after:
        torch.testing.assert_close(after[k], source[k] if k in encoder else before[k])
    with pytest.raises(ValueError, match="none of which starts with"):
        load_transferable_weights(network(), str(tmp_path / "c.pth"), only=("nothing.",))
    pair = finetune_trainer_class("MixCLFinetuneTrainer_nnUNetSchedule"), \
        finetune_trainer_class("MixCLFinetuneTrainer_nnUNetSchedule_encoderOnly")
    assert pair[0].schedule == pair[1].schedule and pair[0].transfer_only is None
    assert pair[1].transfer_only == finetune_trainer_class("MixCLFinetuneTrainer_encoderOnly").transfer_only \
        == ENCODER_PREFIXES


def test_shape_mismatch_and_missing_record_fail_clearly(tmp_path):
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    from tests.conftest import ARCH, REQ

    wide = get_network_from_plans("dynamic_network_architectures.architectures.unet.PlainConvUNet",
                                  {**ARCH, "features_per_stage": [8, 16, 64]}, REQ, 1, 3, deep_supervision=False)
    save_ckpt(tmp_path / "c.pth", wide)
    with pytest.raises(ValueError, match="does not fit") as err:
        load_transferable_weights(network(), str(tmp_path / "c.pth"))
    assert "stages.2.0.convs.0.conv.weight: pretrained (64, 16, 3, 3, 3) vs target (32, 16, 3, 3, 3)" in str(err.value)
    assert "-t <this dataset>" in str(err.value) and "--plan-from-target" in str(err.value)  # the two fixes
    torch.save({"network_weights": {}}, tmp_path / "plain.pth")
    with pytest.raises(ValueError, match="adaptation record"):
        load_transferable_weights(network(), str(tmp_path / "plain.pth"))
    with pytest.raises(FileNotFoundError, match="nnssl_pretrain"):
        load_transferable_weights(network(), str(tmp_path / "missing.pth"))


def test_check_transfer_lists_problems():
    a = {"encoder.w": torch.zeros(2), "decoder.x": torch.zeros(1)}
    assert check_transfer(a, {"encoder.w": torch.zeros(2)}, ENCODER_PREFIXES) == []
    assert "missing" in check_transfer(a, {}, ENCODER_PREFIXES)[0]
    assert "no weights" in check_transfer(a, a, ("nothing.",))[0]


def test_resolve_checkpoint_from_plans_or_env(monkeypatch):
    monkeypatch.delenv("nnSSL_PRETRAINED", raising=False)
    plans = {"plans_name": "nnsslPlans", "dataset_name": "D",
             "nnssl": {"role": "target", "sources": {},
                       "pretrained": {"3d_fullres": {"mixcl": "/a.pth"}, "2d": {"mixcl": "/c.pth"}}}}
    assert resolve_pretrained_checkpoint(plans, "3d_fullres", "mixcl") == "/a.pth"
    assert resolve_pretrained_checkpoint(plans, "2d", "mixcl") == "/c.pth"
    with pytest.raises(ValueError, match=r"recorded: 2d/mixcl, 3d_fullres/mixcl"):
        resolve_pretrained_checkpoint(plans, "3d_fullres", "regression")
    with pytest.raises(ValueError, match="nnssl_pretrain"):
        resolve_pretrained_checkpoint({"plans_name": "nnUNetPlans"}, "3d_fullres", "mixcl")
    monkeypatch.setenv("nnSSL_PRETRAINED", "/b.pth")
    assert resolve_pretrained_checkpoint({}, "3d_fullres", "mixcl") == "/b.pth"


def test_atomic_save_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "ckpt.pth"
    atomic_torch_save({"a": 1}, str(path))

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_torch_save({"a": Unpicklable()}, str(path))
    assert torch.load(path) == {"a": 1}
    assert os.listdir(tmp_path) == ["ckpt.pth"]


def test_atomic_writes_get_a_normal_files_mode_and_keep_an_existing_one(tmp_path):
    from nnssl.io import atomic_save_json

    old = os.umask(0o027)
    try:
        atomic_save_json({"a": 1}, str(tmp_path / "plans.json"))
        atomic_torch_save({"a": 1}, str(tmp_path / "ckpt.pth"))
        with open(tmp_path / "plain.txt", "w"):  # what open() gives under the same umask
            pass
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"plans.json": 0o640, "ckpt.pth": 0o640, "plain.txt": 0o640}  # not mkstemp's 0o600
    os.chmod(tmp_path / "plans.json", 0o604)
    atomic_save_json({"a": 2}, str(tmp_path / "plans.json"))
    assert (tmp_path / "plans.json").stat().st_mode & 0o777 == 0o604


class _Payload:
    """Unpickling this runs code: what a malicious 'checkpoint' would carry."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_with_code_is_refused_without_running_it(tmp_path):
    import torch

    from nnssl.checkpoint import load_transferable_weights
    from nnssl.io import safe_load

    marker = tmp_path / "executed"
    path = tmp_path / "evil.pth"
    torch.save({"network_weights": {}, "nnssl_adaptation_record": {"transfer_prefixes": ["encoder."], "method": "m"},
                "payload": _Payload(str(marker))}, path)
    with pytest.raises(ValueError, match="objects other than tensors"):
        safe_load(str(path))
    with pytest.raises(ValueError, match=str(path)):
        load_transferable_weights(torch.nn.Linear(2, 2), str(path))  # the nnSSL_PRETRAINED / --init path
    assert not marker.exists()


def test_truncated_checkpoint_error_names_the_file(tmp_path):
    import torch

    from nnssl.io import safe_load

    path = tmp_path / "ckpt.pth"
    torch.save({"network_weights": {"w": torch.zeros(1000)}}, path)
    assert set(safe_load(str(path))) == {"network_weights"}  # plain tensors load
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"ckpt\.pth could not be read as a checkpoint"):
        safe_load(str(path))


def _record_checkpoint(path, weights, method="mixcl"):
    import torch

    torch.save({"network_weights": weights, "nnssl_adaptation_record": {
        "transfer_prefixes": ["0."], "plans_identifier": "p", "configuration": "c", "method": method}}, path)


def test_loader_refuses_non_finite_weights_and_other_methods(tmp_path, monkeypatch):
    import torch

    from nnssl.checkpoint import ALLOW_OTHER_METHOD_ENV, load_transferable_weights

    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    weights["0.weight"][0, 0] = float("nan")
    _record_checkpoint(tmp_path / "nan.pth", weights)
    with pytest.raises(ValueError, match="non-finite"):
        load_transferable_weights(net, str(tmp_path / "nan.pth"), expected_method="mixcl")
    assert bool(torch.isfinite(net[0].weight).all())  # nothing was loaded
    _record_checkpoint(tmp_path / "reg.pth", net.state_dict(), method="regression")
    with pytest.raises(ValueError, match="pretrained with method 'regression'"):
        load_transferable_weights(net, str(tmp_path / "reg.pth"), expected_method="mixcl")
    monkeypatch.setenv(ALLOW_OTHER_METHOD_ENV, "1")  # deliberate cross-method use
    assert load_transferable_weights(net, str(tmp_path / "reg.pth"), expected_method="mixcl").loaded


def test_non_finite_loss_stops_with_term_epoch_and_checkpoint(tmp_path):
    import math

    import torch

    from nnssl.trainers.base import SSLTrainerBase

    trainer = SSLTrainerBase.__new__(SSLTrainerBase)  # only the guard's state is needed
    trainer.output_folder, trainer.current_epoch, trainer._iteration = str(tmp_path), 3, 7
    (tmp_path / "checkpoint_best.pth").write_bytes(b"x")
    ok = {"loss": torch.tensor(1.0), "pos_sim": torch.tensor(math.nan)}  # a NaN diagnostic is harmless
    trainer.check_finite(ok)
    bad = {"identity": torch.tensor(math.inf), "label": torch.tensor(0.5), "loss": torch.tensor(math.inf)}
    with pytest.raises(FloatingPointError, match=r"'identity': inf.*epoch 3, iteration 7.*checkpoint_best\.pth"):
        trainer.check_finite(bad)


def test_a_nan_validation_loss_is_never_best():
    import math

    from nnssl.trainers.base import SSLTrainerBase

    trainer = SSLTrainerBase.__new__(SSLTrainerBase)
    trainer._best_val = None
    assert not trainer.is_new_best(math.nan) and not trainer.is_new_best(math.inf) and not trainer.is_new_best(None)
    assert trainer.is_new_best(2.0)
    trainer._best_val = 2.0
    assert trainer.is_new_best(1.5) and not trainer.is_new_best(2.5) and not trainer.is_new_best(math.nan)


def test_other_input_channel_count_adapts_the_stem_and_keeps_its_response(tmp_path):
    """Pretrained on 1 channel, fine-tuned on 3: every stem tensor is adapted, the rest loads unchanged,
    and an input with three identical channels gets exactly the pretrained stem response."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    from tests.conftest import ARCH, REQ

    src = network()
    save_ckpt(tmp_path / "c.pth", src)
    three = get_network_from_plans("dynamic_network_architectures.architectures.unet.PlainConvUNet", ARCH, REQ,
                                   3, 3, allow_init=True, deep_supervision=False)
    report = load_transferable_weights(three, str(tmp_path / "c.pth"))
    assert report.adapted and all("stages.0.0.convs.0" in k for k in report.adapted)
    assert "input channels adapted" in report.summary()
    x = torch.randn(1, 1, 8, 12, 8)
    stem_src, stem_dst = src.encoder.stages[0][0].convs[0].conv, three.encoder.stages[0][0].convs[0].conv
    torch.testing.assert_close(stem_dst(x.repeat(1, 3, 1, 1, 1)), stem_src(x), rtol=1e-5, atol=1e-5)
    deeper = "encoder.stages.1.0.convs.0.conv.weight"
    torch.testing.assert_close(three.state_dict()[deeper], src.state_dict()[deeper])


def _plans_for(arch: dict) -> dict:
    return {"dataset_name": "Dataset900_P", "plans_name": "nnsslPlans", "transpose_forward": [0, 1, 2],
            "configurations": {"3d_fullres": {"patch_size": [8, 12, 8], "data_identifier": "x", "architecture": {
                "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
                "arch_kwargs": arch, "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}}}}


def test_our_checkpoints_carry_an_adaptation_plan_that_rebuilds_the_network():
    """As nnU-Net master reads it: the class and kwargs build the same network with get_network_from_plans, the
    configurations are nested by name, and the keys are the network's own (stem, encoder, input projection)."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    from nnssl.interop import adaptation_plan
    from tests.conftest import ARCH

    ours = network()
    plan = adaptation_plan(_plans_for(ARCH), "3d_fullres", 1, ours)
    arch = plan["architecture_plans"]
    rebuilt = get_network_from_plans(arch["arch_class_name"], arch["arch_kwargs"],
                                     arch["arch_kwargs_requiring_import"], 1, 3, deep_supervision=False)
    sd = ours.state_dict()
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in sd.items()}
    assert list(plan["pretrain_plan"]["configurations"]) == ["3d_fullres"]
    assert plan["pretrain_plan"]["configurations"]["3d_fullres"]["patch_size"] == [8, 12, 8]
    assert (plan["key_to_encoder"], plan["key_to_stem"], plan["key_to_lpe"]) == ("encoder.stages", "encoder.stages.0",
                                                                                  None)
    assert all(k + ".weight" in sd for k in plan["keys_to_in_proj"])
    assert ours.get_submodule(plan["key_to_stem"]).state_dict()  # master loads the stem into this submodule


def test_a_dkfz_nnssl_checkpoint_loads_through_the_same_loader(tmp_path):
    """A checkpoint with only DKFZ's nnssl_adaptation_plan: its encoder (key_to_encoder) is transferred."""
    from nnssl.interop import adaptation_plan
    from tests.conftest import ARCH

    src, dst = network(), network()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(1.0)
    torch.save({"network_weights": src.state_dict(),
                "nnssl_adaptation_plan": adaptation_plan(_plans_for(ARCH), "3d_fullres", 1, src)},
               tmp_path / "dkfz.pth")
    report = load_transferable_weights(dst, str(tmp_path / "dkfz.pth"), expected_method="mixcl")
    assert "MIC-DKFZ" in report.summary()
    key = "encoder.stages.1.0.convs.0.conv.weight"
    torch.testing.assert_close(dst.state_dict()[key], src.state_dict()[key])
    assert all(k.startswith(("encoder.stages.", "decoder.encoder.stages.")) for k in report.loaded)
    assert not any("seg_layers" in k or "transpconvs" in k for k in report.loaded)


def test_the_plans_nnssl_block_is_validated():
    from nnssl.planning.block import NnsslBlock

    block = NnsslBlock("target", {"101": "Dataset101_A"}, pool="Dataset900_P", pretrained={"2d": {"mixcl": "/c.pth"}})
    assert NnsslBlock.from_plans({"nnssl": block.to_json()}) == block
    assert NnsslBlock.from_plans({}) is None
    with pytest.raises(ValueError, match=r"P\.json: unknown key\(s\) \['pretrainde'\]"):
        NnsslBlock.from_plans({"nnssl": {"role": "target", "sources": {}, "pretrainde": {}}}, "P.json")
    with pytest.raises(ValueError, match="role must be one of"):
        NnsslBlock.from_plans({"nnssl": {"role": "teacher", "sources": {}}})
    with pytest.raises(ValueError, match="configuration -> run name -> checkpoint path"):
        resolve_pretrained_checkpoint({"nnssl": {"role": "target", "sources": {}, "pretrained": {"2d": "x"}}},
                                      "2d", "mixcl")


def test_an_empty_file_or_a_folder_is_named_not_a_traceback(tmp_path):
    from nnssl.io import safe_load

    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        safe_load(str(empty))
    with pytest.raises(ValueError, match="is a folder"):
        safe_load(str(tmp_path))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="could not be read as a checkpoint"):
        safe_load(str(garbage))


def test_a_checkpoint_of_another_network_class_names_both_and_the_planner(tmp_path):
    """A ResidualEncoderUNet checkpoint given to a PlainConvUNet fine-tune: both classes and the planner named."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    from nnssl.interop import RESENC
    from tests.conftest import ARCH, REQ

    kwargs = {k: v for k, v in ARCH.items() if k != "n_conv_per_stage"}
    resenc = get_network_from_plans(RESENC, {**kwargs, "n_blocks_per_stage": [1, 1, 1]}, REQ, 1, 3)
    record = {"transfer_prefixes": ["encoder.", "decoder.encoder."], "plans_identifier": "nnsslResEncUNetMPlans",
              "configuration": "3d_fullres", "method": "mixcl", "network_arch_class_name": RESENC}
    torch.save({"network_weights": resenc.state_dict(), "nnssl_adaptation_record": record}, tmp_path / "r.pth")
    with pytest.raises(ValueError, match=r"holds a ResidualEncoderUNet, but this network is a PlainConvUNet .*"
                                         r"-pl nnUNetPlannerResEncM"):
        load_transferable_weights(network(), str(tmp_path / "r.pth"))
