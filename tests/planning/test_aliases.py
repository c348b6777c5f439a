"""Plans identifiers that name a run: ``<plans>_<run>.json`` copies of nnssl's plans (nnssl/planning/aliases.py)."""

import json

import pytest

from nnssl.planning.aliases import run_of, run_plans_name, write_run_plans


def test_the_method_s_own_run_keeps_the_identifier_a_named_run_gets_its_own():
    assert run_plans_name("nnsslPlans", "mixcl", "mixcl") == "nnsslPlans"
    assert run_plans_name("nnsslPlans", "mixcl_dec", "mixcl") == "nnsslPlans_mixcl_dec"


def test_a_run_copy_is_the_same_plan_under_the_run_s_name_and_never_replaces_a_foreign_file(tmp_path, monkeypatch):
    monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path))
    folder = tmp_path / "Dataset200_T"
    folder.mkdir()
    plans = {"plans_name": "nnsslPlans", "configurations": {"2d": {"data_identifier": "nnsslPlans_2d"}},
             "nnssl": {"role": "target", "sources": {"101": "Dataset101_S"},
                       "pretrained": {"2d": {"dec": "/r/ckpt.pth"}}}}
    (folder / "nnsslPlans.json").write_text(json.dumps(plans))
    assert write_run_plans("Dataset200_T", "nnsslPlans", "dec") == "nnsslPlans_dec"
    copy = json.loads((folder / "nnsslPlans_dec.json").read_text())
    assert copy["plans_name"] == "nnsslPlans_dec" and run_of(copy) == "dec" and run_of(plans) is None
    assert copy["configurations"] == plans["configurations"]  # same data identifier: nothing preprocessed again
    assert copy["nnssl"]["pretrained"] == plans["nnssl"]["pretrained"] and copy["nnssl"]["alias_of"] == "nnsslPlans"
    plans["configurations"]["2d"]["batch_size"] = 4  # refreshed from the plans it copies, on every write
    (folder / "nnsslPlans.json").write_text(json.dumps(plans))
    write_run_plans("Dataset200_T", "nnsslPlans", "dec")
    assert json.loads((folder / "nnsslPlans_dec.json").read_text())["configurations"]["2d"]["batch_size"] == 4
    mine = {"plans_name": "nnsslPlans_mine", "configurations": {}}
    (folder / "nnsslPlans_mine.json").write_text(json.dumps(mine))
    with pytest.raises(ValueError, match=r"nnsslPlans_mine.json exists and is not nnssl's plans for run 'mine'"):
        write_run_plans("Dataset200_T", "nnsslPlans", "mine")
    assert json.loads((folder / "nnsslPlans_mine.json").read_text()) == mine
