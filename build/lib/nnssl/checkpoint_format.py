"""The pretraining checkpoint format: the one module that writes, reads and verifies nnssl checkpoints.

A checkpoint is nnU-Net's checkpoint dict (``network_weights``, ``optimizer_state``, ``logging``,
``current_epoch``, ``init_args``, ``trainer_name``, ...) plus

- ``ssl_heads``: the state dict of the method's heads (projectors, decoders), never transferred;
- ``nnssl_adaptation_record``: what fine-tuning needs (method, run name, plans, configuration, transfer
  prefixes, network), also written as ``adaptation_record.json`` beside a final checkpoint;
- ``nnssl_config``: the run's configuration (``PretrainConfig.to_json()``);
- ``nnssl_adaptation_plan``: MIC-DKFZ/nnssl's block, for their tooling;
- ``nnssl_term_log``, ``nnssl_term_weights``, ``nnssl_weight_movement``: curves and diagnostics.

``network_weights`` is the state dict of the plain plans-built network (unprefixed keys), so nnU-Net's own
``load_pretrained_weights`` accepts it. Trainers write through :func:`write`; the CLI, the fine-tune loader and the
benchmark read through :func:`read` (or the accessors below it).
"""

import hashlib
import os

from nnssl.interop import DKFZ_KEY
from nnssl.io import atomic_save_json, atomic_torch_save, safe_load

#: the record's ``format_version``; bump it when a key changes meaning
FORMAT_VERSION = 1
RECORD_KEY = "nnssl_adaptation_record"
CONFIG_KEY = "nnssl_config"
#: what every reader needs: the weights and the adaptation record, with the record's method and transfer prefixes
READ_REQUIRED = ("network_weights", RECORD_KEY)
RECORD_REQUIRED = ("method", "transfer_prefixes")
#: what a pretraining writes on top (nnssl_pretrain's resume and --continue read them)
WRITE_REQUIRED = (*READ_REQUIRED, "ssl_heads", CONFIG_KEY, "current_epoch")
RECORD_WRITTEN = ("format_version", *RECORD_REQUIRED, "run_name", "plans_identifier", "configuration")
RECORD_FILE = "adaptation_record.json"
FINAL = "checkpoint_final.pth"
_NAMES = {RECORD_KEY: f"adaptation record ('{RECORD_KEY}')", CONFIG_KEY: f"run configuration ('{CONFIG_KEY}')"}


def problems(checkpoint, required=READ_REQUIRED, record_required=RECORD_REQUIRED) -> list[str]:
    """What keeps ``checkpoint`` from being an nnssl checkpoint of this format with ``required`` keys (empty: none)."""
    if not isinstance(checkpoint, dict):
        return [f"it holds a {type(checkpoint).__name__}, not a checkpoint dict"]
    found = [f"no {_NAMES.get(k, repr(k))}" for k in required if k not in checkpoint]
    record = checkpoint.get(RECORD_KEY)
    if isinstance(record, dict):
        found += [f"its adaptation record has no '{k}'" for k in record_required if k not in record]
        version = record.get("format_version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            found.append(f"format_version {version} is newer than this nnssl reads ({FORMAT_VERSION}); upgrade nnssl")
    elif RECORD_KEY in checkpoint:
        found.append("its adaptation record is not a dict")
    return found


def verify(checkpoint: dict, path: str, required=READ_REQUIRED, record_required=RECORD_REQUIRED) -> None:
    """Raise ValueError naming ``path`` and every problem when ``checkpoint`` is not an nnssl checkpoint."""
    found = problems(checkpoint, required, record_required)
    if found:
        raise ValueError(f"{path} is not an nnssl pretraining checkpoint: {'; '.join(found)}. Give the "
                         f"{FINAL} that nnssl_pretrain wrote")


def write(checkpoint: dict, path: str) -> None:
    """Verify and atomically save ``checkpoint``; a final checkpoint also gets ``adaptation_record.json`` beside it.

    Raises:
        ValueError: when the dict misses a key of the format (nothing is written).
    """
    verify(checkpoint, path, WRITE_REQUIRED, RECORD_WRITTEN)
    atomic_torch_save(checkpoint, path)
    if os.path.basename(path) == FINAL:
        atomic_save_json(checkpoint[RECORD_KEY], os.path.join(os.path.dirname(path), RECORD_FILE))


def read(path: str, map_location="cpu", foreign: bool = False, required=READ_REQUIRED) -> dict:
    """The checkpoint at ``path``, loaded safely (tensors and plain data only) and verified.

    Args:
        foreign: also accept a MIC-DKFZ/nnssl checkpoint (network weights and their adaptation plan, no record).
        required: the top-level keys this reader needs (default: weights and record).

    Raises:
        ValueError: a file that is not a checkpoint of this format, naming what is missing.
    """
    checkpoint = safe_load(path, map_location=map_location)
    if foreign and isinstance(checkpoint, dict) and RECORD_KEY not in checkpoint and DKFZ_KEY in checkpoint \
            and "network_weights" in checkpoint:
        return checkpoint
    verify(checkpoint, path, required)
    return checkpoint


def record(path: str) -> dict:
    """The adaptation record of the checkpoint at ``path``."""
    return read(path)[RECORD_KEY]


def config(path: str) -> dict:
    """The run configuration recorded in the checkpoint at ``path``."""
    return read(path, required=(*READ_REQUIRED, CONFIG_KEY))[CONFIG_KEY]


def sha256(path: str) -> str:
    """The sha256 of the file at ``path`` (what a fine-tune records next to the checkpoint's path)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
