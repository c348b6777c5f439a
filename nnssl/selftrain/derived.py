"""The student's dataset: a derived nnU-Net dataset with the target's plans, written beside and committed last.

Layout (``DatasetNNN_<target>_selftrain``, NNN the first free id in 800..899 unless given):

- ``imagesTr``/``labelsTr``: the fold's labelled cases and its validation cases (links to the target's raw files,
  never copies or edits), and every unlabelled image as ``pl_<case>`` with its pseudo label (``pseudo.py``);
- ``dataset.json``: the target's, with ``"ignore"`` added;
- in nnUNet_preprocessed: the target's plans file (same network, same preprocessing; no new planning), a
  ``splits_final.json`` with one fold: train = labelled + pseudo-labelled cases, val = the target fold's validation
  cases (so nnU-Net's validation scores the student on exactly the cases every other init is scored on), the data
  nnU-Net's own preprocessor writes, and last :data:`RECORD` (teacher, its checkpoint's sha256, threshold, round,
  cases): a dataset without a matching record is never used, and is written again.

A validation case never reaches the student's training set: :func:`check_no_leak` refuses an unlabelled image that
is a validation case by id or by content before anything is written.
"""

import hashlib
import os
import shutil

from nnssl.io import atomic_save_json, load_json
from nnssl.selftrain.pseudo import confidence_stats, ignore_value, pseudo_label

RECORD = "nnssl_selftrain.json"
PSEUDO_PREFIX = "pl_"
ID_RANGE = range(800, 900)
RESERVATIONS = "selftrain_ids"  # below nnUNet_preprocessed/.nnssl_locks: the ids handed out (find_dataset)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def case_images(raw_dataset: str, case: str, dataset_json: dict) -> list[str]:
    """The image files of one case of a raw dataset (one per channel)."""
    ending = dataset_json["file_ending"]
    return [os.path.join(raw_dataset, "imagesTr", f"{case}_{ch:04d}{ending}")
            for ch in range(len(dataset_json["channel_names"]))]


def unlabelled_from_folder(folder: str, dataset_json: dict) -> dict[str, list[str]]:
    """{case: image files} of a folder in nnU-Net's imagesTr naming (``CASE_0000.nii.gz`` ...).

    Raises:
        ValueError: an empty folder, or a case that misses a channel.
    """
    ending, n = dataset_json["file_ending"], len(dataset_json["channel_names"])
    if not os.path.isdir(folder):
        raise ValueError(f"-u {folder}: no such folder")
    cases = sorted({f[:-len(ending) - 5] for f in os.listdir(folder) if f.endswith(ending)
                    and f[-len(ending) - 5] == "_" and f[-len(ending) - 4:-len(ending)].isdigit()})
    if not cases:
        raise ValueError(f"-u {folder}: no images named CASE_0000{ending} (nnU-Net's imagesTr naming)")
    out = {}
    for case in cases:
        files = [os.path.join(folder, f"{case}_{ch:04d}{ending}") for ch in range(n)]
        missing = [f for f in files if not os.path.isfile(f)]
        if missing:
            raise ValueError(f"-u {folder}: case {case} misses {os.path.basename(missing[0])} (the target has {n} "
                             "channel(s))")
        out[case] = files
    return out


def check_no_leak(val: list[str], labelled: list[str], unlabelled: dict[str, list[str]], raw_target: str,
                  dataset_json: dict) -> None:
    """Refuse unlabelled images that are validation or labelled cases, by id or by file content.

    Raises:
        ValueError: naming the case and what it is.
    """
    clash = sorted(set(unlabelled) & set(val))
    if clash:
        raise ValueError(f"unlabelled case(s) {clash[:3]} are validation cases of this fold; a student trained on "
                         "them would be scored on what it saw. Remove them from the unlabelled images")
    clash = sorted(set(unlabelled) & set(labelled))
    if clash:
        raise ValueError(f"unlabelled case(s) {clash[:3]} are the fold's labelled cases; give only images without "
                         "labels")
    held = {file_sha256(f): c for c in val for f in case_images(raw_target, c, dataset_json)}
    for files in unlabelled.values():
        for f in files:
            if file_sha256(f) in held:
                raise ValueError(f"unlabelled image {f} is the image of validation case {held[file_sha256(f)]} under "
                                 "another name; remove it from the unlabelled images")


