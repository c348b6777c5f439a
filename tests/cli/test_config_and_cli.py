"""Config validation and CLI error paths (before any work is done)."""

import dataclasses
import inspect
import json
import os
import re

import pytest
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from nnssl import pretraining
from nnssl.cli import pretrain
from nnssl.methods.mixcl.config import MixCLConfig
from nnssl.methods.mixcl.trainer import MixCLPretrainer
from nnssl.methods.registry import finetune_trainer_class
from nnssl.pretrain_options import parse_request
from nnssl.run_config import load_run_config
from nnssl.trainers.finetune import nnsslScratchTrainer


@pytest.mark.parametrize(("field", "value", "match"), [
    ("label_weight", -1.0, "label_weight"), ("temperature", 0.0, "temperature"), ("epochs", 0, "epochs"),
    ("label_loss", "x", "label_loss"), ("sample_cap", 20000, "hard cap"), ("same_image_prob", 2.0, r"same_image"),
])
def test_mixcl_config_rejects_bad_values(field, value, match):
    with pytest.raises(ValueError, match=match):
        MixCLConfig(**{field: value})


def test_decoder_barlow_twins_needs_the_identity_term():
    with pytest.raises(ValueError, match=r"bt_decoder_stages \(0,\).*--identity-weight 0"):
        MixCLConfig(identity_weight=0, bt_decoder_stages=(0,))
    args = parse_request(["-d", "1", "--bt-decoder-stages", "0", "2"])
    assert pretraining.make_config(args, None).bt_decoder_stages == (0, 2)


def test_label_decoder_stage_flag_reaches_the_config():
    args = parse_request(["-d", "1", "--label-decoder-stage", "2", "--transfer-decoder"])
    cfg = pretraining.make_config(args, None)
    assert (cfg.label_decoder_stage, cfg.label_stage, cfg.transfer_decoder) == (2, None, True)
    with pytest.raises(ValueError, match=r"label_decoder_stage 1.*--no-label"):
        pretraining.make_config(parse_request(["-d", "1", "--label-decoder-stage", "1",
                                                                 "--no-label"]), None)


def test_all_terms_off_is_rejected():
    with pytest.raises(ValueError, match="at least one"):
        MixCLConfig(identity_weight=0, label_weight=0, recon_weight=0)


def test_run_config_comes_from_the_plans_record_only(monkeypatch):
    """The one channel: the pool's plans record; unknown fields are refused; the old variable is ignored, warned."""
    recorded = {"nnssl": {"runs": {"mixcl": MixCLConfig(epochs=7, seed=3).to_json()}}}
    assert load_run_config(MixCLConfig, recorded, "mixcl") == (MixCLConfig(epochs=7, seed=3),
                                                               "the pool's plans (run 'mixcl')")
    assert load_run_config(MixCLConfig, recorded, "other") == (MixCLConfig(), "defaults")
    monkeypatch.setenv("nnSSL_RUN_CONFIG", "/somewhere/run.json")
    with pytest.warns(UserWarning, match="nnSSL_RUN_CONFIG is no longer read"):
        assert load_run_config(MixCLConfig, recorded, "mixcl")[0] == MixCLConfig(epochs=7, seed=3)
    monkeypatch.delenv("nnSSL_RUN_CONFIG")
    bad = {"nnssl": {"runs": {"mixcl": {**MixCLConfig().to_json(), "lamda": 1}}}}
    with pytest.raises(ValueError, match="lamda"):
        load_run_config(MixCLConfig, bad, "mixcl")


@pytest.mark.parametrize("cls", [MixCLPretrainer, finetune_trainer_class("MixCLFinetuneTrainer"), nnsslScratchTrainer])
def test_trainer_init_signature_is_nnunets(cls):
    assert inspect.signature(cls.__init__) == inspect.signature(nnUNetTrainer.__init__)
    assert inspect.signature(cls.build_network_architecture) == \
        inspect.signature(nnUNetTrainer.build_network_architecture)


def test_help_lists_methods_and_defaults(capsys):
    with pytest.raises(SystemExit):
        pretrain.main(["--help"])
    out = capsys.readouterr().out
    assert "mixcl" in out and "Barlow Twins" in out and "default: 0.01" in out


