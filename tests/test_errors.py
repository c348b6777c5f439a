"""One clear line for errors nnssl raises inside stock nnU-Net commands; tracebacks kept for everything else."""

import errno
import os

import pytest
import torch

from nnssl.errors import exit_with_one_line, one_line
from nnssl.io import load_json


def _nnssl_error():
    from nnssl.names import check_name

    check_name("../x", "--run-name")


def test_an_nnssl_error_gets_its_line_and_others_keep_their_traceback():
    with pytest.raises(ValueError, match="not a safe name") as ours:
        _nnssl_error()
    assert one_line(ours.value) == "--run-name '../x' is not a safe name (letters, digits, '_', '-' and '.', " \
                                   "starting with a letter or digit, at most 100 characters, no '..'); it becomes " \
                                   "a file or folder name"
    with pytest.raises(ValueError, match="invalid literal") as theirs:
        int("x")
    assert one_line(theirs.value) is None
    with pytest.raises(ValueError, match="invalid literal"):
        exit_with_one_line(theirs.value)  # re-raised as it was


def test_a_full_disk_is_found_anywhere_in_the_chain(capsys):
    try:
        try:
            raise OSError(errno.ENOSPC, "write failed")
        except OSError as inner:
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 123 vs 456") from inner
    except RuntimeError as e:
        with pytest.raises(SystemExit) as code:
            exit_with_one_line(e, "nnssl")
    assert code.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("nnssl: error: the disk is full") and err.count("\n") == 1


def test_a_bad_checkpoint_in_nnunetv2_train_is_one_line_and_exit_2(pool_env, tmp_path, monkeypatch, capsys):
    """What ``nnUNetv2_train ... -tr MixCLFinetuneTrainer_2ep5it`` shows for an empty checkpoint: one line."""
    from nnssl.methods.registry import finetune_trainer_class

    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    monkeypatch.setenv("nnSSL_PRETRAINED", str(empty))
    monkeypatch.setenv("nnUNet_results", str(tmp_path / "results"))
    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].target[1])
    plans = {**load_json(os.path.join(pre, "nnsslPlans.json")), "continue_training": False}
    trainer = finetune_trainer_class("MixCLFinetuneTrainer_2ep5it")(
        plans, "3d_fullres", 0, load_json(os.path.join(pre, "dataset.json")), device=torch.device("cpu"))
    with pytest.raises(SystemExit) as code:
        trainer.run_training()
    assert code.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nnssl: error: checkpoint ") and "is empty (0 bytes)" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_resume_reads_checkpoints_without_running_code(pool_env, tmp_path, monkeypatch):
    """A tampered checkpoint_latest.pth (a pickle that would call a function) is refused by the fine-tune
    trainer's resume; nothing runs."""
    from nnssl.methods.registry import finetune_trainer_class

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    bad = tmp_path / "checkpoint_latest.pth"
    torch.save({"network_weights": {}, "payload": Payload()}, bad)
    pre = os.path.join(pool_env["env"]["nnUNet_preprocessed"], pool_env["pool"].target[1])
    plans = {**load_json(os.path.join(pre, "nnsslPlans.json")), "continue_training": False}
    monkeypatch.setenv("nnUNet_results", str(tmp_path / "results"))
    trainer = finetune_trainer_class("nnsslScratchTrainer_2ep5it")(
        plans, "3d_fullres", 0, load_json(os.path.join(pre, "dataset.json")), device=torch.device("cpu"))
    with pytest.raises(ValueError, match="holds objects other than tensors and plain data"):
        trainer.load_checkpoint(str(bad))
    assert not marker.exists()
    # a genuine checkpoint still resumes: the weights come back (nnU-Net 2.8.1 reads only a path, not a dict)
    trainer.initialize()
    good = str(tmp_path / "good.pth")
    trainer.save_checkpoint(good)
    saved = {k: v.clone() for k, v in trainer.network.state_dict().items()}
    with torch.no_grad():
        for p in trainer.network.parameters():
            p.add_(1.0)
    trainer.load_checkpoint(good)
    assert all(torch.equal(saved[k], v) for k, v in trainer.network.state_dict().items())
    assert trainer._resumed


def test_a_bad_seed_variable_is_named(monkeypatch):
    from nnssl.seeding import seed_from_environment

    monkeypatch.setenv("nnSSL_SEED", "abc")
    with pytest.raises(ValueError, match=r"nnSSL_SEED='abc': give an integer in 0\.\.4294967295"):
        seed_from_environment()
    monkeypatch.setenv("nnSSL_SEED", "7")
    assert seed_from_environment() == 7
    a = torch.rand(3)
    seed_from_environment()
    assert torch.equal(torch.rand(3), a)


def test_planner_and_a_brought_plan_are_refused_together(capsys):
    from nnssl.cli import pretrain

    with pytest.raises(SystemExit):
        pretrain.parse_command(["-d", "1", "-pl", "nnUNetPlannerResEncM", "--plan-from-target", "-t", "2"])
    assert "--plans-from / --plan-from-target bring a plan" in capsys.readouterr().err
    args = pretrain.parse_command(["-d", "1", "-pl", "nnUNetPlannerResEncL"])
    assert args.planning.plans_name == "nnsslResEncUNetLPlans"
    assert pretrain.parse_command(["-d", "1", "-pl", "nnUNetPlannerResEncL", "-p", "mine"]).planning.plans_name == \
        "mine"
