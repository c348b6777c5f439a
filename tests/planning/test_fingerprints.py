"""The pure fingerprint merge."""

import numpy as np
import pytest

from nnssl.planning.fingerprints import merge_fingerprints


def fingerprint(samples: np.ndarray, n_cases: int, spacing: float, shape: int, rel: float) -> dict:
    return {
        "spacings": [[spacing, 1.0, 1.0]] * n_cases,
        "shapes_after_crop": [[shape, 20, 20]] * n_cases,
        "median_relative_size_after_cropping": rel,
        "foreground_intensity_properties_per_channel": {"0": {
            "mean": float(samples.mean()), "std": float(samples.std()), "median": float(np.median(samples)),
            "min": float(samples.min()), "max": float(samples.max()),
            "percentile_99_5": float(np.percentile(samples, 99.5)),
            "percentile_00_5": float(np.percentile(samples, 0.5))}},
    }


def test_merge_concatenates_cases_and_pools_moments_exactly():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 3 * 1000)  # 3 cases, samples proportional to cases
    b = rng.normal(5, 3, 5 * 1000)  # 5 cases
    merged = merge_fingerprints([fingerprint(a, 3, 1.0, 10, 0.9), fingerprint(b, 5, 3.0, 30, 0.5)])
    assert len(merged["spacings"]) == 8 and len(merged["shapes_after_crop"]) == 8
    assert np.median(np.array(merged["spacings"])[:, 0]) == 3.0
    both = np.concatenate([a, b])
    stats = merged["foreground_intensity_properties_per_channel"]["0"]
    assert stats["mean"] == pytest.approx(both.mean(), rel=1e-9)
    assert stats["std"] == pytest.approx(both.std(), rel=1e-9)
    assert stats["min"] == both.min() and stats["max"] == both.max()
    assert merged["median_relative_size_after_cropping"] == 0.5


def test_merge_of_one_is_identity_on_planning_keys():
    fp = fingerprint(np.arange(10.0), 2, 1.5, 12, 0.7)
    merged = merge_fingerprints([fp])
    for k in ("spacings", "shapes_after_crop", "median_relative_size_after_cropping"):
        assert merged[k] == fp[k]


def test_channel_mismatch_and_missing_keys_raise():
    fp1 = fingerprint(np.arange(5.0), 1, 1, 1, 1)
    fp2 = fingerprint(np.arange(5.0), 1, 1, 1, 1)
    fp2["foreground_intensity_properties_per_channel"]["1"] = fp2["foreground_intensity_properties_per_channel"]["0"]
    with pytest.raises(ValueError, match="different numbers of input channels"):
        merge_fingerprints([fp1, fp2], ["A", "B"])
    with pytest.raises(ValueError, match="lacks"):
        merge_fingerprints([{"spacings": []}], ["A"])
    with pytest.raises(ValueError, match="at least one"):
        merge_fingerprints([])