def test_typo_flags_are_rejected(capsys):
    with pytest.raises(SystemExit):
        pretrain.main(["-d", "1", "--epoch", "3"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_missing_env_vars_fail_clearly(monkeypatch, capsys):
    for v in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.delenv(v, raising=False)
    assert pretrain.main(["-d", "101", "--device", "cpu"]) == 2
    assert "nnUNet_raw" in capsys.readouterr().err


def test_config_from_flags_maps_ablations():
    args = parse_request(["-d", "1", "--no-label", "--device", "cpu", "--run-name", "ab"])
    cfg = pretraining.make_config(args, None)
    assert cfg.label_weight == 0 and cfg.recon_weight == 0.01 and cfg.run_name == "ab"
    assert dataclasses.asdict(cfg)["method"] == "mixcl"


@pytest.mark.parametrize(("flags", "warned"), [
    (["--no-recon", "--transfer-decoder"], "random init"),
    (["--recon-weight", "0", "--transfer-decoder"], "random init"),
    (["--identity-weight", "0"], "alpha stays fixed"),
    (["--no-recon", "--transfer-decoder", "--bt-decoder-stages", "0"], None),
    (["--label-decoder-stage", "2"], "not transferred"),
    (["--no-recon", "--transfer-decoder", "--label-decoder-stage", "0"], None),
    (["--no-recon"], None), (["--transfer-decoder"], None), (["--identity-weight", "0", "--no-label"], None),
    (["--identity-weight", "0", "--label-grad-ratio", "0"], None),
])
def test_unintended_flag_combinations_warn_but_run(flags, warned, capsys):
    """A decoder that gets no gradient but is transferred, or a gradient-ratio rule without its reference term,
    is valid (ablations use it) but is named on stderr; sensible combinations say nothing."""
    cfg = pretraining.make_config(parse_request(["-d", "1", *flags]), None)
    err = capsys.readouterr().err
    assert (warned in err and "nnssl: warning:" in err) if warned else err == ""
    assert len(cfg.caveats()) == (1 if warned else 0)


@pytest.mark.parametrize("rank0", [True, False])
def test_caveats_print_once_per_run_and_on_rank0_only(rank0, monkeypatch, capsys, tmp_path):
    """The flags are checked once before any work and once per stage: the caveats print at the first check
    only, and under torchrun only rank 0 prints them. Planning and training are stubbed (every stage counts
    as finished), so this runs pretrain()'s real control flow without data."""
    from types import SimpleNamespace

    from nnssl import launch
    from nnssl.planning import datasets, pooled

    monkeypatch.setenv("nnUNet_results", str(tmp_path / "results"))
    monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path / "preprocessed"))
    pool = "Dataset999_nnsslPool_101"
    monkeypatch.setattr(datasets, "validate_pool", lambda *a: (None, (200, "Dataset200_Target")))
    monkeypatch.setattr(pooled, "plan_and_preprocess_pool", lambda *a, **k: SimpleNamespace(pool_name=pool))
    monkeypatch.setattr(launch, "is_rank0", lambda: rank0)
    monkeypatch.setattr(launch, "broadcast", lambda value: pool)
    monkeypatch.setattr(pretraining, "already_finished", lambda *a: True)
    monkeypatch.setattr(pretraining, "check_written", lambda path: None)
    monkeypatch.setattr(pretraining, "record_checkpoint", lambda *a: "nnsslPlans")
    args = parse_request(["-d", "101", "-t", "200", "-m", "mixcl", "--identity-weight", "0",
                                               "--schedule", "cpu", "--continue", "-device", "cpu"])
    pretraining.pretrain(args)
    err = capsys.readouterr().err
    assert err.count("nnssl: warning:") == (1 if rank0 else 0), err
    assert "alpha stays fixed" in err or not rank0


