"""The student's dataset id: chosen and reserved at once, so self-trainings side by side never share one."""

import json
import multiprocessing
import os

import pytest

from nnssl.selftrain import derived


@pytest.fixture
def nnunet_dirs(tmp_path, monkeypatch):
    for sub in ("raw", "preprocessed", "results"):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(f"nnUNet_{sub}", str(tmp_path / sub))
    return tmp_path


def key(fold: int) -> dict:
    return {"target": "Dataset602_Hippocampus", "fold": fold, "round": 1}


def test_two_keys_before_anything_is_written_get_two_ids_and_a_rerun_its_own(nnunet_dirs):
    """Nothing is in nnUNet_raw yet (the teacher is still predicting): a second key must not get the first's id;
    the first key asked again (a rerun after a crash) gets its id back; an id taken by a raw dataset is skipped."""
    (nnunet_dirs / "raw" / "Dataset800_Other").mkdir()
    (nnunet_dirs / "raw" / "Dataset800_Other" / "dataset.json").write_text("{}")
    first = derived.find_dataset(key(0))
    second = derived.find_dataset(key(3))
    assert first == (801, "Dataset801_Hippocampus_selftrain", False)
    assert second[0] == 802
    assert derived.find_dataset(key(0)) == first
    with pytest.raises(ValueError, match="--student-id 802 is reserved by another self-training"):
        derived.find_dataset(key(4), wanted_id=802)
    assert derived.find_dataset(key(3), wanted_id=802) == second


def test_a_written_dataset_is_found_by_its_record(nnunet_dirs):
    d, name, _ = derived.find_dataset(key(1))
    folder = nnunet_dirs / "raw" / name
    folder.mkdir()
    (folder / "dataset.json").write_text("{}")
    (folder / derived.RECORD).write_text(json.dumps({"key": key(1)}))
    assert derived.find_dataset(key(1)) == (d, name, False)  # raw written, not preprocessed yet
    assert derived.find_dataset(key(2))[0] == d + 1


def _ask(worker: int, barrier, out) -> None:
    barrier.wait()
    out.put((worker, [derived.find_dataset(key(10 * worker + k))[0] for k in range(5)]))


def test_side_by_side_every_key_gets_its_own_id(nnunet_dirs):
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    workers = [ctx.Process(target=_ask, args=(w, barrier, out)) for w in range(4)]
    for p in workers:
        p.start()
    ids = [i for _ in workers for i in out.get(timeout=120)[1]]
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(ids) == len(set(ids)) == 20
    assert not os.listdir(nnunet_dirs / "raw")  # nothing written into nnUNet_raw by reserving
