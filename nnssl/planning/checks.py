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

import numpy as np

from nnssl.io import atomic_save_json, load_json
from nnssl.planning.freshness import raw_stamp

#: larger magnitudes overflow nnU-Net's float32 intensity statistics (x**2 summed over a case)
MAX_ABS_INTENSITY = 1e12
#: warn when fewer than this share of a labelled dataset's cases have any foreground
MOSTLY_EMPTY = 0.5
REQUIRED_KEYS = ("labels", "channel_names", "numTraining", "file_ending")
CHECK_FOLDER = ".nnssl_input_checks"
CHECK_VERSION = 3
MAX_LISTED = 20
#: an image with fewer voxels than this along an axis is suspicious (a 1x1x1 export); a warning, not an error
MIN_AXIS = 4
#: prefix of a case-level warning among check_case's problems
WARNING = "warning: "


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


#: absolute tolerance for origin and direction of a label against its image (mm and direction cosines)
GEOMETRY_ATOL = 1e-4


def nifti_problems(path: str) -> tuple[list[str], bool]:
    """Problems a reader may hide in a NIfTI file: a truncated (or short) file, and NaN/inf voxels (ITK's reader
    turns them into 0). Returns (problems, whether the file is NIfTI); other formats are left to their reader."""
    import gzip
    import io

    import nibabel as nib

    if not path.endswith((".nii", ".nii.gz")):
        return [], False
    if os.path.getsize(path) == 0:
        return [f"{path} is empty (0 bytes; truncated); copy or export it again"], True
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                blob = f.read()  # decompress fully: a truncated stream raises here
        else:
            with open(path, "rb") as f:
                blob = f.read()
        header = nib.Nifti1Header.from_fileobj(io.BytesIO(blob))
    except Exception as e:  # gzip, nibabel (WrapStructError, HeaderDataError, ...): the file is the problem
        return [f"{path} is truncated or corrupt ({type(e).__name__}: {e}); copy or export it again"], True
    needed = int(header.get_data_offset()) + int(np.prod(header.get_data_shape())) * header.get_data_dtype().itemsize
    if len(blob) < needed:
        return [f"{path} holds {len(blob)} bytes but its header needs {needed} (a truncated file); copy or export "
                "it again"], True
    problems = []
    if np.issubdtype(header.get_data_dtype(), np.floating):
        data = np.asanyarray(nib.Nifti1Image.from_bytes(blob).dataobj)
        n_nan, n_inf = int(np.isnan(data).sum()), int(np.isinf(data).sum())
        if n_nan or n_inf:
            problems.append(f"{n_nan} NaN and {n_inf} infinite voxel(s) in {path} (some readers turn them into 0); "
                            "replace them with a real intensity (e.g. the image minimum)")
    return problems, True


def _geometry(props: dict) -> dict:
    """Origin and direction as the reader reports them (SimpleITK; nibabel's affine), for comparison."""
    if "sitk_stuff" in props:
        return {k: np.asarray(props["sitk_stuff"][k], dtype=float) for k in ("origin", "direction")}
    if "nibabel_stuff" in props:
        return {"affine": np.asarray(props["nibabel_stuff"].get("original_affine"), dtype=float)}
    return {}


