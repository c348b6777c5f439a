"""Pseudo labels from a teacher's class probabilities: the argmax where the teacher is sure, ``ignore`` elsewhere.

nnU-Net leaves voxels of the ``ignore`` label out of the loss (its dataset.json ``"ignore"`` entry, which must be the
highest label value), so a voxel whose top class probability is below the threshold teaches the student nothing
instead of teaching it the teacher's guess (Xie et al., CVPR 2020, noisy student; the confidence-filtered
pseudo labels of the FLARE challenges' nnU-Net baselines).
"""

import numpy as np


def ignore_value(labels: dict) -> int:
    """The value of the ``ignore`` label for a dataset.json ``labels`` dict: the existing one, else max + 1.

    Raises:
        ValueError: for region-based labels (lists), which pseudo-labelling does not support.
    """
    if "ignore" in labels:
        return int(labels["ignore"])
    values = []
    for name, value in labels.items():
        if isinstance(value, (list, tuple)):
            raise ValueError(f"label {name!r} is a region {value}; self-training supports plain integer labels only")
        values.append(int(value))
    return max(values) + 1


def pseudo_label(probabilities: np.ndarray, threshold: float, ignore: int,
                 class_values: list[int] | None = None) -> np.ndarray:
    """The teacher's label map with unsure voxels set to ``ignore``.

    Shape: probabilities (C, *S) over the classes in ``class_values`` order (default 0..C-1), summing to 1 over C.
    Returns (*S) uint8/int16 labels: ``class_values[argmax]`` where ``max >= threshold``, else ``ignore``.

    Raises:
        ValueError: a threshold outside [0, 1], or ``class_values`` of the wrong length.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    values = np.arange(probabilities.shape[0]) if class_values is None else np.asarray(class_values)
    if len(values) != probabilities.shape[0]:
        raise ValueError(f"{probabilities.shape[0]} probability channels but {len(values)} class values")
    best = probabilities.argmax(0)
    confident = probabilities.max(0) >= threshold
    dtype = np.uint8 if max(int(values.max()), ignore) < 256 else np.int16
    out = values[best].astype(dtype)
    out[~confident] = ignore
    return out


def confidence_stats(probabilities: np.ndarray, threshold: float) -> dict:
    """How much of a case the threshold keeps: the kept share of all voxels and of the teacher's foreground."""
    top = probabilities.max(0)
    foreground = probabilities.argmax(0) != 0
    kept = top >= threshold
    return {"kept": float(kept.mean()),
            "kept_foreground": float(kept[foreground].mean()) if foreground.any() else 1.0,
            "foreground_voxels": int(foreground.sum())}
