"""Planning and preprocessing of unlabelled datasets (no ``labelsTr``, or labels that are all background).

nnU-Net 2.8.1 assumes labelled training cases: its fingerprint takes intensity statistics from
foreground voxels (none here: ``IndexError``), and its preprocessor reads a label file per case.
For such datasets nnssl

- computes the same fingerprint with the image's nonzero region standing in for the foreground
  (:func:`fingerprint_without_labels`; the keys and statistics are nnU-Net's), and
- where there are no label files at all, writes background-only labels into
  ``nnUNet_preprocessed/<dataset>/nnssl_empty_labels`` and points the preprocessed copy of
  dataset.json at them through nnU-Net's ``dataset`` key (:func:`write_preprocessing_dataset_json`).

The raw dataset is never written.
"""

import os

import numpy as np

from nnssl.io import atomic_save_json, load_json

EMPTY_LABELS = "nnssl_empty_labels"
MAX_SAMPLES_PER_CASE = 1_000_000
PERCENTILES = (0.5, 50.0, 99.5)


def _cases(name: str) -> tuple[dict, dict]:
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    folder = os.path.join(os.environ["nnUNet_raw"], name)
    dj = load_json(os.path.join(folder, "dataset.json"))
    return dj, get_filenames_of_train_images_and_targets(folder, dict(dj))


def _reader(dj: dict, cases: dict):
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json

    return determine_reader_writer_from_dataset_json(dj, next(iter(cases.values()))["images"][0])


def channel_statistics(samples: np.ndarray) -> dict:
    """nnU-Net's per-channel intensity record from a 1-D sample of voxel values."""
    p005, median, p995 = np.percentile(samples, PERCENTILES)
    return {"mean": float(np.mean(samples)), "median": float(median), "std": float(np.std(samples)),
            "min": float(np.min(samples)), "max": float(np.max(samples)),
            "percentile_99_5": float(p995), "percentile_00_5": float(p005)}


def fingerprint_without_labels(name: str) -> dict:
    """Write and return nnU-Net's ``dataset_fingerprint.json`` for a dataset without foreground labels.

    Identical to nnU-Net's extractor (crop to the nonzero region, spacing, shape after crop, relative
    size) except that intensity samples come from the nonzero region instead of the foreground.
    """
    from nnunetv2.preprocessing.cropping.cropping import crop_to_nonzero

    dj, cases = _cases(name)
    rw = _reader(dj, cases)()
    rng = np.random.RandomState(1234)
    per_case = min(MAX_SAMPLES_PER_CASE, int(10e7 // max(1, len(cases))))
    spacings, shapes, relative, samples = [], [], [], []
    for case in cases.values():
        images, props = rw.read_images(case["images"])
        cropped, seg, _ = crop_to_nonzero(images, None)
        inside = seg[0] == 0
        samples.append([rng.choice(c[inside], per_case, replace=True) if inside.any() else c.ravel()[:0]
                        for c in cropped])
        spacings.append([float(s) for s in props["spacing"]])
        shapes.append([int(s) for s in cropped.shape[1:]])
        relative.append(float(np.prod(cropped.shape[1:]) / np.prod(images.shape[1:])))
    stats = {}
    for i in range(len(dj["channel_names"])):
        values = np.concatenate([s[i] for s in samples])
        if values.size == 0:
            raise ValueError(f"{name}: every image is all zeros in channel {i}; nothing to pretrain on")
        stats[str(i)] = channel_statistics(values)
    fingerprint = {"spacings": spacings, "shapes_after_crop": shapes,
                   "foreground_intensity_properties_per_channel": stats,
                   "median_relative_size_after_cropping": float(np.median(relative))}
    atomic_save_json(fingerprint, os.path.join(os.environ["nnUNet_preprocessed"], name, "dataset_fingerprint.json"))
    return fingerprint


def write_preprocessing_dataset_json(name: str, has_label_files: bool) -> str:
    """Write ``nnUNet_preprocessed/<name>/dataset.json``, the copy nnU-Net's preprocessor reads.

    With label files it is the raw dataset.json unchanged. Without, every case gets a background-only
    label (same grid as its first image) in ``nnssl_empty_labels`` and the copy lists the cases with
    nnU-Net's ``dataset`` key. Returns the written path.
    """
    pre = os.path.join(os.environ["nnUNet_preprocessed"], name)
    dj, cases = _cases(name)
    out = os.path.join(pre, "dataset.json")
    if has_label_files:
        atomic_save_json(dj, out)
        return out
    rw = _reader(dj, cases)()
    label_dir = os.path.join(pre, EMPTY_LABELS)
    os.makedirs(label_dir, exist_ok=True)
    listing = {}
    for key, case in cases.items():
        label = os.path.join(label_dir, key + dj["file_ending"])
        if not os.path.isfile(label):
            images, props = rw.read_images(case["images"][:1])
            tmp = os.path.join(label_dir, ".tmp_" + key + dj["file_ending"])
            rw.write_seg(np.zeros(images.shape[1:], dtype=np.uint8), tmp, props)
            os.replace(tmp, label)
        listing[key] = {"images": [os.path.abspath(i) for i in case["images"]], "label": label}
    atomic_save_json({**dj, "dataset": listing}, out)
    return out


def preprocess_without_label_files(dataset_id: int, plans_name: str, configurations, num_processes: int) -> None:
    """nnU-Net's ``preprocess_dataset`` minus its last step (copying raw labels to gt_segmentations,
    which do not exist here); the preprocessor reads the cases from the copy of dataset.json."""
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    name = convert_id_to_dataset_name(dataset_id)
    plans = PlansManager(os.path.join(os.environ["nnUNet_preprocessed"], name, f"{plans_name}.json"))
    for c in configurations:
        configuration = plans.get_configuration(c)
        configuration.preprocessor_class(verbose=False).run(dataset_id, c, plans_name, num_processes=num_processes)
