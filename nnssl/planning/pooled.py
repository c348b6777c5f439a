"""Pool several nnU-Net datasets under ONE plan: the orchestration of planning and preprocessing.

Flow: fingerprint every dataset with nnU-Net's extractor, merge the fingerprints
(:func:`merge_fingerprints`), plan once with :class:`ExperimentPlanner` fed the pooled fingerprint,
write that plan into every dataset (each keeps its own intensity statistics and normalisation
scheme; ``nnssl/planning/assembly.py``), preprocess each with nnU-Net's DefaultPreprocessor, and link the
preprocessed cases into a pool dataset ``DatasetNNN_nnsslPool_<ids>`` whose case ids carry their source
(``D101__case_000``, ``nnssl/case_ids.py``).
"""

import os
from dataclasses import dataclass, field

from nnssl.io import atomic_save_json, load_json
from nnssl.planning.aliases import default_plans_alias
from nnssl.planning.assembly import assemble_pool, dataset_plans, keep_other_configurations, target_plans
from nnssl.planning.beside import preprocess_beside
from nnssl.planning.block import NnsslBlock
from nnssl.planning.datasets import pool_dataset_name, validate_pool
from nnssl.planning.fingerprints import merge_fingerprints
from nnssl.planning.planner import plan_pool


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


def plan_and_preprocess_pool(source_ids, target_id: int | None = None, plans_name: str = "nnsslPlans",
                             configurations=("3d_fullres",), num_processes: int = 1,
                             require_labels: bool = True, pool_id: int | None = None,
                             gpu_memory_target_in_gb: float | None = None,
                             batch_size: int | None = None, plan_from_target: bool = False,
                             check_inputs: bool = True, frozen: dict | None = None,
                             planner: str = "ExperimentPlanner") -> PoolPlan:
    """:func:`_plan_and_preprocess_pool` holding the locks of every dataset it writes (``nnssl/planning/locks.py``):
    a second run on the same datasets waits, then finds the preprocessing current."""
    from nnssl.planning.locks import dataset_locks

    sources, target = validate_pool(list(source_ids), target_id, require_labels)
    names = [*sources.values(), *([target[1]] if target else []), pool_dataset_name(sources, pool_id)[1]]
    with dataset_locks(names):
        return _plan_and_preprocess_pool(source_ids, target_id, plans_name, configurations, num_processes,
                                         require_labels, pool_id, gpu_memory_target_in_gb, batch_size,
                                         plan_from_target, check_inputs, frozen, planner)


def _plan_and_preprocess_pool(source_ids, target_id: int | None = None, plans_name: str = "nnsslPlans",
                              configurations=("3d_fullres",), num_processes: int = 1,
                              require_labels: bool = True, pool_id: int | None = None,
                              gpu_memory_target_in_gb: float | None = None,
                              batch_size: int | None = None, plan_from_target: bool = False,
                              check_inputs: bool = True, frozen: dict | None = None,
                              planner: str = "ExperimentPlanner") -> PoolPlan:
    """Plan one configuration for all source datasets, preprocess them (and the target), build the pool.

    Every dataset is checked first (:func:`nnssl.planning.checks.check_inputs`, skipped with
    ``check_inputs=False``). Unlabelled sources (no labelsTr, or background only) are fingerprinted
    and preprocessed as described in :mod:`nnssl.planning.unlabelled`. With ``plan_from_target`` the
    pool is not planned: the sources get the target's existing plan (:func:`target_plans`), and the
    target's plans and preprocessed data are left untouched. With ``frozen`` (a plans file read by
    :func:`nnssl.planning.frozen.load`) the pool is not planned either: its frozen plan is used. ``planner`` is
    nnU-Net's planner (``ExperimentPlanner``, or a residual-encoder preset ``nnUNetPlannerResEncM``/``L``/``XL``).
    """
    sources, target = validate_pool(list(source_ids), target_id, require_labels)
    _check_options(target, configurations, gpu_memory_target_in_gb, plan_from_target, frozen, plans_name)
    pool_id, pool_name = pool_dataset_name(sources, pool_id)
    everyone = {**sources, **({target[0]: target[1]} if target else {})}
    unlabelled, no_label_files = _labelled_status(everyone, sources, require_labels, check_inputs, num_processes)
    if target and target[0] in no_label_files:
        raise ValueError(f"target {target[1]} has no labelsTr; fine-tuning needs labelled target cases")
    kept = target[0] if plan_from_target else None  # the dataset whose files stay as they are
    raw_stamps = _fingerprint(everyone, unlabelled, kept, num_processes)
    pre = os.environ["nnUNet_preprocessed"]
    fps = [load_json(os.path.join(pre, n, "dataset_fingerprint.json")) for n in sources.values()]
    merged = merge_fingerprints(fps, list(sources.values()))
    if plan_from_target:
        pooled = target_plans(target[1], plans_name, configurations)
    elif frozen is not None:
        from nnssl.planning.frozen import frozen_plan

        pooled = frozen_plan(frozen, configurations)
        pooled["plans_name"] = plans_name
    else:
        pooled = plan_pool(sources, merged, sum(len(fp["spacings"]) for fp in fps), plans_name,
                           gpu_memory_target_in_gb, planner)
    _restrict(pooled, configurations, batch_size)
    for d, name in everyone.items():
        role = "target" if target and d == target[0] else "source"
        block = NnsslBlock(role, {str(k): v for k, v in sources.items()}, pool=pool_name,
                           plan_from=target[1] if plan_from_target else None)
        _preprocess(d, name, pooled, block, plans_name, configurations, raw_stamps[d], kept == d,
                    d in no_label_files, num_processes)
    assemble_pool(pool_name, sources, pooled, merged, plans_name, configurations)
    # with --plan-from-target the target keeps its files; the alias follows when a checkpoint is recorded
    alias = default_plans_alias(target[1], plans_name) if target and not plan_from_target else None
    return PoolPlan(pool_id, pool_name, plans_name, tuple(configurations), sources, target, pooled, alias)


