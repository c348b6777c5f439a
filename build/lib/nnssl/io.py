"""Atomic writers: a crash or bad input never leaves a half-written plan or checkpoint behind."""

import json
import os
import tempfile

import torch


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it (os.umask can only set it)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _atomic_target(path: str):
    """A temp file beside ``path`` with the mode ``path`` has, or a new file's (0o666 minus the umask): mkstemp's
    0o600 would make plans and checkpoints unreadable to the rest of a group, unlike nnU-Net's own files."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", dir=folder)
    os.close(fd)
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o666 & ~_umask()
    os.chmod(tmp, mode)
    return tmp


def atomic_save_json(obj, path: str) -> None:
    """Write JSON to a temp file in the same folder, then rename over ``path``."""
    tmp = _atomic_target(path)
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save`` to a temp file in the same folder, then rename over ``path``."""
    tmp = _atomic_target(path)
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def remove_stale_temp_files(folder: str) -> list[str]:
    """Delete temp files that a killed save left in ``folder`` (``.tmp_*`` and ``*.partial``).

    Call it only where no other process is saving into ``folder`` (a run's start, rank 0).
    Returns the removed paths.
    """
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if (name.startswith(".tmp_") or name.endswith(".partial")) and os.path.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed


def load_json(path: str):
    """Read a JSON file."""
    with open(path) as f:
        return json.load(f)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type when the message is empty."""
    lines = str(error).splitlines()
    return lines[0] if lines and lines[0].strip() else type(error).__name__


def safe_load(path: str, map_location="cpu") -> dict:
    """``torch.load`` with ``weights_only=True``: tensors and plain data only, never arbitrary objects.

    NumPy scalars and dtypes (nnU-Net's logger writes them into its checkpoints) are allowed as well.
    A checkpoint from an untrusted source therefore cannot run code when it is loaded.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the path when the file is truncated or not a checkpoint, or when it holds
            objects other than tensors and plain data (possibly a malicious file).
    """
    import pickle

    import numpy as np
    import torch

    if os.path.isdir(path):
        raise ValueError(f"checkpoint {path} is a folder; point to the checkpoint_final.pth inside it")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if os.path.getsize(path) == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes); re-run the step that wrote it, or point to another "
                         "file")
    allowed = [np.dtype, np.core.multiarray.scalar, *(type(np.dtype(t)) for t in ("float64", "float32", "int64"))]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        import zipfile

        if not zipfile.is_zipfile(path):  # torch writes zip archives: this one is truncated or not a checkpoint
            raise ValueError(f"{path} could not be read as a checkpoint (truncated or not a torch file?). Re-run the "
                             "step that wrote it, or point to another file") from None
        raise ValueError(f"{path} holds objects other than tensors and plain data, so it is not loaded (a "
                         f"checkpoint can run code when unpickled). If you trust the file and need it, "
                         f"re-save its tensors with torch.save; details: {first_line(e)}") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"{path} could not be read as a checkpoint (truncated or not a torch file?): "
                         f"{first_line(e)}. Re-run the step that wrote it, or point to another "
                         f"file") from None
