"""Check raw datasets before any expensive work: one error that lists every problem found.

nnU-Net's ``verify_dataset_integrity`` prints problems one category at a time and stops at the
first failing category; it also misses infinite values and values so large that float32 statistics
overflow (an image scaled by 1e30 preprocesses to all zeros). :func:`check_inputs` reads every case
once with nnU-Net's own reader, collects every problem of every dataset, and raises a single
``ValueError`` naming dataset, case and fix. What it checks per dataset:

- dataset.json has nnU-Net's required keys; the number of training cases matches ``numTraining``;
  every image file (and, where labels exist, every label file) is present;
- per case: every NIfTI file decompresses fully and is as long as its header says (a truncated .nii.gz reads
  as zeros otherwise); the image reads, has the declared number of channels, holds only finite values below
  :data:`MAX_ABS_INTENSITY` (NIfTI files are also read with nibabel, since ITK's reader turns NaN/inf into 0);
  the label has the image's shape, spacing, origin and direction (:data:`GEOMETRY_ATOL`) and only declared
  values; a 2D image among 3D ones is an error;
- per dataset: the share of cases with any foreground. None at all makes the dataset unlabelled
  (an error where the method needs labels); fewer than :data:`MOSTLY_EMPTY` is a warning.

A dataset without ``labelsTr`` is unlabelled; that is fine for methods that need no labels.
A passing check is remembered in ``nnUNet_preprocessed/.nnssl_input_checks/<dataset>.json`` (outside
the dataset's own folder, which stays untouched) with the size and modification time of every file it
read, so an unchanged dataset is not read again.
"""

import multiprocessing
import os
import sys
from dataclasses import asdict, dataclass, field

from nnssl.io import atomic_save_json, load_json
from nnssl.planning.case_checks import (  # noqa: F401  (importable from here, as before)
    GEOMETRY_ATOL,
    MAX_ABS_INTENSITY,
    MIN_AXIS,
    WARNING,
    check_case,
    nifti_problems,
)
from nnssl.planning.freshness import raw_stamp

#: warn when fewer than this share of a labelled dataset's cases have any foreground
MOSTLY_EMPTY = 0.5
REQUIRED_KEYS = ("labels", "channel_names", "numTraining", "file_ending")
CHECK_FOLDER = ".nnssl_input_checks"
CHECK_VERSION = 3
MAX_LISTED = 20


@dataclass
class DatasetCheck:
    """Outcome of :func:`check_dataset` for one raw dataset."""

    name: str
    num_cases: int = 0
    labelled: bool = True  # has label files with foreground in at least one case
    has_label_files: bool = True
    cases_with_foreground: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_dataset(name: str, needs_labels: bool, num_processes: int = 1) -> DatasetCheck:
    """Check one raw dataset (``$nnUNet_raw/<name>``); see the module docstring for what is checked."""
    folder = os.path.join(os.environ["nnUNet_raw"], name)
    result = DatasetCheck(name)
    dj = load_json(os.path.join(folder, "dataset.json"))
    cases = _find_cases(folder, dj, result)
    if cases:
        _read_cases(cases, dj, result, num_processes)
        _judge_labels(result, needs_labels)
    return result


def _find_cases(folder: str, dj: dict, result: DatasetCheck) -> dict | None:
    """The dataset's cases, or None when files are missing or declared wrongly (the problems go into ``result``)."""
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    missing_keys = [k for k in REQUIRED_KEYS if k not in dj]
    if missing_keys:
        result.problems.append(f"dataset.json lacks {missing_keys} (nnU-Net needs {list(REQUIRED_KEYS)})")
        return None
    if "dataset" not in dj and not os.path.isdir(os.path.join(folder, "imagesTr")):
        result.problems.append(f"no imagesTr folder in {folder}")
        return None
    cases = get_filenames_of_train_images_and_targets(folder, dj)
    result.num_cases = len(cases)
    images_folder = os.path.join(folder, "imagesTr")
    other_endings = sorted({f[f.index("."):] for f in os.listdir(images_folder) if "." in f
                            and not f.endswith(dj["file_ending"])}) if os.path.isdir(images_folder) else []
    if not cases and other_endings:
        result.problems.append(f"file_ending is {dj['file_ending']!r} in dataset.json, but imagesTr holds "
                               f"{other_endings} files; set file_ending to the ending of your files")
        return None
    if len(cases) != int(dj["numTraining"]):
        result.problems.append(f"numTraining is {dj['numTraining']} in dataset.json but {len(cases)} training "
                               f"case(s) were found; correct numTraining")
    if not cases:
        return None
    result.has_label_files = "dataset" in dj or os.path.isdir(os.path.join(folder, "labelsTr"))
    missing_images = [i for c in cases.values() for i in c["images"] if not os.path.isfile(i)]
    if missing_images:
        result.problems.append(f"{len(missing_images)} image file(s) missing, e.g. {missing_images[:3]}; each case "
                               f"needs one file per channel (_0000, _0001, ...)")
    missing_labels = [c["label"] for c in cases.values() if not os.path.isfile(c["label"])]
    if result.has_label_files and missing_labels:
        result.problems.append(f"{len(missing_labels)} label file(s) missing, e.g. {missing_labels[:3]}; add them or "
                               f"remove the cases")
    if missing_images or (result.has_label_files and missing_labels):
        return None
    return cases


