"""Fine-tune trainers on a real nnU-Net trainer object: parameter groups, freezing, per-step lr."""

import os

import pytest
import torch

from nnssl.checkpoint import ENCODER_PREFIXES
from nnssl.io import load_json


def plans_of(pre):
    """The target's plans as nnU-Net's run_training passes them (2.8.1 pops 'continue_training')."""
    return {**load_json(os.path.join(pre, "nnsslPlans.json")), "continue_training": False}


def make_checkpoint(trainer_cls, pool_env, path, prefixes=ENCODER_PREFIXES):
    """A nnssl-format checkpoint of a random network built from the target's plans (``prefixes`` transferred)."""
    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].target[1])
    t = trainer_cls(plans_of(pre), "3d_fullres", 0,
                    load_json(os.path.join(pre, "dataset.json")), device=torch.device("cpu"))
    net = t.build_network_architecture(t.plans_manager, t.configuration_manager, 1,
                                       t.label_manager.num_segmentation_heads, True)
    torch.nn.init.constant_(net.encoder.stages[0][0].convs[0].conv.weight, 0.125)  # recognisable value
    torch.save({"network_weights": net.state_dict(),
                "nnssl_adaptation_record": {"transfer_prefixes": list(prefixes),
                                            "plans_identifier": "nnsslPlans", "configuration": "3d_fullres",
                                            "method": "mixcl"}}, path)


def build(cls_name, pool_env, tmp_path, monkeypatch, schedule="epochs=4,iterations=5,val_iterations=1",
          prefixes=ENCODER_PREFIXES):
    from nnssl.methods.registry import finetune_trainer_class

    cls = finetune_trainer_class(cls_name)
    ckpt = str(tmp_path / "pretrained.pth")
    make_checkpoint(cls, pool_env, ckpt, prefixes)
    monkeypatch.setenv("nnSSL_PRETRAINED", ckpt)
    monkeypatch.setenv("nnSSL_FINETUNE_SCHEDULE", schedule)
    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].target[1])
    trainer = cls(plans_of(pre), "3d_fullres", 0,
                  load_json(os.path.join(pre, "dataset.json")), device=torch.device("cpu"))
    trainer.initialize()
    return trainer


def step(trainer):
    """One optimiser step on a random input (the loss only needs gradients to flow)."""
    x = torch.randn(1, 1, *trainer.configuration_manager.patch_size)
    trainer.optimizer.zero_grad(set_to_none=True)
    out = trainer.network(x)
    sum(o.float().mean() for o in (out if isinstance(out, list | tuple) else [out])).backward()
    trainer.optimizer.step()


def groups(trainer):
    return {g["nnssl_group"]: g for g in trainer.optimizer.param_groups}


def test_pretrained_trainer_groups_and_peaks(pool_env, tmp_path, monkeypatch):
    t = build("MixCLFinetuneTrainer", pool_env, tmp_path, monkeypatch)
    g = groups(t)
    enc = {id(p) for p in t.network.encoder.parameters()}
    assert {id(p) for p in g["transferred"]["params"]} == enc  # exactly the encoder (decoder.encoder is the same)
    assert not enc & {id(p) for p in g["fresh"]["params"]}
    assert torch.all(t.network.encoder.stages[0][0].convs[0].conv.weight == 0.125)  # weights were loaded
    t.lr_scheduler.set_step(0)
    w = t.resolved_schedule.warmup_steps
    assert g["transferred"]["lr"] == pytest.approx(1e-3 / w) and g["fresh"]["lr"] == pytest.approx(1e-2 / w)
    t.lr_scheduler.set_step(w - 1)
    assert g["transferred"]["lr"] == pytest.approx(1e-3) and g["fresh"]["lr"] == pytest.approx(1e-2)


