"""Synthetic pooled datasets in nnU-Net raw layout (the project's embedded default).

Each dataset draws a different family of structures, so label 1 of one dataset means something
else than label 1 of another (as in a real pool of liver / pancreas / kidney datasets). Images
carry a body outline, smooth texture, a multiplicative bias field and Gaussian noise.
"""

import json
import os
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True)
class SyntheticSpec:
    """One synthetic dataset: id, name, structure family, number of cases."""

    dataset_id: int
    name: str
    family: str
    num_cases: int
    num_test: int = 0


FAMILIES = ("blobs", "shells", "tubes", "organ_lesion")
LABELS = {
    "blobs": {"background": 0, "large_blob": 1, "small_blob": 2},
    "shells": {"background": 0, "shell": 1, "core": 2},
    "tubes": {"background": 0, "tube": 1},
    "organ_lesion": {"background": 0, "organ": 1, "lesion": 2},
}


def _grid(shape):
    return np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij")


def _ellipsoid(shape, centre, radii):
    g = _grid(shape)
    return sum(((g[i] - centre[i]) / radii[i]) ** 2 for i in range(3)) <= 1.0


def _labels(family: str, shape, rng: np.random.Generator) -> np.ndarray:
    seg = np.zeros(shape, dtype=np.uint8)
    s = np.array(shape, dtype=np.float32)
    if family == "blobs":
        seg[_ellipsoid(shape, s * rng.uniform(0.35, 0.5, 3), s * rng.uniform(0.15, 0.25, 3))] = 1
        seg[_ellipsoid(shape, s * rng.uniform(0.6, 0.75, 3), s * rng.uniform(0.07, 0.12, 3))] = 2
    elif family == "shells":
        c, r = s * rng.uniform(0.4, 0.6, 3), s * rng.uniform(0.2, 0.3, 3)
        seg[_ellipsoid(shape, c, r)] = 1
        seg[_ellipsoid(shape, c, r * rng.uniform(0.45, 0.65))] = 2
    elif family == "tubes":
        g = _grid(shape)
        axis = rng.integers(3)
        others = [i for i in range(3) if i != axis]
        t = g[axis] / s[axis]
        amp, phase = rng.uniform(0.05, 0.15), rng.uniform(0, 2 * np.pi)
        c0 = s[others[0]] * (0.5 + amp * np.sin(2 * np.pi * t + phase))
        c1 = s[others[1]] * rng.uniform(0.4, 0.6)
        radius = min(s) * rng.uniform(0.08, 0.14)
        seg[(g[others[0]] - c0) ** 2 + (g[others[1]] - c1) ** 2 <= radius**2] = 1
    elif family == "organ_lesion":
        c, r = s * rng.uniform(0.4, 0.6, 3), s * rng.uniform(0.22, 0.32, 3)
        organ = _ellipsoid(shape, c, r)
        seg[organ] = 1
        lesion = _ellipsoid(shape, c + r * rng.uniform(-0.3, 0.3, 3), r * rng.uniform(0.35, 0.5))
        seg[lesion & organ] = 2
    else:
        raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")
    return seg


def _image(seg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shape = seg.shape
    s = np.array(shape, dtype=np.float32)
    body = _ellipsoid(shape, s / 2, s * 0.48)
    texture = gaussian_filter(rng.normal(size=shape).astype(np.float32), 2.0) * 8
    img = np.where(body, 100.0, 10.0).astype(np.float32) + texture
    for label in range(1, int(seg.max()) + 1):
        img[seg == label] += rng.uniform(40, 80) * (1 if label % 2 else -1)
    g = _grid(shape)
    bias = 1 + 0.2 * sum(rng.uniform(-1, 1) * (g[i] / s[i] - 0.5) for i in range(3))
    img = img * bias + rng.normal(0, 6, size=shape)
    return gaussian_filter(img, 0.6).astype(np.float32)


def write_dataset(raw_root: str, spec: SyntheticSpec, shape=(40, 48, 40), spacing=(1.0, 1.0, 1.0),
                  seed: int = 0) -> str:
    """Write one synthetic dataset into ``raw_root/DatasetXXX_Name`` (nnU-Net raw layout).

    Returns:
        The dataset folder. An existing folder is left untouched (never overwrite raw data).
    Raises:
        ValueError: on an unknown family or an id outside 1..999.
    """
    if spec.family not in FAMILIES:
        raise ValueError(f"unknown family {spec.family!r}; choose one of {FAMILIES}")
    if not 1 <= spec.dataset_id <= 999:
        raise ValueError(f"dataset_id must be in 1..999, got {spec.dataset_id}")
    folder = os.path.join(raw_root, f"Dataset{spec.dataset_id:03d}_{spec.name}")
    if os.path.isdir(folder):
        return folder
    tmp = folder + ".tmp"
    os.makedirs(os.path.join(tmp, "imagesTr"), exist_ok=True)
    os.makedirs(os.path.join(tmp, "labelsTr"), exist_ok=True)
    if spec.num_test:
        os.makedirs(os.path.join(tmp, "imagesTs"), exist_ok=True)
        os.makedirs(os.path.join(tmp, "labelsTs"), exist_ok=True)
    rng = np.random.default_rng(seed + 1000 * spec.dataset_id)
    for i in range(spec.num_cases + spec.num_test):
        jitter = rng.integers(-4, 5, 3)
        case_shape = tuple(int(a + b) for a, b in zip(shape, jitter, strict=True))
        seg = _labels(spec.family, case_shape, rng)
        img = _image(seg, rng)
        split = "Tr" if i < spec.num_cases else "Ts"
        names = (f"images{split}/case_{i:03d}_0000.nii.gz", f"labels{split}/case_{i:03d}.nii.gz")
        for arr, path in zip((img, seg), names, strict=True):
            # nnU-Net's SimpleITK reader reverses axes; write (z, y, x) so arrays read back as given
            itk = sitk.GetImageFromArray(arr)
            itk.SetSpacing(tuple(float(x) for x in spacing[::-1]))
            sitk.WriteImage(itk, os.path.join(tmp, path))
    dataset_json = {
        "channel_names": {"0": "MRI"},
        "labels": LABELS[spec.family],
        "numTraining": spec.num_cases,
        "file_ending": ".nii.gz",
        "name": spec.name,
        "description": f"nnssl synthetic dataset ({spec.family})",
    }
    with open(os.path.join(tmp, "dataset.json"), "w") as f:
        json.dump(dataset_json, f, indent=2)
    os.replace(tmp, folder)
    return folder


DEMO_POOL = (
    SyntheticSpec(101, "SynthBlobs", "blobs", 8),
    SyntheticSpec(102, "SynthShells", "shells", 8),
    SyntheticSpec(103, "SynthTubes", "tubes", 8),
)
DEMO_TARGET = SyntheticSpec(200, "SynthOrganLesion", "organ_lesion", 10, num_test=4)


def write_demo_pool(raw_root: str, num_cases: int | None = None, target_cases: int | None = None,
                    shape=(40, 48, 40), seed: int = 0) -> list[str]:
    """Write the demo pool (101, 102, 103) and target (200). Returns the dataset folders."""
    specs = [SyntheticSpec(s.dataset_id, s.name, s.family, num_cases or s.num_cases) for s in DEMO_POOL]
    t = DEMO_TARGET
    specs.append(SyntheticSpec(t.dataset_id, t.name, t.family, target_cases or t.num_cases, t.num_test))
    return [write_dataset(raw_root, s, shape=shape, seed=seed) for s in specs]
