"""Writing plans and pools: one dataset's copy of the pooled plan, the pooled dataset itself, and the target's own
plan as the plan of a pool (``--plan-from-target``)."""

import copy
import os
import shutil

from nnssl.case_ids import pooled_case_id
from nnssl.io import atomic_save_json, load_json
from nnssl.planning.block import NnsslBlock


def dataset_plans(pooled: dict, name: str, plans_name: str, configurations) -> dict:
    """The pooled plan, specialised to one dataset's intensity statistics and normalisation."""
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    pre = os.environ["nnUNet_preprocessed"]
    fp = load_json(os.path.join(pre, name, "dataset_fingerprint.json"))
    planner = ExperimentPlanner(name, plans_name=plans_name)
    schemes, use_mask = planner.determine_normalization_scheme_and_whether_mask_is_used_for_norm()
    plans = copy.deepcopy(pooled)
    plans["dataset_name"] = name
    plans["foreground_intensity_properties_per_channel"] = fp["foreground_intensity_properties_per_channel"]
    # each dataset reads its files with its own reader: a NibabelIO override in one source's
    # dataset.json must not spread to the other datasets' plans
    plans["image_reader_writer"] = planner.determine_reader_writer().__name__
    for c in configurations:
        plans["configurations"][c]["normalization_schemes"] = schemes
        plans["configurations"][c]["use_mask_for_norm"] = use_mask
    return plans


def keep_other_configurations(plans: dict, plans_file: str) -> dict:
    """Like nnU-Net's save_plans: keep configurations (and recorded checkpoints) of an existing file."""
    if not os.path.isfile(plans_file):
        return plans
    old = load_json(plans_file)
    merged = copy.deepcopy(plans)
    for c, conf in old.get("configurations", {}).items():
        merged["configurations"].setdefault(c, conf)
    if "nnssl" in merged:  # records of earlier runs survive re-planning
        for key in ("pretrained", "runs"):
            if old.get("nnssl", {}).get(key):
                merged["nnssl"][key] = old["nnssl"][key]
    return merged


def _link(src: str, dst: str) -> None:
    if os.path.lexists(dst):
        os.remove(dst)
    try:
        os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
    except OSError:
        shutil.copy2(src, dst)


def assemble_pool(pool_name: str, sources: dict[int, str], pooled_plans: dict, merged_fp: dict,
                  plans_name: str, configurations) -> None:
    """Create the pooled preprocessed dataset: plans, dataset.json, fingerprint and linked cases."""
    pre = os.environ["nnUNet_preprocessed"]
    raw = os.environ["nnUNet_raw"]
    base = os.path.join(pre, pool_name)
    first = load_json(os.path.join(raw, next(iter(sources.values())), "dataset.json"))
    max_label, n_training = 0, 0
    for name in sources.values():
        dj = load_json(os.path.join(raw, name, "dataset.json"))
        max_label = max([max_label, *(int(v) for v in dj["labels"].values())])
        n_training += int(dj["numTraining"])
    labels = {"background": 0, **{f"label_{i}": i for i in range(1, max_label + 1)}}
    dataset_json = {
        "channel_names": first.get("channel_names", first.get("modality")),
        "labels": labels,
        "numTraining": n_training,
        "file_ending": first["file_ending"],
        "name": pool_name,
        "description": "nnssl pretraining pool; label ids are local to each source dataset "
                       "(label_k of one source is not label_k of another)",
        "nnssl_sources": {str(d): n for d, n in sources.items()},
    }
    plans = copy.deepcopy(pooled_plans)
    plans["dataset_name"] = pool_name
    plans["foreground_intensity_properties_per_channel"] = merged_fp["foreground_intensity_properties_per_channel"]
    plans["nnssl"] = NnsslBlock("pool", {str(d): n for d, n in sources.items()}).to_json()
    for c in configurations:
        folder = os.path.join(base, plans["configurations"][c]["data_identifier"])
        os.makedirs(folder, exist_ok=True)
        for d, name in sources.items():
            src_folder = os.path.join(pre, name, plans["configurations"][c]["data_identifier"])
            for f in sorted(os.listdir(src_folder)):
                _link(os.path.join(src_folder, f), os.path.join(folder, pooled_case_id(d, f)))
    atomic_save_json(dataset_json, os.path.join(base, "dataset.json"))
    atomic_save_json(merged_fp, os.path.join(base, "dataset_fingerprint.json"))
    plans_file = os.path.join(base, f"{plans_name}.json")
    atomic_save_json(keep_other_configurations(plans, plans_file), plans_file)


def target_plans(target_name: str, plans_name: str, configurations) -> dict:
    """The target's existing plans, restricted to ``configurations``, as the plan for a new pool.

    This is nnU-Net's pretraining recipe (``nnUNetv2_move_plans_between_datasets``): the pretraining
    data is preprocessed with the fine-tuning dataset's plan, so the pretrained network has exactly
    the topology that the target's runs build.

    Raises:
        ValueError: when the target has no such plans file or configuration.
    """
    plans_file = os.path.join(os.environ["nnUNet_preprocessed"], target_name, f"{plans_name}.json")
    if not os.path.isfile(plans_file):
        raise ValueError(f"--plan-from-target: {plans_file} does not exist. Plan the target first (an earlier "
                         f"nnssl_pretrain -t, or nnUNetv2_plan_and_preprocess with -overwrite_plans_name "
                         f"{plans_name})")
    plans = load_json(plans_file)
    missing = [c for c in configurations if c not in plans.get("configurations", {})]
    if missing:
        raise ValueError(f"--plan-from-target: {plans_file} has no configuration {missing}; it has "
                         f"{sorted(plans.get('configurations', {}))}")
    plans = copy.deepcopy(plans)
    plans.pop("nnssl", None)
    plans["configurations"] = {c: plans["configurations"][c] for c in configurations}
    return plans
