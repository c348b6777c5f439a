"""Pool several nnU-Net datasets under ONE plan and assemble a pooled preprocessed dataset.

Flow: fingerprint every dataset with nnU-Net's extractor, merge the fingerprints
(:func:`merge_fingerprints`), plan once with :class:`ExperimentPlanner` fed the pooled fingerprint,
write that plan into every dataset (each keeps its own intensity statistics and normalisation
scheme), preprocess each with nnU-Net's DefaultPreprocessor, and link the preprocessed cases into a
pool dataset ``DatasetNNN_nnsslPool_<ids>`` whose case ids carry their source (``D101__case_000``).
"""

import contextlib
import copy
import os
import re
import shutil
from dataclasses import dataclass, field

from nnssl.io import atomic_save_json, load_json
from nnssl.planning.beside import preprocess_beside
from nnssl.planning.block import NnsslBlock
from nnssl.planning.fingerprints import merge_fingerprints

ENV_VARS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
POOL_PREFIX = "nnsslPool_"
CASE_SEPARATOR = "__"
POOL_ID_RANGE = range(900, 1000)


def check_environment() -> None:
    """Raise a clear error when nnU-Net's folders are not configured."""
    missing = [v for v in ENV_VARS if not os.environ.get(v)]
    if missing:
        raise OSError(f"environment variable(s) {', '.join(missing)} not set. nnssl uses nnU-Net's folders: "
                      f"export nnUNet_raw=..., nnUNet_preprocessed=... and nnUNet_results=... "
                      f"(see nnU-Net's documentation/setting_up_paths.md)")


def _raw_datasets() -> dict[int, list[str]]:
    root = os.environ["nnUNet_raw"]
    found: dict[int, list[str]] = {}
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        m = re.fullmatch(r"Dataset(\d{3})_.+", name)
        if m and os.path.isfile(os.path.join(root, name, "dataset.json")):
            found.setdefault(int(m.group(1)), []).append(name)
    return found


def resolve_dataset(dataset_id: int) -> str:
    """Name (``DatasetXXX_Name``) of a raw dataset, or a ValueError listing what exists.

    Raises:
        ValueError: when the id does not exist, or when two raw folders share it (nnU-Net would pick one).
    """
    found = _raw_datasets()
    if len(found.get(dataset_id, [])) > 1:
        raise ValueError(f"dataset id {dataset_id} is used by {len(found[dataset_id])} folders in nnUNet_raw "
                         f"({', '.join(found[dataset_id])}); nnU-Net needs unique ids: renumber all but one")
    if dataset_id not in found:
        listing = ", ".join(f"{k} ({v[0]})" for k, v in found.items()) or "none"
        raise ValueError(f"dataset id {dataset_id} not found in nnUNet_raw={os.environ['nnUNet_raw']}; "
                         f"available: {listing}")
    return found[dataset_id][0]


def case_dataset_id(case_id: str) -> int:
    """Source dataset id of a pooled case id ``D101__case_000``."""
    head, sep, _ = case_id.partition(CASE_SEPARATOR)
    if not sep or not head.startswith("D"):
        raise ValueError(f"{case_id!r} is not a pooled case id (expected 'D<id>{CASE_SEPARATOR}<case>')")
    return int(head[1:])


@dataclass
class PoolPlan:
    """What :func:`plan_and_preprocess_pool` produced."""

    pool_id: int
    pool_name: str
    plans_name: str
    configurations: tuple[str, ...]
    sources: dict[int, str]
    target: tuple[int, str] | None = None
    pooled_plans: dict = field(default_factory=dict, repr=False)
    plans_alias: str | None = None  # the target's nnUNetPlans.json alias (stock commands without -p)


