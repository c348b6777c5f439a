"""How often the pretraining loaders draw each pooled case.

``cases`` (the default) is nnU-Net's uniform draw over cases, so a source dataset is drawn in proportion to
its size: pooling 300 kidney CTs with 30 pancreas CTs gives the pancreas one pair in eleven. ``datasets``
weights every case by ``1 / (n_datasets * n_cases_of_its_dataset)``, so each source dataset is drawn equally
often (the spec's "choose dataset D_i, then image I1 in D_i") and small datasets are seen more often per case.
The probabilities go to nnU-Net's own ``sampling_probabilities`` of its data loader.
"""

from collections import Counter

import numpy as np

from nnssl.case_ids import case_dataset_id

#: how the pretraining loaders draw the cases of a pool
SAMPLING_MODES = ("cases", "datasets")


def case_probabilities(identifiers, mode: str) -> np.ndarray | None:
    """Draw probability of each case in ``identifiers`` (pooled ids ``D<id>__<case>``), aligned with it.

    Returns:
        None for ``cases`` (nnU-Net's uniform draw), else an array of len(identifiers) that sums to 1.

    Raises:
        ValueError: for an unknown ``mode``.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"dataset_sampling must be one of {', '.join(SAMPLING_MODES)}, got {mode!r}")
    if mode == "cases":
        return None
    ids = [case_dataset_id(k) for k in identifiers]
    sizes = Counter(ids)
    return np.array([1.0 / (len(sizes) * sizes[d]) for d in ids])


def describe_sampling(identifiers, mode: str) -> str:
    """One log line: each source dataset's case count and share of the draws."""
    ids = [case_dataset_id(k) for k in identifiers]
    sizes = Counter(ids)
    share = {d: (1 / len(sizes) if mode == "datasets" else n / len(ids)) for d, n in sizes.items()}
    parts = ", ".join(f"{d}: {sizes[d]} cases, {share[d]:.0%} of draws" for d in sorted(sizes))
    return f"case sampling '{mode}' ({parts})"
