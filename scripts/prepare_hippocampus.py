"""Copy the benchmark data (../shared/data) into a temp nnUNet_raw.

601: 100 Hippocampus cases for pretraining, 602: the other 100 cases as the low-label target (never
pretrained on). The split is a seeded permutation (seed 0). 603: all 100 ACDC cases (cardiac cine MRI,
a different organ; its spacing is a 1 mm placeholder) as a cross-domain pretraining source.
The shared data is only read, never modified.

Usage: python scripts/prepare_hippocampus.py <nnUNet_raw> [--shared ../shared/data]
"""

import argparse
import json
import os
import random
import shutil


def copy_cases(src: str, dst: str, cases: list[str]) -> None:
    with open(os.path.join(src, "dataset.json")) as f:
        dj = json.load(f)
    fe = dj["file_ending"]
    for sub in ("imagesTr", "labelsTr"):
        os.makedirs(os.path.join(dst, sub), exist_ok=True)
    for c in cases:
        shutil.copy(os.path.join(src, "labelsTr", c + fe), os.path.join(dst, "labelsTr", c + fe))
        for ch in range(len(dj["channel_names"])):
            shutil.copy(os.path.join(src, "imagesTr", f"{c}_{ch:04d}{fe}"), os.path.join(dst, "imagesTr"))
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


if __name__ == "__main__":
    main()
