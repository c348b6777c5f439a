"""The README's own-datasets recipe runs as written, with only the run lengths shrunk.

The test cuts the bash block between ``<!-- recipe:begin -->`` and ``<!-- recipe:end -->`` out of
README.md, replaces the schedules by the smallest ones (each replacement must match, so README and
test cannot drift apart), and runs it with bash in an empty folder whose ``.venv`` is this Python's
environment. Everything else (device choice, paths, nnU-Net's commands) runs verbatim.
"""

import json
import os
import re
import subprocess
import sys

import pytest

README = os.path.join(os.path.dirname(__file__), "..", "README.md")
#: README text -> smoke-sized text; each must occur in the recipe
SMOKE = {
    "nnssl_make_synthetic $nnUNet_raw": "nnssl_make_synthetic $nnUNet_raw --cases 2 --target-cases 5",
    "--schedule cpu": "--schedule smoke --plan-batch-size 2",
    "MixCLFinetuneTrainer_nnUNetSchedule_5epochs": "MixCLFinetuneTrainer_nnUNetSchedule_2ep5it",
    "nnsslScratchTrainer_5epochs": "nnsslScratchTrainer_2ep5it",
}


def recipe() -> str:
    """The README's recipe block (without the fences)."""
    with open(README) as f:
        text = f.read()
    m = re.search(r"<!-- recipe:begin -->\s*```bash\n(.*?)```\s*<!-- recipe:end -->", text, re.S)
    assert m, "README.md lost its recipe markers"
    return m.group(1)


def test_recipe_block_is_complete():
    """Cheap check: the recipe sets up the environment itself and uses every command it documents."""
    block = recipe()
    for needle in ("source .venv/bin/activate", "export nnUNet_raw=", "nnUNet_extTrainer=$(nnssl_trainer_dir)",
                   "-device $DEVICE", "nnssl_pretrain", "nnUNetv2_train 200 3d_fullres 0 -tr ", "nnUNetv2_predict",
                   "nnUNetv2_evaluate_simple", *SMOKE):
        assert needle in block, needle
    for line in block.splitlines():  # every nnU-Net / nnssl training or inference call names the device
        if re.match(r"\s*(nnssl_pretrain|nnUNetv2_train|nnUNetv2_predict)\b", line):
            assert "-device $DEVICE" in line, line
        if re.match(r"\s*(nnUNetv2_train|nnUNetv2_predict)\b", line):
            assert " -p " not in line, line  # the card's commands: no plans identifier


@pytest.mark.slow
def test_readme_recipe_runs_as_written(tmp_path):
    script = recipe()
    for old, new in SMOKE.items():
        script = script.replace(old, new)
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "activate").write_text(f'export PATH="{os.path.dirname(sys.executable)}:$PATH"\n')
    (tmp_path / "recipe.sh").write_text("set -euo pipefail\n" + script)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("nnUNet_", "nnSSL_"))}
    env.update(nnUNet_def_n_proc="1", nnUNet_n_proc_DA="0", PATH="/usr/bin:/bin")  # a fresh shell
    proc = subprocess.run(["bash", "recipe.sh"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    target = tmp_path / "nnUNet_raw" / "Dataset200_SynthOrganLesion"
    cases = sorted(p.name for p in (target / "labelsTs").iterdir())
    predicted = sorted(p.name for p in (tmp_path / "pred200").iterdir() if p.name.endswith(".nii.gz"))
    assert predicted == cases and len(cases) == 4  # one prediction per held-out case
    summary = json.loads((tmp_path / "pred200" / "summary.json").read_text())
    assert set(summary["mean"]) == {"1", "2"}  # scored per label by nnU-Net's evaluation
    # the organ was learned: above what predicting it everywhere scores, by the margin the synthetic end-to-end test
    # uses (measured 2026-12-05: organ 0.76 after 2 x 5 steps, predicting it everywhere about 0.13)
    from tests.test_end_to_end import chance_dice

    organ_everywhere = chance_dice([str(target / "labelsTs" / c) for c in cases], 1)
    assert summary["mean"]["1"]["Dice"] > organ_everywhere + 0.1, (summary["mean"]["1"], organ_everywhere)
    # no -p in the recipe: nnU-Net's default identifier found nnssl's plan (the alias) and its checkpoint
    trainer = "MixCLFinetuneTrainer_nnUNetSchedule_2ep5it"
    log = next((tmp_path / "nnUNet_results").rglob(f"{trainer}__nnUNetPlans__3d_fullres"))
    record = json.loads((log / "fold_0" / "nnssl_finetune.json").read_text())
    assert record["pretrained_checkpoint"] and record["transferred_parameters"] > 0  # really the pretrained init
