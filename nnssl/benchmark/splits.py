"""Nested, seeded label-fraction splits on top of nnU-Net's 5-fold cross-validation.

For each fold, the training cases are permuted once (seeded by seed and fold) and a fraction p keeps
the first ceil(p * n) of them, so 5 % is contained in 15 % in 50 % in 100 %; the validation cases of
the fold are never touched. The subsets are appended to nnU-Net's ``splits_final.json`` as extra
folds (5, 6, ...), the way nnU-Net supports custom splits, so ``nnUNetv2_train <id> <cfg> <fold>``
trains on them and nnU-Net's own validation scores the unchanged validation cases.
"""

import math
import os

import numpy as np

from nnssl.io import atomic_save_json, load_json


def label_fraction_splits(splits: list[dict], folds, fractions, seed: int = 0, cases=()) -> list[dict]:
    """Entries {fold, fraction, train, val} for every requested fold and fraction (percent) or case count.

    A case count n keeps the first n cases of the same permutation (so 1 in 2 in 4 cases in 5 %);
    its ``fraction`` is n as a percentage of the fold's training cases.

    Raises:
        ValueError: on a fraction outside (0, 100], a case count outside 1..len(train), or a fold the
            splits do not have.
    """
    bad = [f for f in fractions if not 0 < f <= 100]
    if bad:
        raise ValueError(f"label fractions must be percentages in (0, 100], got {bad}")
    bad = [n for n in cases if int(n) != n or n < 1]
    if bad:
        raise ValueError(f"--cases must be positive integers, got {bad}")
    missing = [f for f in folds if not 0 <= f < len(splits)]
    if missing:
        raise ValueError(f"folds {missing} not in the split file ({len(splits)} folds)")
    entries = []
    for fold in folds:
        train = sorted(splits[fold]["train"])
        order = np.random.default_rng([seed, fold]).permutation(len(train))
        too_many = [n for n in cases if n > len(train)]
        if too_many:
            raise ValueError(f"--cases {too_many}: fold {fold} has only {len(train)} training cases")
        amounts = {max(1, math.ceil(f / 100 * len(train))): f for f in fractions}
        amounts.update({int(n): 100 * int(n) / len(train) for n in cases})
        for n, fraction in sorted(amounts.items()):
            entries.append({"fold": fold, "fraction": fraction, "train": [train[i] for i in order[:n]],
                            "val": list(splits[fold]["val"])})
    return entries


def base_splits(preprocessed_dataset: str, data_identifier: str) -> list[dict]:
    """nnU-Net's 5-fold split of a dataset (the existing file's first five, or nnU-Net's own, seed 12345)."""
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    path = os.path.join(preprocessed_dataset, "splits_final.json")
    if os.path.isfile(path):
        return load_json(path)[:5]
    folder = os.path.join(preprocessed_dataset, data_identifier)
    ids = sorted({f.split(".")[0].removesuffix("_seg") for f in os.listdir(folder) if not f.endswith(".pkl")})
    return generate_crossval_split(ids, seed=12345, n_splits=5)


def register_splits(preprocessed_dataset: str, data_identifier: str, entries: list[dict]) -> list[int]:
    """Append the entries to ``splits_final.json`` (reusing identical ones); returns their fold ids.

    Folds 0-4 are left exactly as they were. Two benchmarks of one target may register side by side: the file is
    read, extended and written under an exclusive lock, so neither loses the other's folds (without it, both would
    append at the same index and one would train on the other's split).
    """
    from nnssl.planning.locks import exclusive

    path = os.path.join(preprocessed_dataset, "splits_final.json")
    with exclusive(path):
        splits = load_json(path) if os.path.isfile(path) else base_splits(preprocessed_dataset, data_identifier)
        ids = []
        for e in entries:
            split = {"train": sorted(e["train"]), "val": sorted(e["val"])}
            existing = [i for i, s in enumerate(splits) if i >= 5 and sorted(s["train"]) == split["train"]
                        and sorted(s["val"]) == split["val"]]
            if existing:
                ids.append(existing[0])
            else:
                splits.append(split)
                ids.append(len(splits) - 1)
        atomic_save_json(splits, path)
    return ids
