"""Plans identifiers that name what a fine-tune or pretraining starts from: copies of nnssl's plan under another name.

nnU-Net names a run's folder ``<trainer>__<plans identifier>__<configuration>``, so the plans identifier is where
nnssl puts the identity of a run. Two kinds of copies, both of the same plan (same ``data_identifier``: the same
preprocessed data, nothing preprocessed again), both marked with ``plans["nnssl"]["alias_of"]``:

- the target's ``nnUNetPlans.json``: nnssl's plan under nnU-Net's default identifier, so the stock commands need no
  ``-p`` (only where the user has no plans of that name);
- ``<plans>_<run>.json`` for a run named with ``--run-name``, in the pool and in the target, with
  ``plans["nnssl"]["run"]``: the pretraining trains into ``<Trainer>__<plans>_<run>__<configuration>`` and the
  fine-tune trainers load that run's checkpoint, so each named run's results have their own folders.

A file of either name that nnssl did not write is never replaced.
"""

import copy
import os

from nnssl.io import atomic_save_json, load_json

#: nnU-Net's default plans identifier: what nnUNetv2_train/predict use without -p
DEFAULT_PLANS = "nnUNetPlans"


def default_plans_alias(target_name: str, plans_name: str) -> str | None:
    """Let stock commands without ``-p`` find nnssl's plan: write it as the target's ``nnUNetPlans.json``.

    The alias is the same plan (same ``data_identifier``, so the same preprocessed data and no
    re-preprocessing) under nnU-Net's default identifier. A ``nnUNetPlans.json`` that nnssl did not
    write is never replaced: then this returns None and the commands need ``-p <plans_name>``.
    Returns the alias path when it exists (written now or before by nnssl).
    """
    if plans_name == DEFAULT_PLANS:
        return None
    folder = os.path.join(os.environ["nnUNet_preprocessed"], target_name)
    alias = os.path.join(folder, f"{DEFAULT_PLANS}.json")
    if os.path.isfile(alias) and load_json(alias).get("nnssl", {}).get("alias_of") != plans_name:
        return None  # the user's own plans (or an alias of other nnssl plans): leave them alone
    plans = copy.deepcopy(load_json(os.path.join(folder, f"{plans_name}.json")))
    plans["plans_name"] = DEFAULT_PLANS
    plans.setdefault("nnssl", {})["alias_of"] = plans_name
    atomic_save_json(plans, alias)
    return alias


def run_plans_name(plans_name: str, run_name: str, method: str) -> str:
    """The plans identifier a run trains and is fine-tuned under: ``plans_name`` for the method's own run, else
    ``<plans_name>_<run_name>``."""
    return plans_name if run_name == method else f"{plans_name}_{run_name}"


def write_run_plans(dataset_name: str, plans_name: str, run_name: str) -> str:
    """Write (or refresh) ``<plans_name>_<run_name>.json`` in a dataset's preprocessed folder: its plans under the
    run's identifier, naming the run. Returns the identifier.

    Raises:
        ValueError: a plans file of that name exists that is not nnssl's copy for this run (naming the fix).
    """
    check_run_plans_free(dataset_name, plans_name, run_name)
    folder = os.path.join(os.environ["nnUNet_preprocessed"], dataset_name)
    name = f"{plans_name}_{run_name}"
    path = os.path.join(folder, f"{name}.json")
    plans = copy.deepcopy(load_json(os.path.join(folder, f"{plans_name}.json")))
    plans["plans_name"] = name
    plans.setdefault("nnssl", {}).update(alias_of=plans_name, run=run_name)
    atomic_save_json(plans, path)
    return name


def check_run_plans_free(dataset_name: str, plans_name: str, run_name: str) -> None:
    """Raise ValueError when ``<plans_name>_<run_name>.json`` exists in the dataset's preprocessed folder and is not
    nnssl's copy for that run (``nnssl_pretrain`` calls this before any work)."""
    path = os.path.join(os.environ["nnUNet_preprocessed"], dataset_name, f"{plans_name}_{run_name}.json")
    if os.path.isfile(path):
        block = load_json(path).get("nnssl") or {}
        if block.get("alias_of") != plans_name or block.get("run") != run_name:
            raise ValueError(f"{path} exists and is not nnssl's plans for run {run_name!r}; choose another "
                             "--run-name (nnssl never replaces plans it did not write)")


def run_of(plans: dict) -> str | None:
    """The run a plans identifier names (``--run-name``), or None for nnssl's own plans and the default alias."""
    return (plans.get("nnssl") or {}).get("run")