def validate_pool(source_ids, target_id, require_labels: bool) -> tuple[dict[int, str], tuple[int, str] | None]:
    """Check a pool before any work: ids exist, no duplicates, same channels, labels present.

    Raises:
        ValueError: naming the offending dataset and the fix.
    """
    check_environment()
    if not source_ids:
        raise ValueError("give at least one source dataset with -d")
    if len(set(source_ids)) != len(source_ids):
        raise ValueError(f"duplicate dataset ids in -d {list(source_ids)}")
    if target_id is not None and target_id in source_ids:
        raise ValueError(f"target dataset {target_id} is also a pretraining source; pretraining on cases that "
                         f"are later scored inflates results. Remove it from -d or pool a disjoint copy")
    sources = {d: resolve_dataset(d) for d in source_ids}
    target = (target_id, resolve_dataset(target_id)) if target_id is not None else None
    raw = os.environ["nnUNet_raw"]
    channels = {}
    for d, name in [*sources.items(), *([target] if target else [])]:
        dj = load_json(os.path.join(raw, name, "dataset.json"))
        channels[d] = len(dj.get("channel_names", dj.get("modality", {})))
        if "labels" not in dj:
            raise ValueError(f"{name}/dataset.json has no 'labels' key; nnU-Net needs it, e.g. \"labels\": "
                             "{\"background\": 0, \"liver\": 1} (an unlabelled dataset declares background only)")
        labels = dj["labels"]
        if "ignore" in labels and d in sources:
            raise ValueError(f"dataset {name} has an ignore label; pooled pretraining does not support ignore "
                             f"labels yet. Remove it from the pool")
        if require_labels and d in sources and not any(v != 0 for k, v in labels.items() if k != "ignore"):
            raise ValueError(f"dataset {name} has no foreground labels, but this method needs labels. Remove it from "
                             "-d, use a label-free method (-m regression, -m global_local), or, with -m mixcl, "
                             "--allow-unlabelled (no label term)")
    if len(set(channels.values())) != 1:
        detail = ", ".join(f"{d}: {c}" for d, c in channels.items())
        raise ValueError(f"datasets have different numbers of input channels ({detail}); a pool needs the same "
                         f"channels in every dataset")
    return sources, target


def _existing_ids() -> set[int]:
    ids = set()
    for var in ENV_VARS:
        root = os.environ[var]
        if os.path.isdir(root):
            ids |= {int(m.group(1)) for n in os.listdir(root) if (m := re.fullmatch(r"Dataset(\d{3})_.+", n))}
    return ids


def pool_dataset_name(source_ids, pool_id: int | None = None) -> tuple[int, str]:
    """Reuse the pool of the same sources if it exists, else take the lowest free id in 900..999."""
    suffix = POOL_PREFIX + "_".join(str(d) for d in sorted(source_ids))
    pre = os.environ["nnUNet_preprocessed"]
    if pool_id is None and os.path.isdir(pre):
        for n in sorted(os.listdir(pre)):
            m = re.fullmatch(r"Dataset(\d{3})_(.+)", n)
            if m and m.group(2) == suffix:
                return int(m.group(1)), n
    taken = _existing_ids()
    if pool_id is None:
        free = [i for i in POOL_ID_RANGE if i not in taken]
        if not free:
            raise ValueError("no free dataset id in 900..999 for the pool; pass --pool-id")
        pool_id = free[0]
    elif pool_id in taken and not os.path.isdir(os.path.join(pre, f"Dataset{pool_id:03d}_{suffix}")):
        raise ValueError(f"--pool-id {pool_id} is already used by another dataset; choose a free id")
    return pool_id, f"Dataset{pool_id:03d}_{suffix}"


@contextlib.contextmanager
def _planning_safe_env():
    """nnU-Net 2.8.1's planner calls torch.set_num_threads(nnUNet_n_proc_DA), which crashes on 0."""
    old = os.environ.get("nnUNet_n_proc_DA")
    if old is not None and old.strip() == "0":
        os.environ["nnUNet_n_proc_DA"] = "1"
    try:
        yield
    finally:
        if old is not None:
            os.environ["nnUNet_n_proc_DA"] = old


def _make_pooled_planner(fingerprint: dict, num_training: int):
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    class nnsslPooledPlanner(ExperimentPlanner):
        """nnU-Net's default planner fed the pooled fingerprint and the pooled case count."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.dataset_fingerprint = fingerprint
            self.dataset_json = dict(self.dataset_json, numTraining=num_training)

    return nnsslPooledPlanner


def _dataset_plans(pooled: dict, name: str, plans_name: str, configurations) -> dict:
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


def _keep_other_configurations(plans: dict, plans_file: str) -> dict:
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
                _link(os.path.join(src_folder, f), os.path.join(folder, f"D{d}{CASE_SEPARATOR}{f}"))
    atomic_save_json(dataset_json, os.path.join(base, "dataset.json"))
    atomic_save_json(merged_fp, os.path.join(base, "dataset_fingerprint.json"))
    plans_file = os.path.join(base, f"{plans_name}.json")
    atomic_save_json(_keep_other_configurations(plans, plans_file), plans_file)


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


def _plan_pool(sources: dict[int, str], merged: dict, n_training: int, plans_name: str,
               gpu_memory_target_in_gb: float | None) -> dict:
    """nnU-Net's ExperimentPlanner run on the pooled fingerprint."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import plan_experiment_dataset

    planner = _make_pooled_planner(merged, n_training)
    # nnU-Net's planner saves the plan into the first source's plans file; that file keeps describing the data
    # beside it until the new data is complete (preprocess_beside), so its old contents come back here
    first = os.path.join(os.environ["nnUNet_preprocessed"], next(iter(sources.values())), f"{plans_name}.json")
    old = load_json(first) if os.path.isfile(first) else None
    try:
        with _planning_safe_env():
            pooled, _ = plan_experiment_dataset(next(iter(sources)), planner, gpu_memory_target_in_gb,
                                                overwrite_plans_name=plans_name)
    finally:
        if old is not None:
            atomic_save_json(old, first)
        elif os.path.isfile(first):
            os.remove(first)
    pooled = copy.deepcopy(pooled)
    pooled["experiment_planner_used"] = "ExperimentPlanner"  # resolvable by name inside nnU-Net
    return pooled


