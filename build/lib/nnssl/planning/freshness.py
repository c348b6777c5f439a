"""Skip work whose inputs did not change: preprocessing per plan, fingerprints per raw data.

Every ``nnssl_pretrain`` call plans the pool again (cheap), but preprocessing a dataset costs about
a minute, and a fingerprint reads every case. After preprocessing, nnssl writes a record
``nnUNet_preprocessed/<dataset>/nnssl_preprocessed_<data_identifier>.json`` holding a digest of what
the result depends on: the configuration's preprocessing fields (spacing, normalisation, resampling,
data identifier, ...; not the batch size or the architecture), the dataset's intensity statistics,
axis order and image reader, and the size and modification time of every raw file. The next call
preprocesses again only when one of these changed, and says which. A fingerprint is recomputed
when the raw files changed since it was taken.
"""

import hashlib
import json
import os

from nnssl.io import atomic_save_json, load_json

#: configuration fields that do not change the preprocessed data
NOT_PREPROCESSING = ("batch_size", "architecture", "batch_dice")
PLAN_FIELDS = ("foreground_intensity_properties_per_channel", "transpose_forward", "image_reader_writer")
FINGERPRINT_RECORD = "nnssl_fingerprint_raw.json"


def digest(obj) -> str:
    """Stable sha256 of a JSON-serialisable object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def raw_stamp(name: str) -> list:
    """[path, size, mtime_ns] of dataset.json and every file in imagesTr/labelsTr of a raw dataset."""
    folder = os.path.join(os.environ["nnUNet_raw"], name)
    paths = [os.path.join(folder, "dataset.json")]
    for sub in ("imagesTr", "labelsTr"):
        d = os.path.join(folder, sub)
        if os.path.isdir(d):
            paths += [os.path.join(d, f) for f in os.listdir(d)]
    out = []
    for p in sorted(paths):
        try:
            st = os.stat(p)
            out.append([os.path.relpath(p, folder), st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([os.path.relpath(p, folder), None, None])
    return out


def preprocessing_inputs(plans: dict, configuration: str, raw: list) -> dict:
    """What the preprocessed data of one configuration depends on, as named parts."""
    conf = {k: v for k, v in plans["configurations"][configuration].items() if k not in NOT_PREPROCESSING}
    return {"configuration": digest(conf), **{f: digest(plans.get(f)) for f in PLAN_FIELDS}, "raw data": digest(raw)}


def _record(name: str, data_identifier: str) -> str:
    return os.path.join(os.environ["nnUNet_preprocessed"], name, f"nnssl_preprocessed_{data_identifier}.json")


def stale_reason(name: str, plans: dict, configuration: str, raw: list) -> str | None:
    """Why this dataset's configuration must be preprocessed again, or None when it is up to date."""
    data_identifier = plans["configurations"][configuration]["data_identifier"]
    folder = os.path.join(os.environ["nnUNet_preprocessed"], name, data_identifier)
    record = _record(name, data_identifier)
    if not os.path.isdir(folder) or not os.listdir(folder):
        return "no preprocessed data yet"
    if not os.path.isfile(record):
        return "no record of the plan it was preprocessed with"
    old = load_json(record)
    changed = [k for k, v in preprocessing_inputs(plans, configuration, raw).items() if old.get(k) != v]
    return f"changed since the last preprocessing: {', '.join(changed)}" if changed else None


def mark_preprocessed(name: str, plans: dict, configuration: str, raw: list) -> None:
    """Record the inputs of a finished preprocessing."""
    data_identifier = plans["configurations"][configuration]["data_identifier"]
    atomic_save_json(preprocessing_inputs(plans, configuration, raw), _record(name, data_identifier))


def fingerprint_is_current(name: str, raw: list) -> bool:
    """Whether ``dataset_fingerprint.json`` exists and was taken from the raw files as they are now.

    A fingerprint without a record (taken by nnU-Net or an older nnssl) counts as current.
    """
    pre = os.path.join(os.environ["nnUNet_preprocessed"], name)
    if not os.path.isfile(os.path.join(pre, "dataset_fingerprint.json")):
        return False
    record = os.path.join(pre, FINGERPRINT_RECORD)
    return not os.path.isfile(record) or load_json(record).get("raw data") == digest(raw)


def mark_fingerprint(name: str, raw: list) -> None:
    """Record which raw files the fingerprint was taken from."""
    atomic_save_json({"raw data": digest(raw)},
                     os.path.join(os.environ["nnUNet_preprocessed"], name, FINGERPRINT_RECORD))
