"""Pure functions that merge nnU-Net dataset fingerprints into one pooled fingerprint."""

from collections.abc import Sequence

import numpy as np

REQUIRED_KEYS = ("spacings", "shapes_after_crop", "foreground_intensity_properties_per_channel",
                 "median_relative_size_after_cropping")


def _merge_intensity(stats: Sequence[dict], weights: np.ndarray) -> dict:
    """Case-weighted merge of one channel's foreground statistics.

    mean and std are exact for the pooled foreground samples when every dataset contributed
    samples in proportion to its case count (what nnU-Net's extractor does per dataset); median
    and percentiles are case-weighted averages (an approximation, kept for the record only:
    each dataset is normalised with its own statistics).
    """
    w = weights / weights.sum()
    means = np.array([s["mean"] for s in stats])
    stds = np.array([s["std"] for s in stats])
    mean = float((w * means).sum())
    var = float((w * (stds**2 + (means - mean) ** 2)).sum())
    return {
        "mean": mean,
        "median": float((w * np.array([s["median"] for s in stats])).sum()),
        "std": float(np.sqrt(var)),
        "min": float(min(s["min"] for s in stats)),
        "max": float(max(s["max"] for s in stats)),
        "percentile_99_5": float((w * np.array([s["percentile_99_5"] for s in stats])).sum()),
        "percentile_00_5": float((w * np.array([s["percentile_00_5"] for s in stats])).sum()),
    }


def merge_fingerprints(fingerprints: Sequence[dict], names: Sequence[str] | None = None) -> dict:
    """Merge several nnU-Net dataset fingerprints as if they were one dataset.

    spacings and shapes_after_crop are concatenated (so the planner's medians are pooled medians),
    median_relative_size_after_cropping is the case-weighted median, and intensity statistics are
    merged per channel (see ``_merge_intensity``).

    Raises:
        ValueError: on an empty list, a fingerprint missing keys, or differing channel counts.
    """
    if not fingerprints:
        raise ValueError("merge_fingerprints needs at least one fingerprint")
    names = list(names) if names is not None else [f"#{i}" for i in range(len(fingerprints))]
    for fp, name in zip(fingerprints, names, strict=True):
        missing = [k for k in REQUIRED_KEYS if k not in fp]
        if missing:
            raise ValueError(f"fingerprint of {name} lacks {missing}; rerun nnU-Net's fingerprint extraction")
    channels = [len(fp["foreground_intensity_properties_per_channel"]) for fp in fingerprints]
    if len(set(channels)) != 1:
        detail = ", ".join(f"{n}: {c}" for n, c in zip(names, channels, strict=True))
        raise ValueError(f"datasets have different numbers of input channels ({detail}); a pool needs the same "
                         f"channels in every dataset")
    counts = np.array([len(fp["spacings"]) for fp in fingerprints], dtype=np.float64)
    rel = np.repeat([fp["median_relative_size_after_cropping"] for fp in fingerprints], counts.astype(int))
    intensity = {}
    for key in fingerprints[0]["foreground_intensity_properties_per_channel"]:
        stats = [fp["foreground_intensity_properties_per_channel"][key] for fp in fingerprints]
        intensity[key] = _merge_intensity(stats, counts)
    return {
        "spacings": [list(s) for fp in fingerprints for s in fp["spacings"]],
        "shapes_after_crop": [list(s) for fp in fingerprints for s in fp["shapes_after_crop"]],
        "foreground_intensity_properties_per_channel": intensity,
        "median_relative_size_after_cropping": float(np.median(rel)),
    }
