"""The checkpoint format's owner: what it refuses to write or read, and the resume guard of fine-tunes."""

import os

import pytest
import torch

from nnssl import checkpoint_format as fmt
from nnssl.trainers.finetune_record import RESULT_ENV, refuse_changed_resume, result_environment, resume_problems


def complete(**over):
    record = {"format_version": fmt.FORMAT_VERSION, "method": "mixcl", "run_name": "mixcl",
              "transfer_prefixes": ["encoder."], "plans_identifier": "nnsslPlans", "configuration": "2d"}
    return {"network_weights": {"w": torch.ones(2)}, "ssl_heads": {}, fmt.RECORD_KEY: record,
            fmt.CONFIG_KEY: {"method": "mixcl"}, "current_epoch": 3, **over}


def test_write_then_read_round_trips_and_a_final_checkpoint_gets_its_record_file(tmp_path):
    path = str(tmp_path / fmt.FINAL)
    fmt.write(complete(), path)
    back = fmt.read(path)
    assert torch.equal(back["network_weights"]["w"], torch.ones(2)) and back["current_epoch"] == 3
    assert fmt.record(path)["method"] == "mixcl" and fmt.config(path) == {"method": "mixcl"}
    assert os.path.isfile(tmp_path / fmt.RECORD_FILE)
    fmt.write(complete(), str(tmp_path / "checkpoint_latest.pth"))  # not final: no second record file written
    assert sorted(os.listdir(tmp_path)) == sorted([fmt.FINAL, fmt.RECORD_FILE, "checkpoint_latest.pth"])


@pytest.mark.parametrize(("drop", "named"), [("ssl_heads", "'ssl_heads'"), (fmt.CONFIG_KEY, "run configuration"),
                                             (fmt.RECORD_KEY, "adaptation record")])
def test_write_refuses_an_incomplete_checkpoint_and_writes_nothing(tmp_path, drop, named):
    ckpt = complete()
    del ckpt[drop]
    with pytest.raises(ValueError, match=named):
        fmt.write(ckpt, str(tmp_path / fmt.FINAL))
    assert os.listdir(tmp_path) == []


def test_read_names_every_problem_and_a_newer_format(tmp_path):
    path = str(tmp_path / "c.pth")
    torch.save({"network_weights": {}, fmt.RECORD_KEY: {"transfer_prefixes": []}}, path)
    with pytest.raises(ValueError, match="has no 'method'") as err:
        fmt.read(path)
    assert path in str(err.value)
    torch.save(complete(**{fmt.RECORD_KEY: {**complete()[fmt.RECORD_KEY], "format_version": 99}}), path)
    with pytest.raises(ValueError, match="format_version 99 is newer"):
        fmt.read(path)
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="holds a list"):
        fmt.read(path)


def test_sha256_changes_with_the_content(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 3_000_000)
    b.write_bytes(b"x" * 2_999_999 + b"y")
    assert fmt.sha256(str(a)) != fmt.sha256(str(b)) and fmt.sha256(str(a)) == fmt.sha256(str(a))
    assert len(fmt.sha256(str(a))) == 64


def test_only_the_variables_that_change_a_result_are_recorded():
    env = {"nnSSL_PRETRAINED": "/x/checkpoint_final.pth", "nnSSL_FINETUNE_SCHEDULE": "", "HOME": "/root"}
    assert result_environment(env) == {"nnSSL_PRETRAINED": "/x/checkpoint_final.pth"}
    assert set(RESULT_ENV) >= {"nnSSL_PRETRAINED", "nnSSL_FINETUNE_SCHEDULE", "nnSSL_ALLOW_OTHER_METHOD"}


def test_resume_is_refused_with_another_checkpoint_or_schedule_and_allowed_otherwise(tmp_path):
    recorded = {"trainer": "T", "pretrained_sha256": "aa", "resolved_epochs": 30, "pretrained_checkpoint": "/old/p",
                "environment": {}}
    moved = {**recorded, "pretrained_checkpoint": "/new/p", "environment": {"nnSSL_PRETRAINED": "/new/p"}}
    assert resume_problems(recorded, moved) == []  # the same file under another path
    refuse_changed_resume(str(tmp_path), recorded, moved)
    other = {**recorded, "pretrained_sha256": "bb", "resolved_epochs": 40}
    assert len(resume_problems(recorded, other)) == 2
    with pytest.raises(ValueError, match=r"pretrained_sha256: recorded 'aa', now 'bb'.*resolved_epochs") as err:
        refuse_changed_resume(str(tmp_path), recorded, other)
    assert "without --c" in str(err.value)
    older = {k: v for k, v in recorded.items() if k != "pretrained_sha256"}  # a record from before the hash
    assert resume_problems(older, other) == ["resolved_epochs: recorded 30, now 40"]
