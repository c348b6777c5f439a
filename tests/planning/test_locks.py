"""Two runs on the same datasets: the second waits for the first's lock, naming its holder; a dead holder's lock
is released by the kernel, so it never blocks."""

import os
import subprocess
import sys
import textwrap
import time

from nnssl.planning.locks import dataset_locks


def _hold(folder: str, name: str, seconds: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import os, time
        os.environ["nnUNet_preprocessed"] = {folder!r}
        from nnssl.planning.locks import dataset_locks
        with dataset_locks([{name!r}]):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_waits_and_names_the_holder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path))
    holder = _hold(str(tmp_path), "Dataset101_A", 2.0)
    start = time.time()
    with dataset_locks(["Dataset102_B", "Dataset101_A"]):
        waited = time.time() - start
    holder.wait()
    err = capsys.readouterr().err
    assert waited > 1.0 and "Dataset101_A is locked for planning and preprocessing by PID" in err
    assert str(holder.pid) in err


def test_a_killed_holder_does_not_block(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path))
    holder = _hold(str(tmp_path), "Dataset101_A", 60)
    holder.kill()
    holder.wait()
    start = time.time()
    with dataset_locks(["Dataset101_A"]):
        assert time.time() - start < 1.0
    assert "waiting" not in capsys.readouterr().err
    assert os.path.isfile(tmp_path / ".nnssl_locks" / "Dataset101_A.lock")
