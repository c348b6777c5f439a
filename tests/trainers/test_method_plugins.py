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


def test_a_plugin_method_appears_in_the_cli(tmp_path, monkeypatch):
    import nnssl.cli.pretrain as pretrain
    import nnssl.trainers.registry as registry

    _install_fake_distribution(tmp_path, "[nnssl.methods]\ntiny = tiny_nnssl_method:METHOD\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(FIXTURE)
    importlib.invalidate_caches()
    methods = registry.discover()
    assert methods["tiny"].trainer_folder == FIXTURE and set(registry.BUILTIN) < set(methods)
    monkeypatch.setattr(pretrain, "METHODS", methods)
    parser = pretrain.build_parser()
    assert "tiny: a test plugin" in parser.format_help()
    assert parser.parse_args(["-d", "1", "-m", "tiny"]).method == "tiny"
    assert pretrain.selected_stages(parser.parse_args(["-d", "1", "-m", "tiny"])) == [("", "RegressionPretrainer")]


@pytest.mark.parametrize("entry", ["mixcl = tiny_nnssl_method:METHOD", "broken = no_such_module:X",
                                   "wrongname = tiny_nnssl_method:METHOD"])
def test_a_bad_plugin_warns_and_never_breaks_the_built_in_methods(tmp_path, monkeypatch, entry):
    import nnssl.trainers.registry as registry

    _install_fake_distribution(tmp_path, f"[nnssl.methods]\n{entry}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(FIXTURE)
    importlib.invalidate_caches()
    with pytest.warns(UserWarning, match="nnssl: method plugin"):
        methods = registry.discover()
    assert methods == registry.BUILTIN
