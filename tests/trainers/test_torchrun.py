"""nnssl_pretrain under torchrun with 2 CPU ranks (gloo): one checkpoint, and only rank 0 writes.

Every rank's file writes below nnUNet_results / nnUNet_preprocessed are recorded by a
sitecustomize on PYTHONPATH (tests/trainers/ddp_audit); rank 1 must record none.
"""

import os
import shutil
import subprocess
import sys

import pytest
import torch

AUDIT = os.path.join(os.path.dirname(__file__), "ddp_audit")


@pytest.mark.slow
@pytest.mark.ddp
def test_torchrun_two_cpu_ranks_pretrain_once_and_only_rank0_writes(pool_env, tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.isfile(torchrun):
        pytest.skip(f"torchrun not found next to {sys.executable}")
    env = {**os.environ, **pool_env["env"], "PYTHONPATH": os.pathsep.join([AUDIT, os.getcwd()]),
           "NNSSL_WRITE_AUDIT": str(tmp_path),
           "NNSSL_WRITE_AUDIT_ROOTS": os.pathsep.join([pool_env["env"]["nnUNet_results"],
                                                       pool_env["env"]["nnUNet_preprocessed"]]),
           "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "nnssl.cli.pretrain", "-d", "101", "102", "103",
         "-t", "200", "-m", "mixcl", "-c", "3d_fullres", "--epochs", "2", "--iterations", "2", "--val-iterations",
         "1", "--batch-size", "2", "--run-name", "ddp_test", "-device", "cpu"],
        env=env, capture_output=True, text=True, timeout=1200)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "The world size is 2" in out
    folder = os.path.join(pool_env["env"]["nnUNet_results"], pool_env["pool"].pool_name,
                          "MixCLPretrainer__nnsslPlans_ddp_test__3d_fullres", "fold_all")
    try:
        ckpt = torch.load(os.path.join(folder, "checkpoint_final.pth"), map_location="cpu", weights_only=False)
        assert ckpt["current_epoch"] == 2
        assert "worker 1 batch_size 1" in out  # --batch-size 2 is the global batch, split over the ranks
        rank0 = open(tmp_path / "rank0.txt").read().split()
        assert any(p.endswith("checkpoint_final.pth") for p in rank0) and any(p.endswith(".png") for p in rank0)
        assert any("training_log" in p for p in rank0)
        assert not (tmp_path / "rank1.txt").exists(), open(tmp_path / "rank1.txt").read()
    finally:
        shutil.rmtree(os.path.dirname(folder), ignore_errors=True)