def find_dataset(key: dict, wanted_id: int | None = None) -> tuple[int, str, bool]:
    """(id, name, finished) of the derived dataset for ``key``: an existing one whose record matches, else a free id,
    reserved for ``key`` before this returns.

    Two self-trainings side by side (two folds of a benchmark) would otherwise both pick the first free id: their
    raw folders appear only after the teacher's prediction, minutes later. So the id is chosen and reserved
    (``nnUNet_preprocessed/.nnssl_locks/selftrain_ids/<id>.json`` holding the key) under an exclusive lock; a
    reservation counts as taken for every other key, and the same key (a rerun after a crash) finds it again.

    Raises:
        ValueError: ``wanted_id`` taken by another dataset, or no free id in 800..899.
    """
    from nnssl.planning.locks import LOCK_FOLDER, exclusive

    reservations = os.path.join(os.environ["nnUNet_preprocessed"], LOCK_FOLDER, RESERVATIONS)
    os.makedirs(reservations, exist_ok=True)
    with exclusive(reservations):
        reserved = {}
        for entry in os.listdir(reservations):
            if entry.endswith(".json") and entry[:-5].isdigit():
                reserved[int(entry[:-5])] = load_json(os.path.join(reservations, entry))
        found = _find(key, wanted_id, reserved)
        if found[0] not in reserved:
            atomic_save_json({"key": key, "name": found[1]}, os.path.join(reservations, f"{found[0]}.json"))
    return found


def _find(key: dict, wanted_id: int | None, reserved: dict[int, dict]) -> tuple[int, str, bool]:
    from nnssl.planning.datasets import raw_datasets

    raw, pre = os.environ["nnUNet_raw"], os.environ["nnUNet_preprocessed"]
    taken = raw_datasets()
    for d in ([wanted_id] if wanted_id is not None else ID_RANGE):
        for name in taken.get(d, []):
            record = os.path.join(raw, name, RECORD)
            if os.path.isfile(record) and load_json(record).get("key") == key:
                done = os.path.join(pre, name, RECORD)
                return d, name, os.path.isfile(done) and load_json(done).get("key") == key
        if wanted_id is not None and taken.get(d):
            raise ValueError(f"--student-id {d} is taken by {taken[d][0]}, which is not this self-training's dataset; "
                             "give a free id or leave it out")
    mine = [d for d, r in reserved.items() if r.get("key") == key and d not in taken]
    if mine and (wanted_id is None or wanted_id in mine):  # reserved by an earlier call of this key, never written
        d = wanted_id if wanted_id is not None else mine[0]
        return d, reserved[d]["name"], False
    if wanted_id is not None and wanted_id in reserved:
        raise ValueError(f"--student-id {wanted_id} is reserved by another self-training "
                         f"({reserved[wanted_id].get('name')}); give a free id or leave it out")
    import re

    used = set(taken) | set(reserved)
    for root in (pre, os.environ.get("nnUNet_results", "")):  # nnU-Net resolves an id in all three folders
        for entry in os.listdir(root) if root and os.path.isdir(root) else []:
            m = re.fullmatch(r"Dataset(\d{3})_.+", entry)
            used |= {int(m[1])} if m else set()
    free = [d for d in ID_RANGE if d not in used]
    if wanted_id is not None:
        free = [wanted_id]
    if not free:
        raise ValueError("no free dataset id in 800..899 for the student's dataset; give --student-id")
    target = key["target"].split("_", 1)[1] if "_" in key["target"] else key["target"]
    return free[0], f"Dataset{free[0]:03d}_{target}_selftrain", False


def write_pseudo_labels(predictions: str, cases: list[str], out: str, threshold: float, reader_writer,
                        labels: dict, class_values: list[int], ending: str) -> dict:
    """Write ``pl_<case>`` label files from the teacher's ``<case>.npz`` probabilities; returns the kept shares."""
    import numpy as np

    ignore = ignore_value(labels)
    stats = []
    for case in cases:
        seg, props = reader_writer.read_seg(os.path.join(predictions, case + ending))
        probabilities = np.load(os.path.join(predictions, case + ".npz"))["probabilities"]
        if tuple(probabilities.shape[1:]) != tuple(seg.shape[1:]):
            raise ValueError(f"teacher probabilities of {case} are {probabilities.shape[1:]}, its segmentation "
                             f"{seg.shape[1:]}: not the same image")
        reader_writer.write_seg(pseudo_label(probabilities, threshold, ignore, class_values),
                                os.path.join(out, f"{PSEUDO_PREFIX}{case}{ending}"), props)
        stats.append(confidence_stats(probabilities, threshold))
    return {"kept": float(np.mean([s["kept"] for s in stats])),
            "kept_foreground": float(np.mean([s["kept_foreground"] for s in stats]))}


