"""OMP_NUM_THREADS is honoured by nnssl's trainers on the CPU, even after nnUNetv2_train raised the count."""

import pytest
import torch

from nnssl.trainers.threads import honour_thread_limit


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_variable_wins_over_every_core_on_the_cpu(monkeypatch, restore_threads):
    torch.set_num_threads(4)  # what nnUNetv2_train -device cpu does on a 4-core machine
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert honour_thread_limit(torch.device("cpu")) == 1
    assert torch.get_num_threads() == 1


def test_unset_or_another_device_leaves_the_count(monkeypatch, restore_threads):
    torch.set_num_threads(3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert honour_thread_limit(torch.device("cpu")) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert honour_thread_limit(torch.device("cuda")) is None
    assert torch.get_num_threads() == 3


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_value_is_named(monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    with pytest.raises(ValueError, match=f"OMP_NUM_THREADS={value!r}"):
        honour_thread_limit(torch.device("cpu"))
