"""Atomic writers: a crash or bad input never leaves a half-written plan or checkpoint behind."""

import json
import os
import tempfile

import torch


def _atomic_target(path: str):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", dir=folder)
    os.close(fd)
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


def load_json(path: str):
    """Read a JSON file."""
    with open(path) as f:
        return json.load(f)