def test_encoder_only_trainer_leaves_a_transferred_decoder_fresh(pool_env, tmp_path, monkeypatch):
    """A ``--transfer-decoder`` checkpoint: ``_nnUNetSchedule`` transfers decoder stages, ``..._encoderOnly`` not."""
    from nnssl.checkpoint import DECODER_PREFIXES

    both = ENCODER_PREFIXES + DECODER_PREFIXES
    full = build("MixCLFinetuneTrainer_nnUNetSchedule", pool_env, tmp_path, monkeypatch, prefixes=both)
    enc = build("MixCLFinetuneTrainer_nnUNetSchedule_encoderOnly", pool_env, tmp_path, monkeypatch, prefixes=both)
    stages = {id(p) for p in enc.network.decoder.stages.parameters()}
    assert stages <= {id(p) for p in groups(enc)["fresh"]["params"]}
    assert {id(p) for p in groups(enc)["transferred"]["params"]} == {id(p) for p in enc.network.encoder.parameters()}
    transferred = {id(p) for p in groups(full)["transferred"]["params"]}
    assert {id(p) for p in full.network.decoder.stages.parameters()} <= transferred
    assert "transfer restricted to encoder., decoder.encoder." in enc.transfer_summary
    assert "restricted" not in full.transfer_summary


def test_frozen_parameters_get_no_gradient_and_no_optimiser_state(pool_env, tmp_path, monkeypatch):
    t = build("MixCLFinetuneTrainer_frozenEncoderWarmup", pool_env, tmp_path, monkeypatch,
              "epochs=10,iterations=5,val_iterations=1,freeze_fraction=0.2")
    assert t.resolved_schedule.freeze_epochs == 2
    transferred = groups(t)["transferred"]["params"]
    before = [p.detach().clone() for p in transferred]
    t.current_epoch = 0
    t._set_frozen(t.resolved_schedule.frozen("transferred", 0))
    t.lr_scheduler.set_step(3)
    step(t)
    assert all(p.grad is None and not p.requires_grad for p in transferred)
    assert all(p not in t.optimizer.state for p in transferred)
    assert all(torch.equal(a, b) for a, b in zip(before, transferred, strict=True))
    assert any(p in t.optimizer.state for p in groups(t)["fresh"]["params"])
    t.current_epoch = 2  # released at the end of the frozen epochs
    t._set_frozen(t.resolved_schedule.frozen("transferred", 2))
    t.lr_scheduler.set_step(2 * 5)
    step(t)
    assert all(p.requires_grad and p.grad is not None for p in transferred)
    assert any(not torch.equal(a, b) for a, b in zip(before, transferred, strict=True))


def test_encoder_freeze_scope_freezes_the_encoder_and_trains_the_transferred_decoder(pool_env, tmp_path, monkeypatch):
    """``freeze_scope=encoder`` with a ``--transfer-decoder`` checkpoint: the encoder gets no gradient and no
    optimiser state for the whole run, the transferred decoder trains from step 0 at the transferred peak lr."""
    from nnssl.checkpoint import DECODER_PREFIXES

    t = build("MixCLFinetuneTrainer_nnUNetSchedule", pool_env, tmp_path, monkeypatch,
              "epochs=4,iterations=5,val_iterations=1,linear_probe=1,freeze_scope=encoder,pretrained_lr=3e-3",
              prefixes=ENCODER_PREFIXES + DECODER_PREFIXES)
    g = groups(t)
    encoder, decoder = list(t.network.encoder.parameters()), list(t.network.decoder.stages.parameters())
    assert {id(p) for p in g["transferred"]["params"]} == {id(p) for p in encoder}
    assert {id(p) for p in decoder} <= {id(p) for p in g["transferred_unfrozen"]["params"]}
    seg = {id(p) for p in t.network.decoder.seg_layers.parameters()}
    assert seg <= {id(p) for p in g["fresh"]["params"]}
    assert t.resolved_schedule.freeze_epochs == 4
    before_enc, before_dec = [p.detach().clone() for p in encoder], [p.detach().clone() for p in decoder]
    for epoch in (0, 3):
        t.current_epoch = epoch
        t._set_frozen(t.resolved_schedule.frozen("transferred", epoch))
        t.lr_scheduler.set_step(epoch * 5)
        assert (g["transferred"]["lr"], g["transferred_unfrozen"]["lr"]) == (0.0, pytest.approx(
            t.resolved_schedule.lr("transferred_unfrozen", epoch * 5)))
        step(t)
    assert g["transferred_unfrozen"]["lr"] < 3e-3 and t.resolved_schedule.lr("transferred_unfrozen", 0) == 3e-3
    assert all(p.grad is None and not p.requires_grad and p not in t.optimizer.state for p in encoder)
    assert all(torch.equal(a, b) for a, b in zip(before_enc, encoder, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before_dec, decoder, strict=True))
    assert all(p in t.optimizer.state for p in decoder)
    text = t.resolved_schedule.describe()
    assert "transferred encoder weights frozen for the whole run" in text and "linear probe" not in text