def _read_cases(cases: dict, dj: dict, result: DatasetCheck, num_processes: int) -> None:
    """Read every case once with nnU-Net's reader (:func:`check_case`) and collect problems, warnings, foreground."""
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

    label_manager = LabelManager(dj["labels"], regions_class_order=dj.get("regions_class_order"))
    expected = list(label_manager.all_labels)
    if label_manager.has_ignore_label:
        expected.append(label_manager.ignore_label)
    channels = len(dj["channel_names"])
    example = next((i for c in cases.values() for i in c["images"] if os.path.getsize(i) > 0), None)
    try:  # nnU-Net tries its readers on one file: take one that is not empty
        reader = determine_reader_writer_from_dataset_json(dj, example)
    except Exception as e:
        result.problems.append(f"no nnU-Net reader reads {example} ({type(e).__name__}: {str(e).splitlines()[0]}); "
                               f"check the files and file_ending {dj['file_ending']!r}")
        return
    jobs = [(k, c["images"], c["label"] if result.has_label_files else None, reader, expected, channels)
            for k, c in cases.items()]
    if num_processes > 1:
        with multiprocessing.get_context("spawn").Pool(num_processes) as pool:
            outcomes = pool.starmap(check_case, jobs)
    else:
        outcomes = [check_case(*job) for job in jobs]
    for problems, has_fg, _ in outcomes:
        result.problems.extend(p for p in problems if not p.startswith(WARNING))
        result.warnings.extend(p[len(WARNING):] for p in problems if p.startswith(WARNING))
        result.cases_with_foreground += bool(has_fg)
    dims = [d for _, _, d in outcomes if d is not None]
    if 2 in dims and 3 in dims:  # nnU-Net would preprocess a 2D file as a (1, 999, ...) volume
        for case, (_, _, d) in zip(cases, outcomes, strict=True):
            if d == 2:
                result.problems.append(f"case {case}: a 2D image (no third axis) in a dataset of 3D images; export "
                                       "it as a 3D volume or remove it")


def _judge_labels(result: DatasetCheck, needs_labels: bool) -> None:
    """Labelled or not, and whether that suits the method."""
    result.labelled = result.has_label_files and result.cases_with_foreground > 0
    if not result.labelled and needs_labels:
        why = "has no labelsTr" if not result.has_label_files else "has no foreground in any label file"
        result.problems.append(f"{why}, but this method's label term needs labels; pass --allow-unlabelled (MixCL "
                               f"without the label term), or -m global_local / -m regression, or remove it")
    elif result.labelled and result.cases_with_foreground < MOSTLY_EMPTY * result.num_cases:
        result.warnings.append(f"only {result.cases_with_foreground} of {result.num_cases} cases have any "
                               f"foreground; the label term sees few labelled pairs from this dataset")


def _cache_file(name: str) -> str:
    return os.path.join(os.environ["nnUNet_preprocessed"], CHECK_FOLDER, f"{name}.json")


def _cached(name: str, stamp: list, needs_labels: bool) -> DatasetCheck | None:
    path = _cache_file(name)
    if not os.path.isfile(path):
        return None
    try:
        saved = load_json(path)
    except (OSError, ValueError):
        return None
    if saved.get("version") != CHECK_VERSION or saved.get("files") != stamp or \
            (needs_labels and not saved["result"]["labelled"]):
        return None
    return DatasetCheck(**saved["result"])


def check_inputs(names: dict[int, str], needs_labels: dict[int, bool], num_processes: int = 1,
                 use_cache: bool = True) -> dict[int, DatasetCheck]:
    """Check every dataset; print warnings; raise one ValueError listing every problem.

    Args:
        names: dataset id -> raw folder name, sources and target.
        needs_labels: dataset id -> whether the run needs label foreground in it.
    Raises:
        ValueError: naming every dataset and case with a problem and how to fix it.
    """
    results = {}
    for d, name in names.items():
        stamp = raw_stamp(name) if use_cache else None
        cached = _cached(name, stamp, needs_labels[d]) if use_cache else None
        results[d] = cached or check_dataset(name, needs_labels[d], num_processes)
        if use_cache and not cached and not results[d].problems:
            atomic_save_json({"version": CHECK_VERSION, "files": stamp, "result": asdict(results[d])},
                             _cache_file(name))
    for r in results.values():
        for w in r.warnings:
            print(f"nnssl: warning: {r.name}: {w}", file=sys.stderr)
    lines = [f"  {r.name}: {p}" for r in results.values() for p in r.problems]
    if lines:
        shown = lines[:MAX_LISTED] + ([f"  ... and {len(lines) - MAX_LISTED} more"] if len(lines) > MAX_LISTED else [])
        raise ValueError(f"{len(lines)} problem(s) in the input datasets; nothing was planned or written. "
                         f"Fix them (or pass --skip-input-check at your own risk):\n" + "\n".join(shown))
    return results