def plan_and_preprocess_pool(source_ids, target_id: int | None = None, plans_name: str = "nnsslPlans",
                             configurations=("3d_fullres",), num_processes: int = 1,
                             require_labels: bool = True, pool_id: int | None = None,
                             gpu_memory_target_in_gb: float | None = None,
                             batch_size: int | None = None, plan_from_target: bool = False,
                             check_inputs: bool = True, frozen: dict | None = None) -> PoolPlan:
    """:func:`_plan_and_preprocess_pool` holding the locks of every dataset it writes (``nnssl/planning/locks.py``):
    a second run on the same datasets waits, then finds the preprocessing current."""
    from nnssl.planning.locks import dataset_locks

    sources, target = validate_pool(list(source_ids), target_id, require_labels)
    names = [*sources.values(), *([target[1]] if target else []), pool_dataset_name(sources, pool_id)[1]]
    with dataset_locks(names):
        return _plan_and_preprocess_pool(source_ids, target_id, plans_name, configurations, num_processes,
                                         require_labels, pool_id, gpu_memory_target_in_gb, batch_size,
                                         plan_from_target, check_inputs, frozen)


def _plan_and_preprocess_pool(source_ids, target_id: int | None = None, plans_name: str = "nnsslPlans",
                              configurations=("3d_fullres",), num_processes: int = 1,
                              require_labels: bool = True, pool_id: int | None = None,
                              gpu_memory_target_in_gb: float | None = None,
                              batch_size: int | None = None, plan_from_target: bool = False,
                              check_inputs: bool = True, frozen: dict | None = None) -> PoolPlan:
    """Plan one configuration for all source datasets, preprocess them (and the target), build the pool.

    Every dataset is checked first (:func:`nnssl.planning.checks.check_inputs`, skipped with
    ``check_inputs=False``). Unlabelled sources (no labelsTr, or background only) are fingerprinted
    and preprocessed as described in :mod:`nnssl.planning.unlabelled`. With ``plan_from_target`` the
    pool is not planned: the sources get the target's existing plan (:func:`target_plans`), and the
    target's plans and preprocessed data are left untouched. With ``frozen`` (a plans file read by
    :func:`nnssl.planning.frozen.load`) the pool is not planned either: its frozen plan is used.
    """
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset, preprocess_dataset

    from nnssl.planning.checks import check_inputs as run_checks
    from nnssl.planning.freshness import (
        fingerprint_is_current,
        mark_fingerprint,
        mark_preprocessed,
        raw_stamp,
        stale_reason,
    )
    from nnssl.planning.unlabelled import (
        fingerprint_without_labels,
        preprocess_without_label_files,
        write_preprocessing_dataset_json,
    )

    sources, target = validate_pool(list(source_ids), target_id, require_labels)
    if plan_from_target and target is None:
        raise ValueError("--plan-from-target needs the target dataset (-t) whose plan the sources should use")
    if plan_from_target and gpu_memory_target_in_gb is not None:
        raise ValueError("--gpu-memory-target plans a new pool; it cannot be combined with --plan-from-target")
    if frozen is not None and (plan_from_target or gpu_memory_target_in_gb is not None):
        raise ValueError("--plans-from uses a frozen plan; it cannot be combined with --plan-from-target or "
                         "--gpu-memory-target")
    allowed = ("2d", "3d_fullres")
    bad = [c for c in configurations if c not in allowed]
    if bad:
        raise ValueError(f"configuration(s) {bad} not supported for pooled pretraining; use one of {allowed}")
    if plan_from_target:
        target_plans(target[1], plans_name, configurations)  # fail before any fingerprinting
    pool_id, pool_name = pool_dataset_name(sources, pool_id)
    pre = os.environ["nnUNet_preprocessed"]
    raw = os.environ["nnUNet_raw"]
    everyone = {**sources, **({target[0]: target[1]} if target else {})}
    if check_inputs:
        checked = run_checks(everyone, {d: require_labels and d in sources for d in everyone}, num_processes)
        unlabelled = {d for d, c in checked.items() if not c.labelled}
        no_label_files = {d for d, c in checked.items() if not c.has_label_files}
    else:
        no_label_files = {d for d, n in everyone.items() if not os.path.isdir(os.path.join(raw, n, "labelsTr"))
                          and "dataset" not in load_json(os.path.join(raw, n, "dataset.json"))}
        unlabelled = set(no_label_files)
    if target and target[0] in no_label_files:
        raise ValueError(f"target {target[1]} has no labelsTr; fine-tuning needs labelled target cases")
    raw_stamps = {d: raw_stamp(name) for d, name in everyone.items()}
    for d, name in everyone.items():
        fp_file = os.path.join(pre, name, "dataset_fingerprint.json")
        if plan_from_target and d == target[0]:  # the target keeps its files as they are
            if not os.path.isfile(fp_file):
                extract_fingerprint_dataset(d, num_processes=num_processes, clean=True, verbose=False)
            continue
        if not fingerprint_is_current(name, raw_stamps[d]):
            if os.path.isfile(fp_file):
                print(f"nnssl: {name}: raw data changed since its fingerprint, extracting it again")
                os.remove(fp_file)
            if d in unlabelled:
                fingerprint_without_labels(name)
            else:
                extract_fingerprint_dataset(d, num_processes=num_processes, clean=True, verbose=False)
        mark_fingerprint(name, raw_stamps[d])
    fps = [load_json(os.path.join(pre, n, "dataset_fingerprint.json")) for n in sources.values()]
    merged = merge_fingerprints(fps, list(sources.values()))
    n_training = sum(len(fp["spacings"]) for fp in fps)
    if plan_from_target:
        pooled = target_plans(target[1], plans_name, configurations)
    elif frozen is not None:
        from nnssl.planning.frozen import frozen_plan

        pooled = frozen_plan(frozen, configurations)
        pooled["plans_name"] = plans_name
    else:
        pooled = _plan_pool(sources, merged, n_training, plans_name, gpu_memory_target_in_gb)
    pooled["configurations"] = {c: pooled["configurations"][c] for c in configurations
                                if c in pooled["configurations"]}
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for c in pooled["configurations"].values():
            c["batch_size"] = batch_size  # e.g. CPU budgets; the architecture does not depend on it
    missing = [c for c in configurations if c not in pooled["configurations"]]
    if missing:
        raise ValueError(f"nnU-Net planned no {missing} configuration for this pool (2D data has no "
                         f"3d_fullres); use -c 2d")
    for d, name in everyone.items():
        if plan_from_target and d == target[0]:  # its plan is the pool's plan: leave its files as they are
            data = os.path.join(pre, name, pooled["configurations"][configurations[0]]["data_identifier"])
            if not os.path.isdir(data):
                preprocess_dataset(d, plans_name, tuple(configurations), [num_processes], verbose=False)
            continue
        plans = _dataset_plans(pooled, name, plans_name, configurations)
        plans["nnssl"] = NnsslBlock("target" if target and d == target[0] else "source",
                                    {str(k): v for k, v in sources.items()}, pool=pool_name,
                                    plan_from=target[1] if plan_from_target else None).to_json()
        plans_file = os.path.join(pre, name, f"{plans_name}.json")
        plans = _keep_other_configurations(plans, plans_file)
        write_preprocessing_dataset_json(name, has_label_files=d not in no_label_files)
        stale = {c: stale_reason(name, plans, c, raw_stamps[d]) for c in configurations}
        todo = tuple(c for c in configurations if stale[c])
        for c in configurations:
            print(f"nnssl: {name} {c}: " + (f"preprocessing ({stale[c]})" if stale[c] else
                                            "plan and raw data unchanged, reusing the preprocessed data"))
        if not todo:
            atomic_save_json(plans, plans_file)
            continue
        if d in no_label_files:
            def run(name_, todo_, d=d):
                preprocess_without_label_files(d, name_, todo_, num_processes)
        else:
            def run(name_, todo_, d=d):
                preprocess_dataset(d, name_, todo_, [num_processes], verbose=False)
        # the old data and plans stay until the new data is complete (nnU-Net's preprocessor deletes first)
        preprocess_beside(os.path.join(pre, name), plans, plans_name, todo, run)
        for c in todo:
            mark_preprocessed(name, plans, c, raw_stamps[d])
    assemble_pool(pool_name, sources, pooled, merged, plans_name, configurations)
    # with --plan-from-target the target keeps its files; the alias follows when a checkpoint is recorded
    alias = default_plans_alias(target[1], plans_name) if target and not plan_from_target else None
    return PoolPlan(pool_id, pool_name, plans_name, tuple(configurations), sources, target, pooled, alias)
