"""What a pretraining run leaves behind: its checkpoint recorded in the target's plans, its configuration in the
pool's plans, the checks that a checkpoint is finished and sound, and ``--overwrite``'s setting aside."""

import dataclasses
import json
import os

import torch

from nnssl.io import atomic_save_json, load_json
from nnssl.planning.aliases import write_run_plans
from nnssl.run_config import PretrainConfig


def record_checkpoint(target_name: str, plans_name: str, configuration: str, run_name: str, method: str,
                      path: str, label_map: dict | None = None) -> str | None:
    """Record the checkpoint in the target's plans (per configuration and run) for the fine-tune trainers and
    refresh the plans identifiers that name it; ``label_map`` ({target label: (dataset, label)}, from
    ``--label-map``) replaces the plans' class map. Returns the identifier fine-tuning needs with ``-p`` (None:
    none, the target's ``nnUNetPlans.json`` is nnssl's alias of the default run)."""
    from nnssl.planning.aliases import default_plans_alias

    plans_file = os.path.join(os.environ["nnUNet_preprocessed"], target_name, f"{plans_name}.json")
    plans = load_json(plans_file)
    plans.setdefault("nnssl", {}).setdefault("pretrained", {}).setdefault(configuration, {})[run_name] = path
    if label_map:
        plans["nnssl"]["label_map"] = {str(t): [int(d), int(v)] for t, (d, v) in sorted(label_map.items())}
    atomic_save_json(plans, plans_file)
    if run_name != method:
        return write_run_plans(target_name, plans_name, run_name)
    return None if default_plans_alias(target_name, plans_name) is not None else plans_name


def record_run_config(pool_name: str, plans_name: str, run_key: str, config: dict) -> None:
    """Keep the run configuration in the pool's plans, where a stock ``nnUNetv2_train --c`` finds it."""
    plans_file = os.path.join(os.environ["nnUNet_preprocessed"], pool_name, f"{plans_name}.json")
    plans = load_json(plans_file)
    plans.setdefault("nnssl", {}).setdefault("runs", {})[run_key] = config
    atomic_save_json(plans, plans_file)


def remove_finished(folder: str) -> None:
    """--overwrite: move the finished checkpoints aside (nnU-Net would otherwise not start over)."""
    for name in ("checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            os.replace(path, path + ".replaced")


def check_written(path: str) -> None:
    """Raise ValueError unless ``path`` exists, loads safely and holds only finite weights."""
    from nnssl import checkpoint_format

    weights = checkpoint_format.read(path)["network_weights"]
    bad = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"{path} holds non-finite weights ({bad[0]} and {len(bad) - 1} more); it was not recorded "
                         f"for fine-tuning. Re-run with a lower --lr")


def already_finished(checkpoint: str, config: PretrainConfig) -> bool:
    """Whether ``--continue`` has nothing to do: ``checkpoint`` finished ``config.epochs`` epochs with exactly
    this config (then nnU-Net would only load it and write it again)."""
    from nnssl import checkpoint_format

    if not os.path.isfile(checkpoint):
        return False
    state = checkpoint_format.read(checkpoint)
    # a field missing from an older checkpoint's config did not exist then: that run used its default
    defaults = {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}
    recorded = {**defaults, **(state.get("nnssl_config") or {})}
    same = json.dumps(recorded, sort_keys=True) == json.dumps(config.to_json(), sort_keys=True)
    return same and int(state.get("current_epoch", 0)) >= config.epochs


def check_no_legacy_run(pool_results: str, trainers: list[str], plans_name: str, configuration: str, run_name: str,
                        new_checkpoints: list[str]) -> None:
    """Refuse ``--continue`` of a named run that only nnssl < 0.3 wrote (``<Trainer>__<plans>__<cfg>__<run>``; runs
    now train under their own plans identifier), instead of silently starting it again from scratch.

    Raises:
        ValueError: naming the old folder and the two ways on.
    """
    if any(os.path.isfile(c) for c in new_checkpoints):
        return
    for trainer in trainers:
        old = os.path.join(pool_results, f"{trainer}__{plans_name}__{configuration}__{run_name}", "fold_all")
        if os.path.isdir(old) and any(f.startswith("checkpoint") for f in os.listdir(old)):
            raise ValueError(f"--continue: run {run_name!r} exists only as nnssl < 0.3 wrote it ({old}); 0.3 trains "
                             f"a named run under its own plans identifier and cannot resume that folder. Fine-tune "
                             f"from its checkpoint_final.pth (nnSSL_PRETRAINED=<path>), or drop --continue to "
                             f"pretrain the run again (the old folder is left as it is)")