def _check_options(target, configurations, gpu_memory_target_in_gb, plan_from_target: bool, frozen,
                   plans_name: str) -> None:
    """Refuse option combinations that cannot work, before any work."""
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


def _labelled_status(everyone: dict[int, str], sources: dict[int, str], require_labels: bool, check_inputs: bool,
                     num_processes: int) -> tuple[set[int], set[int]]:
    """(datasets without foreground labels, datasets without label files), from the input check when it runs."""
    if check_inputs:
        from nnssl.planning.checks import check_inputs as run_checks

        checked = run_checks(everyone, {d: require_labels and d in sources for d in everyone}, num_processes)
        return ({d for d, c in checked.items() if not c.labelled},
                {d for d, c in checked.items() if not c.has_label_files})
    raw = os.environ["nnUNet_raw"]
    no_label_files = {d for d, n in everyone.items() if not os.path.isdir(os.path.join(raw, n, "labelsTr"))
                      and "dataset" not in load_json(os.path.join(raw, n, "dataset.json"))}
    return set(no_label_files), no_label_files


def _fingerprint(everyone: dict[int, str], unlabelled: set[int], kept: int | None, num_processes: int) -> dict:
    """Extract every fingerprint that is missing or older than its raw data; returns the raw stamps."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset

    from nnssl.planning.freshness import fingerprint_is_current, mark_fingerprint, raw_stamp
    from nnssl.planning.unlabelled import fingerprint_without_labels

    pre = os.environ["nnUNet_preprocessed"]
    raw_stamps = {d: raw_stamp(name) for d, name in everyone.items()}
    for d, name in everyone.items():
        fp_file = os.path.join(pre, name, "dataset_fingerprint.json")
        if d == kept:  # the target keeps its files as they are
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
    return raw_stamps


def _restrict(pooled: dict, configurations, batch_size: int | None) -> None:
    """Keep only ``configurations`` in the pooled plan and set the batch size (e.g. CPU budgets)."""
    pooled["configurations"] = {c: pooled["configurations"][c] for c in configurations
                                if c in pooled["configurations"]}
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for c in pooled["configurations"].values():
            c["batch_size"] = batch_size  # the architecture does not depend on it
    missing = [c for c in configurations if c not in pooled["configurations"]]
    if missing:
        raise ValueError(f"nnU-Net planned no {missing} configuration for this pool (2D data has no "
                         f"3d_fullres); use -c 2d")


def _preprocess(d: int, name: str, pooled: dict, block: NnsslBlock, plans_name: str, configurations, raw_stamp,
                kept: bool, no_label_files: bool, num_processes: int) -> None:
    """Write one dataset's plans and preprocess the configurations whose data is missing or stale."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import preprocess_dataset

    from nnssl.planning.freshness import mark_preprocessed, stale_reason
    from nnssl.planning.unlabelled import preprocess_without_label_files, write_preprocessing_dataset_json

    pre = os.environ["nnUNet_preprocessed"]
    if kept:  # its plan is the pool's plan: leave its files as they are
        data = os.path.join(pre, name, pooled["configurations"][configurations[0]]["data_identifier"])
        if not os.path.isdir(data):
            preprocess_dataset(d, plans_name, tuple(configurations), [num_processes], verbose=False)
        return
    plans = dataset_plans(pooled, name, plans_name, configurations)
    plans["nnssl"] = block.to_json()
    plans_file = os.path.join(pre, name, f"{plans_name}.json")
    plans = keep_other_configurations(plans, plans_file)
    write_preprocessing_dataset_json(name, has_label_files=not no_label_files)
    stale = {c: stale_reason(name, plans, c, raw_stamp) for c in configurations}
    todo = tuple(c for c in configurations if stale[c])
    for c in configurations:
        print(f"nnssl: {name} {c}: " + (f"preprocessing ({stale[c]})" if stale[c] else
                                        "plan and raw data unchanged, reusing the preprocessed data"))
    if not todo:
        atomic_save_json(plans, plans_file)
        return
    if no_label_files:
        def run(name_, todo_):
            preprocess_without_label_files(d, name_, todo_, num_processes)
    else:
        def run(name_, todo_):
            preprocess_dataset(d, name_, todo_, [num_processes], verbose=False)
    # the old data and plans stay until the new data is complete (nnU-Net's preprocessor deletes first)
    preprocess_beside(os.path.join(pre, name), plans, plans_name, todo, run)
    for c in todo:
        mark_preprocessed(name, plans, c, raw_stamp)
