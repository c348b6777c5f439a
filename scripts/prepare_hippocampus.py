"""Copy the benchmark data (../shared/data) into a temp nnUNet_raw.

601: 100 Hippocampus cases for pretraining, 602: the other 100 cases as the low-label target (never
pretrained on). The split is a seeded permutation (seed 0). 603: all 100 ACDC cases (cardiac cine MRI,
a different organ; its spacing is a 1 mm placeholder) as a cross-domain pretraining source. 604: the 6 BraTS6
brain MRIs, channel 0 (T1c) only, tumour labels (same region and modality as the target, other structures).
605: the images of 601 without labelsTr (the same-domain unlabelled pool).
The shared data is only read, never modified.

Usage: python scripts/prepare_hippocampus.py <nnUNet_raw> [--shared ../shared/data]
"""

import argparse
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("raw")
    p.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    args = p.parse_args()
    src = os.path.join(args.shared, "Dataset004_Hippocampus")
    if not os.path.isdir(src):
        raise SystemExit(f"{src} not found: the benchmark needs ../shared/data (see its README)")
    cases = sorted(f[:-7] for f in os.listdir(os.path.join(src, "labelsTr")) if f.endswith(".nii.gz"))
    perm = cases[:]
    random.Random(0).shuffle(perm)
    half = len(perm) // 2
    for did, subset in ((601, perm[:half]), (602, perm[half:])):
        dst = os.path.join(args.raw, f"Dataset{did}_Hippocampus")
        if os.path.isdir(dst):
            print(f"{dst} exists, left as is")
            continue
        copy_cases(src, dst, sorted(subset))
        print(f"{dst}: {len(subset)} cases")
    acdc = os.path.join(args.shared, "Dataset027_ACDC")
    dst = os.path.join(args.raw, "Dataset603_ACDC")
    if not os.path.isdir(acdc):
        print(f"{acdc} not found: no ACDC pool")
    elif os.path.isdir(dst):
        print(f"{dst} exists, left as is")
    else:
        cases = sorted(f[:-7] for f in os.listdir(os.path.join(acdc, "labelsTr")) if f.endswith(".nii.gz"))
        copy_cases(acdc, dst, cases)
        print(f"{dst}: {len(cases)} cases")
    brats = os.path.join(args.shared, "Dataset005_BraTS6")
    dst = os.path.join(args.raw, "Dataset604_BraTS6T1c")
    if not os.path.isdir(brats):
        print(f"{brats} not found: no BraTS6 pool")
    elif os.path.isdir(dst):
        print(f"{dst} exists, left as is")
    else:
        cases = sorted(f[:-7] for f in os.listdir(os.path.join(brats, "labelsTr")) if f.endswith(".nii.gz"))
        copy_cases(brats, dst, cases, channels=[0])  # T1c: one channel, like the Hippocampus target
        print(f"{dst}: {len(cases)} cases, channel 0 (T1c)")
    dst = os.path.join(args.raw, "Dataset605_HippocampusUnlabelled")
    if os.path.isdir(dst):
        print(f"{dst} exists, left as is")
    else:
        copy_cases(src, dst, sorted(perm[:half]), labels=False)  # 601's images, no labels
        print(f"{dst}: {half} cases, no labels")


if __name__ == "__main__":
    main()
