"""Methods as plugins: a package registers a method through the ``nnssl.methods`` entry point."""

import importlib
import os

import pytest

FIXTURE = os.path.join(os.path.dirname(__file__), "plugin_fixture")


def _install_fake_distribution(root, entry_points: str) -> None:
    """A minimal installed distribution (dist-info with entry_points.txt) on sys.path."""
    info = root / "tiny_nnssl_method-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-nnssl-method\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_a_plugin_method_gets_its_flag_config_and_trainers_like_a_built_in_one(tmp_path, monkeypatch):
    """A plugin reaches everything a built-in method does, through its Method alone: the -m choice, its own flag
    with its default in --help, its config from the flags, its pretraining trainer and the derived fine-tune
    trainers in nnssl's shim, and the refusal of its flag for another method."""
    import nnssl.cli.pretrain as pretrain
    import nnssl.methods.registry as registry
    import nnssl.pretrain_options as pretrain_options
    import nnssl.pretraining as pretraining

    _install_fake_distribution(tmp_path, "[nnssl.methods]\ntiny = tiny_nnssl_method:METHOD\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(FIXTURE)
    importlib.invalidate_caches()
    methods = registry.discover()
    assert set(registry.BUILTIN) < set(methods) and methods["tiny"].trainer_folder is None
    for module in (pretrain_options, pretraining):
        monkeypatch.setattr(module, "METHODS", methods)
    parser = pretrain.build_parser()
    text = " ".join(parser.format_help().split())
    assert "tiny: a test plugin" in text and "--tiny-scale TINY_SCALE a setting only this method has (default: 2.0)" \
        in text
    args = pretrain.parse_command(["-d", "1", "-m", "tiny", "--tiny-scale", "3"], parser)
    config = pretraining.make_config(args, None)
    assert type(config).__name__ == "TinyConfig" and config.tiny_scale == 3.0 and config.mask_layout == "stratified"
    assert methods["tiny"].stages_to_run(args.method_options()) == [("", "TinyPretrainer")]
    with pytest.raises(SystemExit):  # its flag is not silently ignored by another method
        pretrain.parse_command(["-d", "1", "-m", "mixcl", "--tiny-scale", "3"], parser)
    classes = registry.trainer_classes(methods)
    assert classes["TinyPretrainer"].method == "tiny"
    tuned = classes["TinyFinetuneTrainer_nnUNetSchedule"]
    assert tuned.ssl_run == "tiny" and tuned.schedule.name == "nnUNet"
    assert registry.method_of_finetune_trainer("TinyFinetuneTrainer_2ep5it", methods) is methods["tiny"]


def test_a_method_option_for_another_method_is_refused_naming_its_owner(capsys):
    from nnssl.cli import pretrain

    with pytest.raises(SystemExit):
        pretrain.parse_command(["-d", "1", "-m", "supervised", "--allow-unlabelled"])
    assert "--allow-unlabelled is an option of -m mixcl, not of -m supervised" in capsys.readouterr().err
    args = pretrain.parse_command(["-d", "1", "-m", "regression", "--transfer-decoder"])  # shared by two methods
    assert args.options["transfer_decoder"]


@pytest.mark.parametrize("entry", ["mixcl = tiny_nnssl_method:METHOD", "broken = no_such_module:X",
                                   "wrongname = tiny_nnssl_method:METHOD"])
def test_a_bad_plugin_warns_and_never_breaks_the_built_in_methods(tmp_path, monkeypatch, entry):
    import nnssl.methods.registry as registry

    _install_fake_distribution(tmp_path, f"[nnssl.methods]\n{entry}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(FIXTURE)
    importlib.invalidate_caches()
    with pytest.warns(UserWarning, match="nnssl: method plugin"):
        methods = registry.discover()
    assert methods == registry.BUILTIN


def test_a_plugin_that_exits_on_import_or_whose_trainers_fail_is_skipped_by_name(tmp_path, monkeypatch):
    """A plugin calling sys.exit() on import, and one whose trainer module raises: each is skipped with a warning
    naming it; the built-in trainers (what nnssl's shim exports to nnUNetv2_train) all still load."""
    import dataclasses

    import nnssl.methods.registry as registry

    (tmp_path / "exiting_plugin.py").write_text("import sys\nsys.exit('plugin says bye')\n")
    (tmp_path / "broken_trainers.py").write_text("raise ImportError('missing dependency xyz')\n")
    _install_fake_distribution(tmp_path, "[nnssl.methods]\nbye = exiting_plugin:METHOD\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(FIXTURE)
    importlib.invalidate_caches()
    with pytest.warns(UserWarning, match=r"plugin 'bye' \(exiting_plugin:METHOD\) failed to load and is skipped: "
                                         r"SystemExit: plugin says bye"):
        methods = registry.discover()
    assert methods == registry.BUILTIN
    tiny = importlib.import_module("tiny_nnssl_method").METHOD
    broken = dataclasses.replace(tiny, trainer_module="broken_trainers")
    with pytest.warns(UserWarning, match=r"trainers of method plugin 'tiny' \(broken_trainers\) failed to import and "
                                         r"are skipped: ImportError: missing dependency xyz"):
        classes = registry.trainer_classes({**registry.BUILTIN, "tiny": broken})
    assert {"MixCLPretrainer", "SupervisedFinetuneTrainer", "nnsslScratchTrainer"} <= set(classes)