def test_l2sp_pulls_the_transferred_group_toward_the_loaded_weights(pool_env, tmp_path, monkeypatch):
    """``l2sp``: only the transferred group carries the pull, its anchor is the checkpoint's value, and the log
    and the run record say so."""
    t = build("MixCLFinetuneTrainer_nnUNetSchedule", pool_env, tmp_path, monkeypatch,
              "epochs=4,iterations=5,val_iterations=1,l2sp=1e-2")
    g = groups(t)
    assert (g["transferred"]["l2sp"], g["fresh"]["l2sp"]) == (1e-2, 0.0)
    stem = t.network.encoder.stages[0][0].convs[0].conv.weight
    t.lr_scheduler.set_step(0)
    step(t)
    assert torch.all(t.optimizer.state[stem]["l2sp_anchor"] == 0.125)  # the pretrained value, not the moved one
    assert not torch.all(stem == 0.125)
    assert all("l2sp_anchor" not in t.optimizer.state[p] for p in g["fresh"]["params"])
    assert "L2-SP 0.01" in t.resolved_schedule.describe() and t.resolved_schedule.to_json()["l2sp"] == 1e-2


def test_scratch_trainers_have_one_group_and_say_random_init(pool_env, monkeypatch):
    from nnssl.trainers import finetune

    monkeypatch.setenv("nnSSL_FINETUNE_SCHEDULE", "epochs=20,iterations=50,val_iterations=1")
    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].target[1])
    dj = load_json(os.path.join(pre, "dataset.json"))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # nnUNetv2_train -device cpu: every core, whatever OMP_NUM_THREADS says
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    default = finetune.nnsslScratchTrainer(plans_of(pre), "3d_fullres", 0, dj, device=torch.device("cpu"))
    assert torch.get_num_threads() == 1  # the trainer put the variable back in charge
    torch.set_num_threads(threads)
    warm = finetune.nnsslScratchTrainer_warmup(plans_of(pre), "3d_fullres", 0, dj, device=torch.device("cpu"))
    default.initialize()
    assert [g["nnssl_group"] for g in default.optimizer.param_groups] == ["fresh"]
    assert "random initialisation" in default.transfer_summary
    assert default.resolved_schedule.warmup_steps == 0 and warm.resolved_schedule.warmup_steps == 50
    assert default.initial_lr == warm.initial_lr == 1e-2


def test_every_method_gets_the_same_variants_with_distinct_schedules_and_nnunet_finds_them():
    """The fine-tune trainers are derived from each Method: the same variants for every method, each a distinct
    (schedule, transfer scope), the same class object on every lookup, and nnU-Net's own lookup finds them."""
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    from nnssl.methods.registry import BUILTIN, finetune_trainer_class
    from nnssl.trainer_location import trainer_dir
    from nnssl.trainers import finetune
    from nnssl.trainers.finetune_variants import VARIANTS, finetune_trainers

    for method in BUILTIN.values():
        classes = finetune_trainers(method)
        base = method.finetune_trainer
        assert set(classes) == {f"{base}_{v}" if v else base for v in VARIANTS}
        assert all(c.ssl_run == method.name and issubclass(c, classes[base]) for c in classes.values())
        recipes = {(c.schedule, c.transfer_only) for c in classes.values()}
        assert len(recipes) == len(classes)  # no two class names share a schedule and transfer scope
        assert finetune_trainers(method)[base] is classes[base] is finetune_trainer_class(base)
    mix = finetune_trainers(BUILTIN["mixcl"])
    # the same schedule as the warm-up scratch baseline: the init is the only difference
    assert mix["MixCLFinetuneTrainer_warmup"].schedule == finetune.nnsslScratchTrainer_warmup.schedule
    # the demo's pair and the README's pair: nnU-Net's recipe on both sides
    assert mix["MixCLFinetuneTrainer_nnUNetSchedule_5ep20it"].schedule == finetune.nnsslScratchTrainer_5ep20it.schedule
    assert mix["MixCLFinetuneTrainer_nnUNetSchedule_5epochs"].schedule == finetune.nnsslScratchTrainer_5epochs.schedule
    with pytest.raises(ValueError, match="has the variants"):
        finetune_trainer_class("MixCLFinetuneTrainer_fast")
    name = "SupervisedFinetuneTrainer_nnUNetSchedule_2ep5it"  # looked up the way nnUNetv2_train does
    found = recursive_find_python_class(trainer_dir(), name, None, base_folder=trainer_dir(),
                                        cleanup_imports_from_base_folder=True)
    assert found is finetune_trainers(BUILTIN["supervised"])[name]


