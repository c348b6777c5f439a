"""``nnssl_selftrain`` on the synthetic target: teacher -> derived dataset -> student with stock nnU-Net."""

import os
import subprocess
import sys

import pytest

from nnssl.io import load_json

BIN = os.path.dirname(sys.executable)


def run(cmd, env):
    proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_selftrain_end_to_end_without_leaks_and_resumable(pool_env, tmp_path, monkeypatch):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    from nnssl.cli import selftrain
    from nnssl.trainer_location import trainer_dir

    env = {**pool_env["env"], "nnUNet_results": str(tmp_path / "results"), "nnUNet_extTrainer": trainer_dir()}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    target = pool_env["pool"].target[1]
    run([os.path.join(BIN, "nnUNetv2_train"), "200", "3d_fullres", "0", "-tr", "nnsslScratchTrainer_2ep5it",
         "-p", "nnsslPlans", "-device", "cpu"], env)
    unlabelled = os.path.join(env["nnUNet_raw"], target, "imagesTs")
    argv = ["-d", "200", "-c", "3d_fullres", "-f", "0", "-tr", "nnsslScratchTrainer_2ep5it", "-u", unlabelled,
            "--student-trainer", "nnsslScratchTrainer_2ep5it", "--threshold", "0.6", "-device", "cpu"]
    before = set(os.listdir(env["nnUNet_raw"]))  # the shared test pool may hold other tests' derived datasets
    assert selftrain.main(argv) == 0

    pre = os.path.join(env["nnUNet_preprocessed"], target)
    split = load_json(os.path.join(pre, "splits_final.json"))[0]
    derived = [d for d in set(os.listdir(env["nnUNet_raw"])) - before if d.startswith("Dataset8")]
    assert len(derived) == 1 and not any(d.startswith(".partial") for d in os.listdir(env["nnUNet_raw"]))
    name = derived[0]
    raw = os.path.join(env["nnUNet_raw"], name)
    verify_dataset_integrity(raw, num_processes=1)  # nnU-Net's own check of the derived dataset
    dj = load_json(os.path.join(raw, "dataset.json"))
    assert dj["labels"]["ignore"] == 3
    student_split = load_json(os.path.join(env["nnUNet_preprocessed"], name, "splits_final.json"))
    assert len(student_split) == 1 and sorted(student_split[0]["val"]) == sorted(split["val"])
    train = set(student_split[0]["train"])
    pseudo = {c for c in train if c.startswith("pl_")}
    assert train - pseudo == set(split["train"]) and len(pseudo) == len(os.listdir(unlabelled))
    assert not train & set(split["val"])  # no validation case is trained on, by id
    record = load_json(os.path.join(env["nnUNet_preprocessed"], name, "nnssl_selftrain.json"))
    assert record["key"]["threshold"] == 0.6 and record["key"]["round"] == 1
    assert len(record["key"]["teacher"]["checkpoint_sha256"]) == 64
    assert 0 < record["pseudo_labels"]["kept"] <= 1
    student = os.path.join(env["nnUNet_results"], name, "nnsslScratchTrainer_2ep5it__nnsslPlans__3d_fullres",
                           "fold_0")
    summary = load_json(os.path.join(student, "validation", "summary.json"))
    assert {os.path.basename(m["reference_file"])[:-7] for m in summary["metric_per_case"]} == set(split["val"])
    assert load_json(os.path.join(student, "nnssl_selftrain.json"))["student_trainer"] == "nnsslScratchTrainer_2ep5it"

    # the same command again reuses the finished dataset and student
    stamp = os.path.getmtime(os.path.join(student, "checkpoint_final.pth"))
    assert selftrain.main(argv) == 0
    assert os.path.getmtime(os.path.join(student, "checkpoint_final.pth")) == stamp
    assert [d for d in set(os.listdir(env["nnUNet_raw"])) - before if d.startswith("Dataset8")] == [name]
    # a second round: round 1 is reused, its student labels the images again for a new student and dataset
    assert selftrain.main([*argv, "--rounds", "2"]) == 0
    assert os.path.getmtime(os.path.join(student, "checkpoint_final.pth")) == stamp
    second = [d for d in set(os.listdir(env["nnUNet_raw"])) - before if d.startswith("Dataset8") and d != name]
    assert len(second) == 1
    record2 = load_json(os.path.join(env["nnUNet_preprocessed"], second[0], "nnssl_selftrain.json"))
    assert record2["key"]["round"] == 2 and record2["key"]["labelled"] == record["key"]["labelled"]
    assert record2["key"]["teacher"]["folder"] == os.path.dirname(student)
    assert record2["key"]["teacher"]["fold"] == "0"
    assert os.path.isfile(os.path.join(env["nnUNet_results"], second[0],
                                       "nnsslScratchTrainer_2ep5it__nnsslPlans__3d_fullres", "fold_0", "validation",
                                       "summary.json"))
    # a validation case among the unlabelled images is refused before any work
    leak = tmp_path / "leak"
    leak.mkdir()
    case = split["val"][0]
    os.symlink(os.path.join(env["nnUNet_raw"], target, "imagesTr", f"{case}_0000.nii.gz"),
               leak / "renamed_0000.nii.gz")
    assert selftrain.main([*argv[:9], str(leak), *argv[10:]]) == 2
