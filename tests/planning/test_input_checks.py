"""Bad input, faults and untrusted files (documentation/bad_input.md): clear errors before work, nothing lost.

Each test breaks one thing in a tiny synthetic dataset and asserts what the user sees and that
nothing was written (no plans, no fingerprint, raw data unchanged).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import SimpleITK as sitk

from nnssl.data.synthetic import SyntheticSpec, write_dataset
from tests.conftest import tree_digest

SHAPE = (16, 20, 16)


def _dataset(raw: str, did: int, name: str, cases: int = 4, family: str = "blobs") -> str:
    return write_dataset(raw, SyntheticSpec(did, name, family, cases), shape=SHAPE)


def _edit(path: str, fn) -> None:
    img = sitk.ReadImage(path)
    out = sitk.GetImageFromArray(fn(sitk.GetArrayFromImage(img)))
    out.CopyInformation(img)
    sitk.WriteImage(out, path)


def _set_json(folder: str, **changes) -> None:
    path = os.path.join(folder, "dataset.json")
    with open(path) as f:
        dj = json.load(f)
    dj.update(changes)
    with open(path, "w") as f:
        json.dump(dj, f)


def test_every_problem_in_one_error_before_any_work(nnunet_env):
    """Undeclared label, NaN, inf, a 1e30-scaled image, a missing label: all listed in one error."""
    from nnssl.planning.checks import check_inputs
    from nnssl.planning.pooled import plan_and_preprocess_pool

    raw, pre = nnunet_env["nnUNet_raw"], nnunet_env["nnUNet_preprocessed"]
    bad = _dataset(raw, 101, "Broken", cases=5)
    _set_json(bad, overwrite_image_reader_writer="NibabelIO")  # ITK's NIfTI reader turns NaN/inf into 0
    _dataset(raw, 102, "Fine")
    _edit(os.path.join(bad, "labelsTr", "case_000.nii.gz"), lambda a: np.where(a == 1, 7, a).astype(a.dtype))
    _edit(os.path.join(bad, "imagesTr", "case_001_0000.nii.gz"), lambda a: np.where(a > 50, np.nan, a))
    _edit(os.path.join(bad, "imagesTr", "case_002_0000.nii.gz"), lambda a: np.where(a > 50, np.inf, a))
    _edit(os.path.join(bad, "imagesTr", "case_003_0000.nii.gz"), lambda a: (a * 1e30).astype(np.float32))
    os.remove(os.path.join(bad, "labelsTr", "case_004.nii.gz"))
    raw_before = tree_digest(raw)

    with pytest.raises(ValueError, match="problem") as err:
        plan_and_preprocess_pool([101, 102], None)
    text = str(err.value)
    assert "nothing was planned or written" in text
    assert "label file(s) missing" in text and "case_004" in text
    assert not os.path.exists(os.path.join(pre, "Dataset101_Broken"))  # no fingerprint, no plans
    assert not os.path.exists(os.path.join(pre, "Dataset102_Fine"))

    os.remove(os.path.join(bad, "imagesTr", "case_004_0000.nii.gz"))  # now every case is read
    _set_json(bad, numTraining=4)
    raw_before = tree_digest(raw)
    with pytest.raises(ValueError, match="problem") as err:
        check_inputs({101: "Dataset101_Broken", 102: "Dataset102_Fine"}, {101: True, 102: True})
    text = str(err.value)
    assert text.startswith("4 problem(s)")
    assert "Dataset101_Broken: case case_000: label value(s) [7] not declared" in text
    assert "case case_001" in text and "NaN" in text
    assert "case case_002" in text and "infinite" in text
    assert "case case_003" in text and "intensities up to" in text and "Rescale" in text
    assert "Dataset102_Fine" not in text
    assert tree_digest(raw) == raw_before


def test_foreground_fraction_warns_and_fails_where_labels_are_needed(nnunet_env, capsys):
    from nnssl.planning.checks import check_inputs

    raw = nnunet_env["nnUNet_raw"]
    sparse = _dataset(raw, 101, "Sparse")
    empty = _dataset(raw, 102, "Empty")
    for i in range(3):
        _edit(os.path.join(sparse, "labelsTr", f"case_{i:03d}.nii.gz"), np.zeros_like)
    for i in range(4):
        _edit(os.path.join(empty, "labelsTr", f"case_{i:03d}.nii.gz"), np.zeros_like)
    names = {101: "Dataset101_Sparse", 102: "Dataset102_Empty"}

    with pytest.raises(ValueError, match=r"Dataset102_Empty: has no foreground in any label file.*--allow-unlabelled"):
        check_inputs(names, {101: True, 102: True}, use_cache=False)
    assert "Dataset101_Sparse: only 1 of 4 cases have any foreground" in capsys.readouterr().err

    result = check_inputs(names, {101: True, 102: False}, use_cache=False)  # e.g. --allow-unlabelled
    assert result[101].labelled and result[101].cases_with_foreground == 1
    assert not result[102].labelled and result[102].has_label_files


def test_passing_check_is_remembered_until_a_file_changes(nnunet_env, monkeypatch):
    import nnssl.planning.checks as checks

    raw = nnunet_env["nnUNet_raw"]
    folder = _dataset(raw, 101, "Cached", cases=2)
    names, needs = {101: "Dataset101_Cached"}, {101: True}
    checks.check_inputs(names, needs)
    calls = []
    monkeypatch.setattr(checks, "check_case", lambda *a: calls.append(a[0]) or ([], True, 3))
    checks.check_inputs(names, needs)
    assert calls == []  # nothing read again
    _edit(os.path.join(folder, "labelsTr", "case_001.nii.gz"), lambda a: a)  # rewritten: new mtime
    checks.check_inputs(names, needs)
    assert sorted(calls) == ["case_000", "case_001"]
    assert not os.path.exists(os.path.join(nnunet_env["nnUNet_preprocessed"], "Dataset101_Cached"))


def test_duplicate_dataset_ids_are_an_error(nnunet_env):
    from nnssl.planning.datasets import resolve_dataset

    raw = nnunet_env["nnUNet_raw"]
    _dataset(raw, 101, "First", cases=1)
    _dataset(raw, 101, "Second", cases=1)
    with pytest.raises(ValueError, match=r"101 is used by 2 folders.*Dataset101_First, Dataset101_Second"):
        resolve_dataset(101)


def test_plan_from_target_without_plans_fails_before_fingerprinting(nnunet_env):
    from nnssl.planning.pooled import plan_and_preprocess_pool

    raw, pre = nnunet_env["nnUNet_raw"], nnunet_env["nnUNet_preprocessed"]
    _dataset(raw, 101, "Source", cases=1)
    _dataset(raw, 200, "Target", cases=1)
    with pytest.raises(ValueError, match=r"does not exist\. Plan the target first"):
        plan_and_preprocess_pool([101], 200, plan_from_target=True)
    assert not any(n.startswith("Dataset") for n in os.listdir(pre))


def test_unknown_names_suggest_the_closest(capsys):
    from nnssl.cli.pretrain import main

    with pytest.raises(SystemExit):
        main(["-d", "101", "--lable-weight", "0.1"])
    assert "did you mean --label-weight?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["-d", "101", "-m", "mixc"])
    assert "did you mean 'mixcl'?" in capsys.readouterr().err


def test_known_nnunet_failures_become_one_line(monkeypatch, capsys):
    import nnssl.cli.pretrain as cli
    from nnssl.errors import translate_nnunet_error

    assert "--plan-batch-size" in translate_nnunet_error(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert translate_nnunet_error(RuntimeError("something else entirely")) is None

    def boom(args):
        raise RuntimeError("Some background worker is 6 feet under. Yuck.\nOK jokes aside.\n...")

    monkeypatch.setattr(cli, "pretrain", boom)
    assert cli.main(["-d", "101", "--plan-only"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "-np 1" in err[0] and "6 feet under" in err[0]

    def other(args):
        raise RuntimeError("an unknown failure")

    monkeypatch.setattr(cli, "pretrain", other)
    with pytest.raises(RuntimeError, match="unknown failure"):  # unknown errors keep their traceback
        cli.main(["-d", "101", "--plan-only"])


def test_sigkill_during_save_keeps_the_old_checkpoint_and_the_next_start_cleans_up(tmp_path):
    """A save killed mid-write leaves the previous file intact; the leftover temp file is removed."""
    import torch

    from nnssl.io import atomic_torch_save, remove_stale_temp_files, safe_load

    path = str(tmp_path / "checkpoint_latest.pth")
    atomic_torch_save({"w": torch.arange(4.0)}, path)
    child = textwrap.dedent(f"""
        import time, torch
        import nnssl.io as io
        def slow_save(obj, f):
            f.write(b"half a checkpoint"); f.flush()
            print("writing", flush=True)
            time.sleep(60)
        io.torch.save = slow_save
        io.atomic_torch_save({{"w": torch.zeros(4)}}, {path!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith(".tmp_")]
    assert len(leftovers) == 1  # the killed save's temp file...
    assert torch.equal(safe_load(path)["w"], torch.arange(4.0))  # ...and the old checkpoint, intact
    (tmp_path / "checkpoint_best.pth.partial").write_bytes(b"x")  # what nnU-Net's own save leaves
    removed = remove_stale_temp_files(str(tmp_path))
    assert sorted(os.path.basename(p) for p in removed) == sorted([*leftovers, "checkpoint_best.pth.partial"])
    assert os.listdir(tmp_path) == ["checkpoint_latest.pth"]


@pytest.mark.slow
def test_unlabelled_sources_plan_and_pretrain(nnunet_env):
    """No labelsTr, or background-only labels: planned, preprocessed and pretrained; raw data unchanged.

    Also: a NibabelIO override in one source's dataset.json stays in that source's plans.
    """
    from nnssl.cli.pretrain import main
    from nnssl.planning.unlabelled import EMPTY_LABELS

    raw, pre = nnunet_env["nnUNet_raw"], nnunet_env["nnUNet_preprocessed"]
    _dataset(raw, 101, "Labelled", cases=3)
    nolabels = _dataset(raw, 102, "NoLabelsTr", cases=3, family="shells")
    shutil.rmtree(os.path.join(nolabels, "labelsTr"))
    bg = _dataset(raw, 103, "BackgroundOnly", cases=3, family="tubes")
    for i in range(3):
        _edit(os.path.join(bg, "labelsTr", f"case_{i:03d}.nii.gz"), np.zeros_like)
    _set_json(bg, labels={"background": 0})
    _set_json(os.path.join(raw, "Dataset101_Labelled"), overwrite_image_reader_writer="NibabelIO")
    raw_before = tree_digest(raw)

    common = ["-d", "101", "102", "103", "--schedule", "smoke", "-device", "cpu", "--plan-batch-size", "2"]
    assert main([*common, "-m", "mixcl", "--plan-only"]) == 2  # the label term needs labels: refused, named
    assert main([*common, "-m", "mixcl", "--allow-unlabelled"]) == 0
    assert tree_digest(raw) == raw_before

    readers = {n: json.load(open(os.path.join(pre, n, "nnsslPlans.json")))["image_reader_writer"]
               for n in ("Dataset101_Labelled", "Dataset102_NoLabelsTr", "Dataset103_BackgroundOnly")}
    assert readers["Dataset101_Labelled"] == "NibabelIO"
    assert readers["Dataset102_NoLabelsTr"] == readers["Dataset103_BackgroundOnly"] == "SimpleITKIO"
    assert len(os.listdir(os.path.join(pre, "Dataset102_NoLabelsTr", EMPTY_LABELS))) == 3
    fp = json.load(open(os.path.join(pre, "Dataset103_BackgroundOnly", "dataset_fingerprint.json")))
    stats = fp["foreground_intensity_properties_per_channel"]["0"]
    assert stats["std"] > 0 and stats["percentile_00_5"] < stats["median"] < stats["percentile_99_5"]
    results = nnunet_env["nnUNet_results"]
    finals = [os.path.join(r, f) for r, _, fs in os.walk(results) for f in fs if f == "checkpoint_final.pth"]
    assert len(finals) == 1


def test_geometry_dimensionality_truncation_and_hidden_nan_are_caught(nnunet_env):
    """A flipped or shifted label, a 2D image among 3D ones, a truncated .nii.gz and NaN voxels that
    ITK's reader turns into 0 (the default reader here): one error, one line each, nothing written."""
    import gzip

    from nnssl.planning.checks import check_inputs

    raw = nnunet_env["nnUNet_raw"]
    bad = _dataset(raw, 111, "Geometry", cases=6)
    label = os.path.join(bad, "labelsTr", "case_000.nii.gz")
    img = sitk.ReadImage(label)
    img.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))  # flipped against its image
    sitk.WriteImage(img, label)
    label = os.path.join(bad, "labelsTr", "case_001.nii.gz")
    img = sitk.ReadImage(label)
    img.SetOrigin((5.0, 0.0, 0.0))  # shifted
    sitk.WriteImage(img, label)
    flat = sitk.GetImageFromArray(np.zeros((20, 16), np.float32))  # case_002: a 2D image and label
    sitk.WriteImage(flat, os.path.join(bad, "imagesTr", "case_002_0000.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((20, 16), np.uint8)), os.path.join(bad, "labelsTr",
                                                                                           "case_002.nii.gz"))
    path = os.path.join(bad, "imagesTr", "case_003_0000.nii.gz")
    with open(path, "rb") as f:
        blob = f.read()
    with open(path, "wb") as f:
        f.write(blob[: len(blob) // 2])  # truncated
    _edit(os.path.join(bad, "imagesTr", "case_004_0000.nii.gz"), lambda a: np.where(a > 50, np.nan, a))
    raw_before = tree_digest(raw)
    with pytest.raises(ValueError, match=r"^5 problem\(s\)") as err:
        check_inputs({111: "Dataset111_Geometry"}, {111: True}, use_cache=False)
    text = str(err.value)
    assert "case case_000: label direction" in text and "resample or re-export the label" in text
    assert "case case_001: label origin" in text
    assert "case case_002: a 2D image (no third axis) in a dataset of 3D images" in text
    assert "case case_003:" in text and "truncated or corrupt" in text
    assert "case case_004:" in text and "NaN" in text and "some readers turn them into 0" in text
    assert "case_005" not in text
    assert tree_digest(raw) == raw_before
    with gzip.open(os.path.join(bad, "imagesTr", "case_005_0000.nii.gz")) as f:
        assert f.read()  # the untouched files still read


def test_messages_name_the_real_fix(nnunet_env):
    from nnssl.planning.checks import check_inputs
    from nnssl.planning.datasets import validate_pool

    raw = nnunet_env["nnUNet_raw"]
    ending = _dataset(raw, 121, "Ending", cases=2)
    _set_json(ending, file_ending=".nii")
    with pytest.raises(ValueError, match=r"file_ending is '.nii' in dataset.json, but imagesTr holds \['.nii.gz'\]"):
        check_inputs({121: "Dataset121_Ending"}, {121: True}, use_cache=False)
    nolabels = _dataset(raw, 122, "NoLabels", cases=2)
    with open(os.path.join(nolabels, "dataset.json")) as f:
        dj = json.load(f)
    dj.pop("labels")
    with open(os.path.join(nolabels, "dataset.json"), "w") as f:
        json.dump(dj, f)
    with pytest.raises(ValueError, match="has no 'labels' key; nnU-Net needs it"):
        validate_pool([122], None, True)


def test_an_empty_or_corrupt_image_is_named_and_a_tiny_one_warned(nnunet_env, capsys):
    """A 0-byte image and a file of garbage each name their file in one line; a 1x1x1 image is a warning only."""
    from nnssl.planning.checks import check_dataset

    raw = nnunet_env["nnUNet_raw"]
    folder = _dataset(raw, 101, "Bad", cases=4)
    open(os.path.join(folder, "imagesTr", "case_000_0000.nii.gz"), "wb").close()
    with open(os.path.join(folder, "labelsTr", "case_001.nii.gz"), "wb") as f:
        f.write(b"\x1f\x8b" + os.urandom(64))  # a gzip header, then noise
    tiny = sitk.GetImageFromArray(np.ones((1, 1, 1), dtype=np.float32))
    sitk.WriteImage(tiny, os.path.join(folder, "imagesTr", "case_002_0000.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((1, 1, 1), dtype=np.uint8)),
                    os.path.join(folder, "labelsTr", "case_002.nii.gz"))
    result = check_dataset("Dataset101_Bad", needs_labels=True)
    text = "\n".join(result.problems)
    assert "case_000_0000.nii.gz is empty (0 bytes)" in text
    assert "case_001.nii.gz is truncated or corrupt" in text
    assert not any("case case_002" in p for p in result.problems)
    assert any("case case_002: the image is only 1x1x1 voxels" in w for w in result.warnings)


def test_a_read_only_results_folder_is_refused_before_any_work(nnunet_env, monkeypatch, tmp_path):
    from nnssl.planning.datasets import check_environment

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("nnUNet_results", str(blocker / "results"))
    with pytest.raises(OSError, match=r"nnUNet_results=.*a_file/results is not writable"):
        check_environment()
