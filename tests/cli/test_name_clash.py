"""MIC-DKFZ/nnssl installed beside this project is detected and explained by every command."""

import sys


def _fake_dkfz_install(root):
    info = root / "nnssl-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nnssl\nVersion: 0.1.0\n")
    (info / "top_level.txt").write_text("nnssl\n")
    (info / "RECORD").write_text("nnssl/__init__.py,,\n")


def test_the_other_nnssl_is_named_with_the_fix(tmp_path, monkeypatch, capsys):
    from nnssl import arguments as _common
    from nnssl.cli import pretrain
    from nnssl.name_clash import name_clash_warning, other_nnssl_distributions

    assert other_nnssl_distributions() == []  # this environment holds only this project
    assert name_clash_warning() is None
    _fake_dkfz_install(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert other_nnssl_distributions() == ["nnssl"]
    text = name_clash_warning()
    assert "nnssl is installed in this environment as well" in text and "pip uninstall nnssl" in text
    assert "one virtual environment per project" in text

    monkeypatch.setattr(_common.SuggestingArgumentParser, "_clash_checked", False)
    pretrain.build_parser().parse_args(["-d", "1"])
    err = capsys.readouterr().err
    assert err.startswith("nnssl_pretrain: warning: nnssl is installed in this environment as well")
    pretrain.build_parser().parse_args(["-d", "1"])  # once per process
    assert capsys.readouterr().err == ""