def test_a_target_with_fewer_cases_than_folds_is_warned_and_gets_fold_all(monkeypatch, capsys, tmp_path):
    """nnU-Net's 5-fold split fails below 5 cases: the warning names fold 'all', and the printed commands use it."""
    import json
    from types import SimpleNamespace

    from nnssl import launch
    from nnssl.planning import datasets, pooled

    for var in ("results", "preprocessed", "raw"):
        monkeypatch.setenv(f"nnUNet_{var}", str(tmp_path / var))
    (tmp_path / "raw" / "Dataset200_Target").mkdir(parents=True)
    (tmp_path / "raw" / "Dataset200_Target" / "dataset.json").write_text(json.dumps({"numTraining": 3}))
    pool = "Dataset999_nnsslPool_101"
    monkeypatch.setattr(datasets, "validate_pool", lambda *a: (None, (200, "Dataset200_Target")))
    monkeypatch.setattr(pooled, "plan_and_preprocess_pool", lambda *a, **k: SimpleNamespace(pool_name=pool))
    monkeypatch.setattr(launch, "broadcast", lambda value: pool)
    monkeypatch.setattr(pretraining, "already_finished", lambda *a: True)
    monkeypatch.setattr(pretraining, "check_written", lambda path: None)
    monkeypatch.setattr(pretraining, "record_checkpoint", lambda *a: None)
    args = parse_request(["-d", "101", "-t", "200", "--continue", "-device", "cpu"])
    pretraining.pretrain(args)
    captured = capsys.readouterr()
    assert "has 3 training case(s)" in captured.err and "fold 'all'" in captured.err
    assert "nnUNetv2_train 200 3d_fullres all -tr MixCLFinetuneTrainer -device cpu" in captured.out
    assert " -f all " in captured.out and "3d_fullres 0 " not in captured.out


def test_a_named_run_whose_plans_name_is_taken_by_the_user_is_refused_before_any_work(monkeypatch, tmp_path):
    """nnssl never replaces plans it did not write: a user's nnsslPlans_dec.json in the target stops a --run-name dec
    pretraining before planning, naming the file and the fix."""
    import json

    from nnssl.planning import datasets, pooled

    for var in ("results", "preprocessed", "raw"):
        monkeypatch.setenv(f"nnUNet_{var}", str(tmp_path / var))
    (tmp_path / "preprocessed" / "Dataset200_Target").mkdir(parents=True)
    mine = tmp_path / "preprocessed" / "Dataset200_Target" / "nnsslPlans_dec.json"
    mine.write_text(json.dumps({"plans_name": "nnsslPlans_dec"}))
    monkeypatch.setattr(datasets, "validate_pool", lambda *a: (None, (200, "Dataset200_Target")))
    monkeypatch.setattr(pooled, "plan_and_preprocess_pool", lambda *a, **k: pytest.fail("planned anyway"))
    args = parse_request(["-d", "101", "-t", "200", "--run-name", "dec", "-device", "cpu"])
    with pytest.raises(ValueError, match=r"nnsslPlans_dec.json exists and is not nnssl's plans for run 'dec'"):
        pretraining.pretrain(args)
    assert json.loads(mine.read_text()) == {"plans_name": "nnsslPlans_dec"}


def test_continue_of_a_named_run_that_only_the_old_layout_holds_is_refused_not_restarted(monkeypatch, tmp_path):
    """nnssl < 0.3 wrote a named run to <Trainer>__<plans>__<cfg>__<run>; 0.3 trains it under plans <plans>_<run>.
    --continue must not silently pretrain that run again from scratch: it names the old folder and stops before
    training, leaving the folder as it is. Without --continue (or once the new folder exists) nothing is refused."""
    from types import SimpleNamespace

    from nnssl import launch
    from nnssl.planning import datasets, pooled

    for var in ("results", "preprocessed", "raw"):
        monkeypatch.setenv(f"nnUNet_{var}", str(tmp_path / var))
    pool = "Dataset999_nnsslPool_101"
    old = tmp_path / "results" / pool / "MixCLPretrainer__nnsslPlans__3d_fullres__dec" / "fold_all"
    old.mkdir(parents=True)
    (old / "checkpoint_final.pth").write_bytes(b"old run")
    monkeypatch.setattr(datasets, "validate_pool", lambda *a: (None, None))
    monkeypatch.setattr(pooled, "plan_and_preprocess_pool", lambda *a, **k: SimpleNamespace(pool_name=pool))
    monkeypatch.setattr(launch, "broadcast", lambda value: pool)
    trained = []
    monkeypatch.setattr(pretraining, "_train_stage", lambda run, stage, trainer, config: trained.append(trainer))
    monkeypatch.setattr(pretraining, "check_written", lambda path: None)
    argv = ["-d", "101", "--run-name", "dec", "-device", "cpu"]
    with pytest.raises(ValueError, match=r"run 'dec' exists only as nnssl < 0.3 wrote it .*__3d_fullres__dec"):
        pretraining.pretrain(parse_request([*argv, "--continue"]))
    assert trained == [] and (old / "checkpoint_final.pth").read_bytes() == b"old run"
    pretraining.pretrain(parse_request(argv))  # a fresh run of that name is the user's choice
    assert trained == ["MixCLPretrainer"]
    new = tmp_path / "results" / pool / "MixCLPretrainer__nnsslPlans_dec__3d_fullres" / "fold_all"
    new.mkdir(parents=True)
    (new / "checkpoint_final.pth").write_bytes(b"new run")
    monkeypatch.setattr(pretraining, "already_finished", lambda *a: False)
    pretraining.pretrain(parse_request([*argv, "--continue"]))  # resumes the new folder
    assert trained == ["MixCLPretrainer", "MixCLPretrainer"]


