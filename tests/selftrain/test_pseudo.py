"""Pseudo labels and the leak guard, on constructed arrays and files."""

import os

import numpy as np
import pytest

from nnssl.selftrain.derived import check_no_leak, unlabelled_from_folder
from nnssl.selftrain.pseudo import confidence_stats, ignore_value, pseudo_label
from nnssl.selftrain.run import SelfTrainRequest


def test_unsure_voxels_get_the_ignore_label_and_sure_ones_the_argmax():
    """A constructed probability map: where the top probability reaches the threshold the label is the argmax,
    elsewhere the ignore value; the threshold is inclusive."""
    p = np.zeros((3, 2, 3), dtype=np.float32)
    p[:, 0, 0] = (0.95, 0.03, 0.02)   # sure background
    p[:, 0, 1] = (0.05, 0.90, 0.05)   # exactly at the threshold: kept
    p[:, 0, 2] = (0.10, 0.45, 0.45)   # unsure
    p[:, 1, 0] = (0.02, 0.01, 0.97)   # sure class 2
    p[:, 1, 1] = (0.40, 0.35, 0.25)   # unsure background
    p[:, 1, 2] = (0.00, 0.89, 0.11)   # just below
    out = pseudo_label(p, 0.9, ignore=3)
    np.testing.assert_array_equal(out, [[0, 1, 3], [2, 3, 3]])
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(pseudo_label(p, 0.0, 3), p.argmax(0))  # threshold 0: plain argmax
    assert (pseudo_label(p, 1.0, 3) == 3).all()  # nothing is sure of 1.0 here
    stats = confidence_stats(p, 0.9)
    assert stats["kept"] == pytest.approx(3 / 6) and stats["foreground_voxels"] == 4
    assert stats["kept_foreground"] == pytest.approx(2 / 4)


def test_class_values_map_channels_to_label_values():
    p = np.zeros((2, 1, 2), dtype=np.float32)
    p[:, 0, 0], p[:, 0, 1] = (0.1, 0.9), (0.99, 0.01)
    np.testing.assert_array_equal(pseudo_label(p, 0.5, 9, class_values=[0, 5]), [[5, 0]])
    with pytest.raises(ValueError, match="2 probability channels but 3 class values"):
        pseudo_label(p, 0.5, 9, class_values=[0, 1, 2])
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\]"):
        pseudo_label(p, 1.5, 9)


def test_ignore_value_is_max_plus_one_or_the_existing_one():
    assert ignore_value({"background": 0, "a": 1, "b": 2}) == 3
    assert ignore_value({"background": 0, "a": 1, "ignore": 7}) == 7
    with pytest.raises(ValueError, match="region"):
        ignore_value({"background": 0, "a": [1, 2]})


def _dataset(tmp_path):
    raw = tmp_path / "Dataset200_T"
    (raw / "imagesTr").mkdir(parents=True)
    for i, content in enumerate((b"val image", b"train image", b"other")):
        (raw / "imagesTr" / f"c{i}_0000.nii.gz").write_bytes(content)
    return str(raw), {"file_ending": ".nii.gz", "channel_names": {"0": "MRI"}}


def test_a_validation_case_never_reaches_the_student_by_id_or_by_content(tmp_path):
    raw, dj = _dataset(tmp_path)
    u = tmp_path / "u"
    u.mkdir()
    (u / "x_0000.nii.gz").write_bytes(b"new")
    check_no_leak(["c0"], ["c1"], unlabelled_from_folder(str(u), dj), raw, dj)  # fine
    with pytest.raises(ValueError, match="are validation cases of this fold"):
        check_no_leak(["c0"], ["c1"], {"c0": [os.path.join(raw, "imagesTr", "c0_0000.nii.gz")]}, raw, dj)
    with pytest.raises(ValueError, match="are the fold's labelled cases"):
        check_no_leak(["c0"], ["c1"], {"c1": [os.path.join(raw, "imagesTr", "c1_0000.nii.gz")]}, raw, dj)
    (u / "renamed_0000.nii.gz").write_bytes(b"val image")  # the validation image under another name
    with pytest.raises(ValueError, match="is the image of validation case c0 under another name"):
        check_no_leak(["c0"], ["c1"], unlabelled_from_folder(str(u), dj), raw, dj)


def test_unlabelled_folder_needs_every_channel(tmp_path):
    dj = {"file_ending": ".nii.gz", "channel_names": {"0": "T1", "1": "T2"}}
    (tmp_path / "a_0000.nii.gz").write_bytes(b"1")
    with pytest.raises(ValueError, match=r"case a misses a_0001\.nii\.gz"):
        unlabelled_from_folder(str(tmp_path), dj)
    with pytest.raises(ValueError, match="no images named CASE_0000"):
        unlabelled_from_folder(str(tmp_path), {**dj, "file_ending": ".mha"})


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"threshold": 1.2}, "threshold must be in"),
    ({"rounds": 0}, "rounds must be >= 1"),
    ({"unlabelled_folder": None}, "not both and not neither"),
    ({"unlabelled_cases": ("a",)}, "not both and not neither"),
    ({"teacher_fold": "x"}, "teacher fold must be a number or 'all'"),
    ({"student_id": 12}, "800..899"),
    ({"schedule": "fresh_lr=fast"}, r"--student-schedule 'fresh_lr=fast' for the student nnsslScratchTrainer"),
    ({"schedule": "colour=1"}, "unknown key 'colour'"),
    ({"student_trainer": "nnUNetTrainer", "schedule": "epochs=1"}, "applies to nnssl's fine-tune and scratch"),
])
def test_bad_requests_are_refused_before_any_work(kwargs, match):
    base = {"target": 200, "configuration": "2d", "fold": 0, "teacher": "/t", "unlabelled_folder": "/u"}
    with pytest.raises(ValueError, match=match):
        SelfTrainRequest(**{**base, **kwargs})


def test_a_student_schedule_is_checked_against_the_student_trainer():
    base = {"target": 200, "configuration": "2d", "fold": 0, "teacher": "/t", "unlabelled_folder": "/u"}
    request = SelfTrainRequest(**base, student_trainer="SupervisedFinetuneTrainer_headsFirst", schedule="fresh_lr=1e-3")
    assert request.schedule == "fresh_lr=1e-3"


def test_the_command_line_gives_the_student_its_trainer_and_schedule():
    from nnssl.cli.selftrain import build_parser, request_from_args

    args = build_parser().parse_args(["-d", "602", "-c", "2d", "-f", "0", "--teacher", "/pool/model", "--teacher-fold",
                                      "all", "-u", "/u", "--student-trainer", "SupervisedFinetuneTrainer_headsFirst",
                                      "--student-schedule", "fresh_lr=1e-3", "-device", "cpu"])
    request = request_from_args(args)
    assert (request.student_trainer, request.schedule, request.teacher_fold) == (
        "SupervisedFinetuneTrainer_headsFirst", "fresh_lr=1e-3", "all")
