"""The checks of one raw case (``nnssl/planning/checks.py`` runs them on every case of every dataset): its NIfTI
files are whole, its image reads with nnU-Net's reader, has the declared channels and finite intensities, and its
label lies on the image's grid with declared values only."""

import os

import numpy as np

#: prefix of a case-level warning among check_case's problems
WARNING = "warning: "
#: an image with fewer voxels than this along an axis is suspicious (a 1x1x1 export); a warning, not an error
MIN_AXIS = 4
#: larger magnitudes overflow nnU-Net's float32 intensity statistics (x**2 summed over a case)
MAX_ABS_INTENSITY = 1e12
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