def check_case(case: str, image_files: list[str], label_file: str | None, reader_writer_class,
               expected_labels: list[int], num_channels: int) -> tuple[list[str], bool | None, int | None]:
    """Problems of one case, whether its label has foreground (None: no label read) and the image's
    dimensionality (2 for a 2D file, which nnU-Net reads with the placeholder spacing 999; None: unreadable)."""
    problems = []
    empty = [f for f in image_files + ([label_file] if label_file else []) if os.path.getsize(f) == 0]
    if empty:
        return [f"case {case}: {f} is empty (0 bytes); copy or export it again" for f in empty], None, None
    raw_problems = [nifti_problems(f) for f in image_files + ([label_file] if label_file else [])]
    broken = [p for ps, _ in raw_problems for p in ps if "truncated" in p]
    if broken:
        return [f"case {case}: {p}" for p in broken], None, None
    rw = reader_writer_class()
    try:
        images, props = rw.read_images(image_files)
    except Exception as e:  # any reader failure is a problem of this case, reported with the rest
        return [f"case {case}: cannot read {image_files}: {type(e).__name__}: {e}"], None, None
    ndim = 2 if float(props["spacing"][0]) == 999 else 3
    spatial = images.shape[1:] if ndim == 3 else images.shape[2:]
    if min(spatial) < MIN_AXIS:
        problems.append(f"{WARNING}case {case}: the image is only {'x'.join(map(str, spatial))} voxels; nnU-Net pads "
                        "it to the patch, so it teaches almost nothing. Check that it is the image you meant")
    if images.shape[0] != num_channels:
        problems.append(f"case {case}: {images.shape[0]} channel(s), dataset.json declares {num_channels}")
    finite = np.isfinite(images)
    if not finite.all():
        n_nan, n_inf = int(np.isnan(images).sum()), int(np.isinf(images).sum())
        problems.append(f"case {case}: {n_nan} NaN and {n_inf} infinite voxel(s) in {image_files}; replace them "
                        f"with a real intensity (e.g. the image minimum)")
    else:  # the reader saw none: the raw file may still hold them (ITK's NIfTI reader writes 0 instead)
        problems += [f"case {case}: {p}" for ps, _ in raw_problems[:len(image_files)] for p in ps]
    if finite.any():
        largest = float(np.abs(images[finite]).max())
        if largest > MAX_ABS_INTENSITY:
            problems.append(f"case {case}: intensities up to {largest:.3g} (limit {MAX_ABS_INTENSITY:.0e}); nnU-Net's "
                            f"float32 statistics overflow and the case preprocesses to zeros. Rescale the image")
    if label_file is None:
        return problems, None, ndim
    try:
        seg, seg_props = rw.read_seg(label_file)
    except Exception as e:
        return [*problems, f"case {case}: cannot read label {label_file}: {type(e).__name__}: {e}"], None, ndim
    if seg.shape[1:] != images.shape[1:]:
        problems.append(f"case {case}: label shape {tuple(seg.shape[1:])} != image shape {tuple(images.shape[1:])}")
    elif not np.allclose(seg_props["spacing"], props["spacing"]):
        problems.append(f"case {case}: label spacing {seg_props['spacing']} != image spacing {props['spacing']}")
    ours, theirs = _geometry(props), _geometry(seg_props)
    for key in sorted(set(ours) & set(theirs)):  # nnU-Net warns; a flipped or shifted label trains on wrong voxels
        if ours[key].shape != theirs[key].shape or not np.allclose(ours[key], theirs[key], atol=GEOMETRY_ATOL):
            problems.append(f"case {case}: label {key} {theirs[key].round(4).tolist()} != image {key} "
                            f"{ours[key].round(4).tolist()}; resample or re-export the label onto its image's grid "
                            f"({label_file})")
    values = np.unique(seg)
    declared = sorted(int(v) for v in expected_labels)
    unexpected = [int(v) if float(v).is_integer() else float(v) for v in values if v not in declared]
    if unexpected:
        problems.append(f"case {case}: label value(s) {unexpected} not declared in dataset.json 'labels' "
                        f"({declared}); declare them or fix the label file {label_file}")
    return problems, bool((seg > 0).any()), ndim


def check_dataset(name: str, needs_labels: bool, num_processes: int = 1) -> DatasetCheck:
    """Check one raw dataset (``$nnUNet_raw/<name>``); see the module docstring for what is checked."""
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json
    from nnunetv2.utilities.label_handling.label_handling import LabelManager
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    folder = os.path.join(os.environ["nnUNet_raw"], name)
    result = DatasetCheck(name)
    dj = load_json(os.path.join(folder, "dataset.json"))
    missing_keys = [k for k in REQUIRED_KEYS if k not in dj]
    if missing_keys:
        result.problems.append(f"dataset.json lacks {missing_keys} (nnU-Net needs {list(REQUIRED_KEYS)})")
        return result
    if "dataset" not in dj and not os.path.isdir(os.path.join(folder, "imagesTr")):
        result.problems.append(f"no imagesTr folder in {folder}")
        return result
    cases = get_filenames_of_train_images_and_targets(folder, dj)
    result.num_cases = len(cases)
    images_folder = os.path.join(folder, "imagesTr")
    other_endings = sorted({f[f.index("."):] for f in os.listdir(images_folder) if "." in f
                            and not f.endswith(dj["file_ending"])}) if os.path.isdir(images_folder) else []
    if not cases and other_endings:
        result.problems.append(f"file_ending is {dj['file_ending']!r} in dataset.json, but imagesTr holds "
                               f"{other_endings} files; set file_ending to the ending of your files")
        return result
    if len(cases) != int(dj["numTraining"]):
        result.problems.append(f"numTraining is {dj['numTraining']} in dataset.json but {len(cases)} training "
                               f"case(s) were found; correct numTraining")
    if not cases:
        return result
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
        return result

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
        return result
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
    result.labelled = result.has_label_files and result.cases_with_foreground > 0
    if not result.labelled and needs_labels:
        why = "has no labelsTr" if not result.has_label_files else "has no foreground in any label file"
        result.problems.append(f"{why}, but this method's label term needs labels; pass --allow-unlabelled (MixCL "
                               f"without the label term), or -m global_local / -m regression, or remove it")
    elif result.labelled and result.cases_with_foreground < MOSTLY_EMPTY * result.num_cases:
        result.warnings.append(f"only {result.cases_with_foreground} of {result.num_cases} cases have any "
                               f"foreground; the label term sees few labelled pairs from this dataset")
    return result


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
