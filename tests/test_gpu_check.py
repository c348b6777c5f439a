"""scripts/gpu_check.sh: the one-script GPU check, run here at toy size on the CPU (--smoke)."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "gpu_check.sh")


def _run(args, tmp_path, timeout=1800, **env):
    environ = {**os.environ, "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, timeout=timeout, env=environ,
                          cwd=tmp_path)


def test_refuses_without_cuda_or_with_bad_arguments(tmp_path):
    import torch

    bad = _run([str(tmp_path / "o"), "--nope"], tmp_path)
    assert bad.returncode == 2 and "unknown argument --nope" in bad.stderr
    assert _run([], tmp_path).returncode == 2
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: the no-GPU refusal cannot be checked here")
    no_gpu = _run([str(tmp_path / "o"), "--work", str(tmp_path / "w")], tmp_path)
    assert no_gpu.returncode == 2 and "no CUDA device" in no_gpu.stderr and "--smoke" in no_gpu.stderr
    assert not (tmp_path / "w").exists() and not (tmp_path / "o").exists()  # refused before any work


@pytest.mark.slow
def test_smoke_runs_every_step_and_writes_the_files_the_device_tool_brings_back(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    r = _run([str(out), "--smoke", "--work", str(work)], tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    summary = (out / "summary.md").read_text()
    steps = ["data", "plan 3d_fullres", "speed 3d_fullres", "pretrain mixcl 3d_fullres", "fine-tune fold 0 + predict",
             "plan 2d", "speed 2d"]
    for s in steps:
        assert f"| {s}" in summary and "**failed**" not in summary
    # stock prediction scored by nnU-Net's evaluation: a Dice per label of the synthetic target
    dice_line = next(line for line in summary.splitlines() if line.startswith("fine-tune (fold 0"))
    assert "'1':" in dice_line and "'2':" in dice_line
    for c in ("3d_fullres", "2d"):
        rows = {x["name"] for x in json.loads((out / f"speed_{c}" / "speed.json").read_text())["results"]}
        assert {"supervised@base", "mixcl@base", "mixcl:dense-label@base"} <= rows
        assert "grouped label term faster than the dense masks" in (out / f"speed_{c}" / "speed.md").read_text()
    # what comes back from a device: few files, at most 2 folders down, plain names
    files = [os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs]
    assert len(files) <= 8 and all(f.count(os.sep) <= 1 for f in files), files
    assert (out / "gpu_check.log").stat().st_size > 0 and (out / "finetune_progress.png").exists()
