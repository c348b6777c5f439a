"""Preprocess beside the current data, then swap: a failed or interrupted run never costs the good data.

nnU-Net's ``DefaultPreprocessor.run`` deletes a configuration's output folder (``<data_identifier>/``) before it
writes the first new case, so a crash mid-way (a bad plan, a full disk, Ctrl-C) would leave a dataset with half its
cases and no way back. Here the preprocessor writes into ``<data_identifier>.partial`` under a temporary plans file
that names that folder; only when every configuration is complete does each folder replace the old one (two
renames, then the old copy is deleted) and the real plans file get written. Until then the old folder and the old
plans file are untouched.
"""
from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable, Sequence

from nnssl.io import atomic_save_json

PARTIAL, OLD = ".partial", ".old"


def _leftovers(folder: str, identifier: str) -> list[str]:
    return [p for p in (os.path.join(folder, identifier + s) for s in (PARTIAL, OLD)) if os.path.isdir(p)]


def preprocess_beside(folder: str, plans: dict, plans_name: str, configurations: Sequence[str],
                      run: Callable[[str, tuple], None]) -> None:
    """Run ``run(temporary_plans_name, configurations)`` so that it writes beside the data, then swap it in.

    folder: the dataset's nnUNet_preprocessed folder; plans: the new plans (written to ``<plans_name>.json`` only
    on success); run: the preprocessing call (nnU-Net's ``preprocess_dataset`` or nnssl's label-free one), which
    reads the plans by name. On any exception the partial folders and the temporary plans file are removed and the
    exception propagates; the old data and plans are as they were.
    """
    configurations = tuple(configurations)
    identifiers = {c: plans["configurations"][c]["data_identifier"] for c in configurations}
    for identifier in set(identifiers.values()):  # an interrupted earlier swap
        final = os.path.join(folder, identifier)
        for path in _leftovers(folder, identifier):
            if path.endswith(OLD) and not os.path.isdir(final):
                os.replace(path, final)  # it died between the two renames: the old data is the last complete one
            else:
                shutil.rmtree(path)
    temporary = copy.deepcopy(plans)
    for c, identifier in identifiers.items():
        temporary["configurations"][c]["data_identifier"] = identifier + PARTIAL
    temporary_name = plans_name + PARTIAL
    temporary_file = os.path.join(folder, temporary_name + ".json")
    atomic_save_json(temporary, temporary_file)
    try:
        run(temporary_name, configurations)
        for c in configurations:
            if not os.path.isdir(os.path.join(folder, identifiers[c] + PARTIAL)):
                raise RuntimeError(f"preprocessing {c} wrote no {identifiers[c] + PARTIAL} folder in {folder}")
    except BaseException:
        for identifier in set(identifiers.values()):
            shutil.rmtree(os.path.join(folder, identifier + PARTIAL), ignore_errors=True)
        os.remove(temporary_file)
        raise
    for identifier in set(identifiers.values()):
        final = os.path.join(folder, identifier)
        if os.path.isdir(final):
            os.replace(final, final + OLD)
        os.replace(final + PARTIAL, final)
        shutil.rmtree(final + OLD, ignore_errors=True)
    atomic_save_json(plans, os.path.join(folder, plans_name + ".json"))
    os.remove(temporary_file)