def test_built_in_fine_tune_classes_are_written_out_and_plugins_get_the_same_variants():
    """A user finds ``class MixCLFinetuneTrainer_nnUNetSchedule(`` with grep: the built-in classes live in a written
    file that agrees with the variant table; a plugin method gets the same variants, made from the table."""
    import dataclasses

    from nnssl.methods.registry import BUILTIN
    from nnssl.trainers import builtin_finetune_trainers as written
    from nnssl.trainers.finetune_variants import VARIANTS, finetune_trainers, written_source

    with open(written.__file__) as f:
        assert f.read() == written_source(BUILTIN), "run python scripts/write_finetune_trainers.py"
    for method in BUILTIN.values():
        for name, cls in finetune_trainers(method).items():
            assert cls is getattr(written, name) and cls.__module__ == written.__name__
            assert f"class {name}(" in open(written.__file__).read()
    plugin = dataclasses.replace(BUILTIN["regression"], name="myplugin", finetune_trainer="MyPluginFinetuneTrainer")
    classes = finetune_trainers(plugin)
    assert len(classes) == len(VARIANTS) and not any(hasattr(written, n) for n in classes)
    assert classes["MyPluginFinetuneTrainer_nnUNetSchedule"].schedule == VARIANTS["nnUNetSchedule"][0]
    assert all(c.ssl_run == "myplugin" for c in classes.values())


def test_heads_first_trains_only_the_output_layers_then_releases_everything(pool_env, tmp_path, monkeypatch):
    """``_headsFirst`` with a checkpoint that transfers encoder and decoder: during the first phase only the output
    layers train (the transferred weights get no gradient and no optimiser state, lr 0), then everything trains."""
    from nnssl.checkpoint import DECODER_PREFIXES

    t = build("MixCLFinetuneTrainer_headsFirst", pool_env, tmp_path, monkeypatch,
              "epochs=10,iterations=5,val_iterations=1", prefixes=ENCODER_PREFIXES + DECODER_PREFIXES)
    g = groups(t)
    seg = list(t.network.decoder.seg_layers.parameters())
    assert {id(p) for p in g["fresh"]["params"]} == {id(p) for p in seg}
    transferred = g["transferred"]["params"]
    before = [p.detach().clone() for p in transferred]
    t.current_epoch = 0
    t._set_frozen(t.resolved_schedule.frozen("transferred", 0))
    t.lr_scheduler.set_step(2)
    assert g["transferred"]["lr"] == 0.0 and g["fresh"]["lr"] == pytest.approx(1e-2 * 3 / 5)
    step(t)
    assert all(p.grad is None and p not in t.optimizer.state for p in transferred)
    assert all(torch.equal(a, b) for a, b in zip(before, transferred, strict=True))
    assert all(p in t.optimizer.state for p in seg)
    t.current_epoch = 1
    t._set_frozen(t.resolved_schedule.frozen("transferred", 1))
    t.lr_scheduler.set_step(5)
    assert g["transferred"]["lr"] == pytest.approx(g["fresh"]["lr"]) == pytest.approx(1e-2 / 5)
    step(t)
    assert any(not torch.equal(a, b) for a, b in zip(before, transferred, strict=True))


def test_the_shim_folder_is_added_to_nnunet_ext_trainer_once(monkeypatch):
    """A child's nnUNet_extTrainer keeps the user's folders and names nnssl's shims exactly once."""
    import os

    from nnssl.trainer_location import ensure_ext_trainer_env, ext_trainer_path, trainer_dir

    monkeypatch.setenv("nnUNet_extTrainer", os.pathsep.join(["/mine", trainer_dir()]))
    assert ext_trainer_path() == os.pathsep.join(["/mine", trainer_dir()])
    monkeypatch.setenv("nnUNet_extTrainer", "/mine")
    assert ext_trainer_path().split(os.pathsep) == ["/mine", trainer_dir()]
    ensure_ext_trainer_env()
    ensure_ext_trainer_env()
    assert os.environ["nnUNet_extTrainer"].split(os.pathsep) == ["/mine", trainer_dir()]