def write_raw(name: str, key: dict, raw_target: str, dataset_json: dict, unlabelled: dict[str, list[str]],
              pseudo_writer) -> None:
    """Write the derived raw dataset beside (a hidden folder), then rename it into place.

    ``pseudo_writer(labels_folder) -> dict`` writes the ``pl_*`` label files and returns their statistics.
    """
    raw = os.environ["nnUNet_raw"]
    final, tmp = os.path.join(raw, name), os.path.join(raw, f".partial_{name}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "imagesTr")), os.makedirs(os.path.join(tmp, "labelsTr"))
    ending = dataset_json["file_ending"]
    for case in [*key["labelled"], *key["val"]]:
        for ch, f in enumerate(case_images(raw_target, case, dataset_json)):
            os.symlink(os.path.abspath(f), os.path.join(tmp, "imagesTr", f"{case}_{ch:04d}{ending}"))
        os.symlink(os.path.abspath(os.path.join(raw_target, "labelsTr", case + ending)),
                   os.path.join(tmp, "labelsTr", case + ending))
    for case, files in unlabelled.items():
        for ch, f in enumerate(files):
            os.symlink(os.path.abspath(f), os.path.join(tmp, "imagesTr", f"{PSEUDO_PREFIX}{case}_{ch:04d}{ending}"))
    stats = pseudo_writer(os.path.join(tmp, "labelsTr"))
    labels = dict(dataset_json["labels"])
    labels.setdefault("ignore", ignore_value(labels))
    total = len(key["labelled"]) + len(key["val"]) + len(unlabelled)
    derived = {**dataset_json, "labels": labels, "numTraining": total,
               "description": f"nnssl self-training round {key['round']} of {key['target']} (see {RECORD})"}
    atomic_save_json(derived, os.path.join(tmp, "dataset.json"))
    atomic_save_json({"key": key, "pseudo_labels": stats}, os.path.join(tmp, RECORD))
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.replace(tmp, final)


def preprocess(name: str, key: dict, plans_file: str, configuration: str) -> None:
    """Give the derived dataset the target's plans and split, preprocess it with nnU-Net, and write the record last.

    The plans are the target's file with ``dataset_name`` changed, so the network and the preprocessing are the
    target's; nnU-Net's ``preprocess_dataset`` writes the data (replacing a half-written one) and the gt copies.
    """
    from nnunetv2.experiment_planning.plan_and_preprocess_api import preprocess_dataset

    raw, pre = os.environ["nnUNet_raw"], os.environ["nnUNet_preprocessed"]
    folder = os.path.join(pre, name)
    record = os.path.join(folder, RECORD)
    if os.path.isfile(record):
        os.remove(record)  # from here until the end this dataset is unfinished
    os.makedirs(folder, exist_ok=True)
    plans = load_json(plans_file)
    plans["dataset_name"] = name
    plans_name = plans["plans_name"]
    atomic_save_json(plans, os.path.join(folder, f"{plans_name}.json"))
    shutil.copyfile(os.path.join(raw, name, "dataset.json"), os.path.join(folder, "dataset.json"))
    fingerprint = os.path.join(os.path.dirname(plans_file), "dataset_fingerprint.json")
    if os.path.isfile(fingerprint):  # the target's (the plans came from it); nnUNetv2_train copies it to the results
        shutil.copyfile(fingerprint, os.path.join(folder, "dataset_fingerprint.json"))
    pseudo = [f"{PSEUDO_PREFIX}{c}" for c in key["unlabelled"]]
    atomic_save_json([{"train": sorted([*key["labelled"], *pseudo]), "val": sorted(key["val"])}],
                     os.path.join(folder, "splits_final.json"))
    dataset_id = int(name[len("Dataset"):len("Dataset") + 3])
    preprocess_dataset(dataset_id, plans_name, (configuration,), (1,), show_progress_bar=False)
    shutil.copyfile(os.path.join(raw, name, RECORD), record)
