"""The benchmark's raw datasets, copied from ../shared/data into an nnUNet_raw (never modified there).

601: 100 Hippocampus cases for pretraining, 602: the other 100 cases as the low-label target (never
pretrained on). The split is a seeded permutation (seed 0). 603: all 100 ACDC cases (cardiac cine MRI,
a different organ; its spacing is a 1 mm placeholder) as a cross-domain pretraining source. 604: the 6 BraTS6
brain MRIs, channel 0 (T1c) only, tumour labels (same region and modality as the target, other structures).
605: the images of 601 without labelsTr (the same-domain unlabelled pool).
The shared data is only read, never modified.

``scripts/prepare_hippocampus.py`` and protocols with ``prepare = "shared_hippocampus"`` call
:func:`prepare_hippocampus`. Existing dataset folders are left as they are.
"""

import json
import os
import random
import shutil


def copy_cases(src: str, dst: str, cases: list[str], channels: list[int] | None = None,
               labels: bool = True) -> None:
    """Copy ``cases`` of dataset ``src`` to ``dst``: only ``channels`` (renumbered from 0; default all), and
    without labelsTr unless ``labels``."""
    with open(os.path.join(src, "dataset.json")) as f:
        dj = json.load(f)
    fe = dj["file_ending"]
    channels = list(range(len(dj["channel_names"]))) if channels is None else channels
    for sub in ("imagesTr", "labelsTr") if labels else ("imagesTr",):
        os.makedirs(os.path.join(dst, sub), exist_ok=True)
    for c in cases:
        if labels:
            shutil.copy(os.path.join(src, "labelsTr", c + fe), os.path.join(dst, "labelsTr", c + fe))
        for new, ch in enumerate(channels):
            shutil.copy(os.path.join(src, "imagesTr", f"{c}_{ch:04d}{fe}"),
                        os.path.join(dst, "imagesTr", f"{c}_{new:04d}{fe}"))
    dj["channel_names"] = {str(new): dj["channel_names"][str(ch)] for new, ch in enumerate(channels)}
    if not labels:
        dj["labels"] = {"background": 0}
    dj["numTraining"] = len(cases)
    with open(os.path.join(dst, "dataset.json"), "w") as f:
        json.dump(dj, f, indent=2)


def default_shared() -> str:
    """``../shared/data`` next to this checkout."""
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))


def prepare_hippocampus(raw: str, shared: str | None = None) -> list[str]:
    """Write 601-605 (see the module docstring) into ``raw``; returns one line per dataset.

    Raises:
        ValueError: when the shared Hippocampus folder is missing.
    """
    shared = shared or default_shared()
    lines = []
    src = os.path.join(shared, "Dataset004_Hippocampus")
    if not os.path.isdir(src):
        raise ValueError(f"{src} not found: the benchmark needs ../shared/data (see its README)")
    cases = sorted(f[:-7] for f in os.listdir(os.path.join(src, "labelsTr")) if f.endswith(".nii.gz"))
    perm = cases[:]
    random.Random(0).shuffle(perm)
    half = len(perm) // 2

    def make(did: int, name: str, source: str, subset, note: str, **kwargs) -> None:
        dst = os.path.join(raw, f"Dataset{did}_{name}")
        if not os.path.isdir(source):
            lines.append(f"{source} not found: no dataset {did}")
        elif os.path.isdir(dst):
            lines.append(f"{dst} exists, left as is")
        else:
            subset = subset if subset is not None else sorted(
                f[:-7] for f in os.listdir(os.path.join(source, "labelsTr")) if f.endswith(".nii.gz"))
            copy_cases(source, dst, sorted(subset), **kwargs)
            lines.append(f"{dst}: {len(subset)} cases{note}")

    make(601, "Hippocampus", src, perm[:half], "")
    make(602, "Hippocampus", src, perm[half:], "")
    make(603, "ACDC", os.path.join(shared, "Dataset027_ACDC"), None, "")
    make(604, "BraTS6T1c", os.path.join(shared, "Dataset005_BraTS6"), None, ", channel 0 (T1c)", channels=[0])
    make(605, "HippocampusUnlabelled", src, perm[:half], ", no labels", labels=False)
    return lines