@pytest.mark.parametrize("option", ["--lr", "--label-weight", "--recon-weight", "--mask-ratio"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_numeric_options_refuse_nan_and_inf_naming_the_option(option, value, capsys):
    with pytest.raises(SystemExit):
        pretrain.build_parser().parse_args(["-d", "1", f"{option}={value}"])
    err = capsys.readouterr().err
    assert option in err and "not a finite number" in err


REC = {"nnssl_adaptation_record": {"method": "mixcl", "transfer_prefixes": ["encoder."]}}


def test_continue_skips_only_a_run_finished_with_the_same_config(tmp_path):
    """--continue trains nothing when the checkpoint finished these epochs with exactly this config; more epochs
    or any other flag means there is work (nnU-Net then resumes or extends the run)."""
    args = parse_request(["-d", "1", "--schedule", "cpu"])
    cfg = pretraining.make_config(args, None)
    path = str(tmp_path / "checkpoint_final.pth")
    assert not pretraining.already_finished(path, cfg)  # no checkpoint yet
    torch.save({"current_epoch": cfg.epochs, "nnssl_config": cfg.to_json(), "network_weights": {}, **REC}, path)
    assert pretraining.already_finished(path, cfg)
    assert not pretraining.already_finished(path, dataclasses.replace(cfg, epochs=cfg.epochs + 1))
    assert not pretraining.already_finished(path, dataclasses.replace(cfg, recon_weight=0.0))
    torch.save({"current_epoch": cfg.epochs - 1, "nnssl_config": cfg.to_json(), "network_weights": {}, **REC}, path)
    assert not pretraining.already_finished(path, cfg)  # interrupted: resume
    older = {k: v for k, v in cfg.to_json().items() if k != "dataset_sampling"}  # before the field existed
    torch.save({"current_epoch": cfg.epochs, "nnssl_config": older, "network_weights": {}, **REC}, path)
    assert pretraining.already_finished(path, cfg)  # it ran with the default, which this config asks for
    balanced = pretraining.make_config(parse_request(
        ["-d", "1", "--schedule", "cpu", "--dataset-sampling", "datasets"]), None)
    assert balanced.dataset_sampling == "datasets" and not pretraining.already_finished(path, balanced)


def _option_helps(parser):
    """(option strings, rendered help) of every option except --help."""
    formatter = parser._get_formatter()
    return [(a.option_strings, formatter._expand_help(a)) for a in parser._actions
            if a.option_strings and a.option_strings[0] not in ("-h", "--help")]


@pytest.mark.parametrize("module", ["pretrain", "benchmark", "demo", "synthetic"])
def test_every_option_shows_its_default_exactly_once(module):
    import importlib

    parser = importlib.import_module(f"nnssl.cli.{module}").build_parser()
    for options, text in _option_helps(parser):
        low = text.lower()
        assert low.count("default") + low.count("(required)") == 1, (options, text)
        assert "``" not in text and ":class:" not in text  # no reST markup


def test_device_defaults_to_cpu_without_cuda_and_accepts_nnunet_spelling(monkeypatch, capsys):
    from nnssl import arguments as _common

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _common.resolve_device(None) == "cpu"
    assert "no CUDA device found" in capsys.readouterr().out
    with pytest.raises(ValueError, match="pass -device cpu"):
        _common.resolve_device("cuda")
    args = parse_request(["-d", "1", "-device", "cpu"])
    assert args.device == "cpu"
    assert pretrain.build_parser().parse_args(["-d", "1"]).device is None


def test_cuda_request_without_cuda_fails_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pretrain.main(["-d", "101", "-device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "-device cpu" in err and "usage" not in err


@pytest.mark.parametrize(("argv", "expected"), [
    ([], (100, 250, 10)), (["--schedule", "smoke"], (2, 5, 1)), (["--schedule", "cpu"], (12, 50, 2)),
    (["--schedule", "cpu", "--epochs", "3"], (3, 50, 2)),
])
def test_schedule_presets(argv, expected):
    args = parse_request(["-d", "1", *argv])
    cfg = pretraining.make_config(args, None)
    assert (cfg.epochs, cfg.iterations_per_epoch, cfg.val_iterations) == expected


def test_cpu_preset_raises_mixcl_lr_unless_given():
    cfg = pretraining.make_config(parse_request(["-d", "1", "--schedule", "cpu"]), None)
    assert cfg.learning_rate == 5e-4
    cfg = pretraining.make_config(parse_request(["-d", "1", "--schedule", "cpu", "--lr", "2e-4"]),
                               None)
    assert cfg.learning_rate == 2e-4
    assert pretraining.make_config(parse_request(["-d", "1"]), None).learning_rate == 1e-4


def test_next_commands_carry_device_and_plans():
    from nnssl.next_steps import next_commands

    args = parse_request(["-d", "1", "-t", "2", "-c", "2d", "-device", "cpu"])
    text = next_commands(2, args, "MixCLFinetuneTrainer", "nnsslPlans")
    assert "nnUNetv2_train 2 2d 0 -tr MixCLFinetuneTrainer -p nnsslPlans -device cpu" in text
    assert "nnUNetv2_predict" in text and text.count("-device cpu") == 4 and "keep -p nnsslPlans" in text
    # the fair pair: the pretrained init and scratch with the same recipe (nnU-Net's), only the init differs
    assert "nnUNetv2_train 2 2d 0 -tr MixCLFinetuneTrainer_nnUNetSchedule -p nnsslPlans -device cpu" in text
    assert "nnUNetv2_train 2 2d 0 -tr nnsslScratchTrainer -p nnsslPlans -device cpu" in text
    args = parse_request(["-d", "1", "-t", "200", "-device", "cuda"])
    text = next_commands(200, args, "MixCLFinetuneTrainer", None)  # the card's command, verbatim
    assert "  nnUNetv2_train 200 3d_fullres 0 -tr MixCLFinetuneTrainer\n" in text and "-p " not in text


def test_next_commands_of_a_named_run_use_its_plans_identifier():
    """A --run-name run is fine-tuned under its own plans identifier, so its results get their own folders."""
    from nnssl.next_steps import next_commands

    args = parse_request(["-d", "1", "-t", "2", "-c", "2d", "--run-name", "dec",
                                              "-device", "cuda"])
    text = next_commands(2, args, "MixCLFinetuneTrainer", "nnsslPlans_dec")
    assert "  nnUNetv2_train 2 2d 0 -tr MixCLFinetuneTrainer -p nnsslPlans_dec\n" in text
    assert "  nnUNetv2_train 2 2d 0 -tr MixCLFinetuneTrainer_nnUNetSchedule -p nnsslPlans_dec\n" in text
    assert "-tr MixCLFinetuneTrainer -p nnsslPlans_dec" in text.split("nnUNetv2_predict")[1]
    assert "nnSSL_PRETRAINED" not in text and "plans of run 'dec'" in text


def test_demo_low_label_split_and_final_report(nnunet_env, tmp_path):
    """The demo fine-tunes on 2 labelled cases (validates on the rest) and ends with a table and every path."""
    from nnssl.cli.demo import LABELLED, PRETRAINED, SCRATCH, format_report, write_low_label_split
    from nnssl.io import load_json

    name = "Dataset200_T"
    os.makedirs(os.path.join(nnunet_env["nnUNet_raw"], name, "labelsTr"))
    os.makedirs(os.path.join(nnunet_env["nnUNet_preprocessed"], name))
    with open(os.path.join(nnunet_env["nnUNet_preprocessed"], name, "dataset.json"), "w") as f:
        json.dump({"file_ending": ".nii.gz"}, f)
    for i in range(5):
        open(os.path.join(nnunet_env["nnUNet_raw"], name, "labelsTr", f"c{i}.nii.gz"), "w").close()
    split = write_low_label_split(name)
    assert len(split["train"]) == LABELLED == 2 and sorted(split["train"] + split["val"]) == [f"c{i}" for i in range(5)]
    assert load_json(os.path.join(nnunet_env["nnUNet_preprocessed"], name, "splits_final.json")) == [split]

    report = {"results": {"scratch": {"test": {"1": 0.5, "2": 0.25, "mean": 0.375}},
                          "mixcl": {"test": {"1": 0.6, "2": 0.3, "mean": 0.45}}},
              "timings": {"pool_and_pretrain_s": 1, "scratch_s": 2, "mixcl_s": 3}, "budget": "tiny"}
    text = format_report(report, str(tmp_path), {"scratch": "/r/s/fold_0", "mixcl": "/r/m/fold_0"},
                         {"scratch": SCRATCH, "mixcl": PRETRAINED}, "/r/pool/fold_all")
    assert "scratch   test           0.500   0.250   0.375" in text
    for path in ("/r/s/fold_0/progress.png", "/r/m/fold_0/progress.png", str(tmp_path / "demo_results.json"),
                 str(tmp_path / "predictions" / PRETRAINED), "/r/pool/fold_all/checkpoint_final.pth"):
        assert path in text


def _parsers():
    from nnssl.cli import benchmark, benchmark_run, demo, speed

    return {"nnssl_pretrain": pretrain.build_parser(), "nnssl_benchmark": benchmark.build_parser(),
            "nnssl_benchmark run": benchmark_run.build_parser(), "nnssl_benchmark speed": speed.build_parser(),
            "nnssl_demo": demo.build_parser()}


@pytest.mark.parametrize("name", ["nnssl_pretrain", "nnssl_benchmark", "nnssl_benchmark run",
                                  "nnssl_benchmark speed", "nnssl_demo"])
def test_every_option_in_help_has_a_text_and_states_its_default(name):
    import argparse

    parser = _parsers()[name]
    formatter = parser._get_formatter()
    bare = []
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        text = formatter._get_help_string(action) if action.help else ""
        if not text or ("default" not in text.lower() and "required" not in text.lower()):
            bare.append(action.option_strings[0])
    assert not bare, f"{name}: options without a stated default in --help: {bare}"


def test_no_arguments_prints_the_useful_line_first(capsys):
    assert pretrain.main([]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("nnssl_pretrain: give the source datasets, e.g. nnssl_pretrain -d 101 102 103")
    assert len(lines) <= 4 and "-h lists every option" in lines[-1]


def test_demo_steps_show_live_epochs_and_send_dependency_output_to_the_log(tmp_path, capsys):
    """The terminal gets one line per step plus an epoch line; nnU-Net's prints, progress bars and
    warnings go to the step's log."""
    import sys
    import warnings

    from nnssl.cli import demo

    log = tmp_path / "logs" / "step.log"
    with demo._step("fine-tune", str(log), total_epochs=5):
        print("2026-12-03 10:00:00.000000: Epoch 0")
        print("2026-12-03 10:00:01.000000: train_loss 0.5")
        print("2026-12-03 10:00:02.000000: Epoch 1")
        print("Extracting dataset fingerprint: 100%", file=sys.stderr)
        warnings.warn("torch.jit.interface is deprecated", FutureWarning, stacklevel=1)
    out = capsys.readouterr()
    assert "nnssl_demo: fine-tune ..." in out.out and "done in" in out.out
    assert "epoch 1/5" in out.out and "epoch 2/5" in out.out and "min left" in out.out
    assert "train_loss" not in out.out + out.err and "fingerprint" not in out.out + out.err
    assert "deprecated" not in out.out + out.err
    text = log.read_text()
    assert "train_loss 0.5" in text and "fingerprint" in text and "deprecated" in text


@pytest.mark.parametrize(("argv", "match"), [
    (["-d", "101", "--label-map", "200:1=101:3"], "give the target with -t"),
    (["-d", "101", "-t", "200", "--label-map", "200:1=102:3"], r"dataset\(s\) \[102\], which are not pool sources"),
    (["-d", "101", "-t", "200", "--label-map", "200:1=101"], "not TARGET:LABEL=SOURCE:LABEL"),
])
def test_label_map_is_checked_at_parse_time(argv, match, capsys):
    from nnssl.cli.pretrain import parse_command

    with pytest.raises(SystemExit):
        parse_command(argv)
    assert re.search(match, capsys.readouterr().err)


def test_label_map_is_parsed_into_pairs():
    from nnssl.cli.pretrain import parse_command

    args = parse_command(["-d", "101", "102", "-t", "200", "--label-map", "200:2=102:1, 200:1=101:3"])
    assert args.label_map == {2: (102, 1), 1: (101, 3)}
