"""The Python API behind ``nnssl_pretrain``: plan and preprocess the pool, pretrain every stage, record the result.

A run is named by its plans identifier (nnU-Net's idiom: what changes a result is in the result path). The
method's own run trains and is found under the plans identifier (``nnsslPlans``); a run named with
``--run-name R`` under ``nnsslPlans_R``, a copy of the same plan that says which run it belongs to
(``nnssl/planning/aliases.py``), in the pool (``<Trainer>__nnsslPlans_R__<configuration>``) and in the target,
whose fine-tune trainers load that run's checkpoint and write ``<FinetuneTrainer>__nnsslPlans_R__...``.
"""

import dataclasses
import os
import sys

import torch

from nnssl.io import atomic_save_json, load_json
from nnssl.methods.method import Method
from nnssl.methods.registry import METHODS
from nnssl.planning.aliases import check_run_plans_free, run_plans_name, write_run_plans
from nnssl.pretrain_request import PretrainRequest
from nnssl.run_config import PretrainConfig
from nnssl.run_records import (
    already_finished,
    check_written,
    record_checkpoint,
    record_run_config,
    remove_finished,
)


def make_config(request: PretrainRequest, target_name: str | None, stage: str = "", previous: str | None = None,
                warn: bool = True) -> PretrainConfig:
    """The method's frozen config for one stage of the request (raises ValueError on bad values).

    ``previous``: the checkpoint of the stage before (a later stage starts from it). ``warn``: print the config's
    caveats to stderr (``pretrain`` does so once, on rank 0).
    """
    method = METHODS[request.method]
    schedule = request.schedule
    values = {"method": request.method, "run_name": request.name, "target_dataset": target_name,
              "epochs": schedule.epochs, "iterations_per_epoch": schedule.iterations,
              "val_iterations": schedule.val_iterations, "batch_size": schedule.batch_size,
              "save_every": schedule.save_every, "dataset_sampling": schedule.dataset_sampling,
              "seed": schedule.seed, **method.values(request.method_options(), stage, previous)}
    if schedule.lr is not None:
        values["learning_rate"] = schedule.lr
    config = method.config_class(**values)
    for caveat in config.caveats() if warn else ():
        print(f"nnssl: warning: {caveat}", file=sys.stderr)
    return config


def stage_checkpoints(pool_results: str, method: Method, plans_name: str, configuration: str) -> dict[str, str]:
    """{stage: its final checkpoint} below the pool's results folder (nnU-Net's fold 'all' of each trainer)."""
    return {stage: os.path.join(pool_results, f"{trainer}__{plans_name}__{configuration}", "fold_all",
                                "checkpoint_final.pth") for stage, trainer in method.stages}


def finished_checkpoint(request: PretrainRequest, target_name: str) -> str | None:
    """The checkpoint that the target's plans record for this run, if it finished exactly this request's config
    (what ``--continue`` would leave alone), else None."""
    plans_file = os.path.join(os.environ["nnUNet_preprocessed"], target_name, f"{request.planning.plans_name}.json")
    if not os.path.isfile(plans_file):
        return None
    recorded = (load_json(plans_file).get("nnssl") or {}).get("pretrained", {}).get(request.configuration, {})
    path = recorded.get(request.name)
    if not path or not os.path.isfile(path):
        return None
    method = METHODS[request.method]
    stages = [s for s, _ in method.stages]
    stage = method.stages_to_run(request.method_options())[-1][0]
    previous = None
    if stages.index(stage) > 0:  # a later stage's config names the checkpoint of the stage before
        pool_results = os.path.dirname(os.path.dirname(os.path.dirname(path)))
        train_plans = run_plans_name(request.planning.plans_name, request.name, request.method)
        previous = stage_checkpoints(pool_results, method, train_plans, request.configuration)[
            stages[stages.index(stage) - 1]]
    config = make_config(request, target_name, stage, previous, warn=False)
    return path if already_finished(path, config) else None


@dataclasses.dataclass(frozen=True)
class _Run:
    """What ``pretrain`` settles before training: the pool, the target, the plans identifier, the checkpoints."""

    request: PretrainRequest
    pool_name: str
    target: tuple[int, str] | None
    train_plans: str
    checkpoints: dict[str, str]
    stages: list[tuple[str, str]]
    ranked: bool
    rank0: bool

    @property
    def target_name(self) -> str | None:
        return self.target[1] if self.target else None


def pretrain(request: PretrainRequest) -> str:
    """Plan, preprocess and pretrain (every stage of the method); returns the final checkpoint path."""
    from nnssl import launch
    from nnssl.pretrain_checks import check_class_match, finetune_fold, refuse_to_overwrite

    if request.device is None:
        from nnssl.arguments import resolve_device

        request = dataclasses.replace(request, device="cpu" if request.planning.plan_only else resolve_device(None))
    ranked = launch.under_torchrun()
    if ranked:
        if request.num_gpus != 1:
            raise ValueError(f"--num-gpus {request.num_gpus} under torchrun: torchrun starts the ranks "
                             f"(--nproc_per_node); drop --num-gpus")
        launch.join_process_group(request.device)
    rank0 = launch.is_rank0()
    run, needs_labels = _settle(request, ranked, rank0)
    class_match = check_class_match(request, run.target) if run.target and rank0 else None
    fold = finetune_fold(run.target, request.configuration, rank0)
    run = _plan(run, needs_labels)
    final = run.checkpoints[run.stages[-1][0]]
    if request.planning.plan_only:
        return final
    refuse_to_overwrite(request, run.pool_name, run.train_plans, run.checkpoints, run.stages)
    _train_stages(run)
    if rank0:
        _record(run, final, class_match, fold)
    return final


def _settle(request: PretrainRequest, ranked: bool, rank0: bool) -> tuple[_Run, bool]:
    """Check every value and name before any work (and warn once); returns the run (pool not planned yet) and
    whether the method trains on labels."""
    from nnssl.planning.datasets import pool_dataset_name, validate_pool

    method = METHODS[request.method]
    stages = method.stages_to_run(request.method_options())
    needs_labels = make_config(request, None, stages[0][0], warn=rank0).needs_labels  # the target's name not needed
    _, target = validate_pool(list(request.datasets), request.target, needs_labels)
    plans = request.planning.plans_name
    train_plans = run_plans_name(plans, request.name, method.name)
    if train_plans != plans:  # a named run's plans identifier must be nnssl's to write, in pool and target
        pool_guess = pool_dataset_name(list(request.datasets), request.planning.pool_id)[1]
        for dataset in (pool_guess, *([target[1]] if target else [])):
            check_run_plans_free(dataset, plans, request.name)
    return _Run(request, "", target, train_plans, {}, stages, ranked, rank0), needs_labels


def _plan(run: _Run, needs_labels: bool) -> _Run:
    """Plan and preprocess the pool on rank 0 (the other ranks wait for it); the run with its pool and checkpoints."""
    from nnssl import launch
    from nnssl.planning.pooled import plan_and_preprocess_pool

    request, planning = run.request, run.request.planning
    pool_name = None
    if run.rank0:
        pool = plan_and_preprocess_pool(list(request.datasets), request.target, planning.plans_name,
                                        (request.configuration,), planning.num_processes, needs_labels,
                                        planning.pool_id, planning.gpu_memory_target, planning.plan_batch_size,
                                        planning.plan_from_target, check_inputs=planning.check_inputs,
                                        frozen=planning.frozen_plans, planner=planning.planner)
        pool_name = pool.pool_name
        if planning.save_plans:
            from nnssl.planning.frozen import save

            save(planning.save_plans, request.recipe(), pool.pooled_plans,
                 f"pool {pool.pool_name}, written by nnssl_pretrain")
            print(f"nnssl: recipe and pooled plan written to {planning.save_plans} (reuse with --plans-from)")
    pool_name = launch.broadcast(pool_name)
    checkpoints = stage_checkpoints(os.path.join(os.environ["nnUNet_results"], pool_name), METHODS[request.method],
                                    run.train_plans, request.configuration)
    if run.rank0:
        print(f"nnssl: pool {pool_name}, plans {run.train_plans}, configuration {request.configuration}")
    return dataclasses.replace(run, pool_name=pool_name, checkpoints=checkpoints)


def _train_stages(run: _Run) -> None:
    """Train each stage this request runs, from the checkpoint of the stage before; a stage that already finished
    this config under ``--continue`` is left alone."""
    from nnssl.trainer_location import ensure_ext_trainer_env

    request = run.request
    method = METHODS[request.method]
    ensure_ext_trainer_env()
    if method.trainer_folder:  # a plugin method's own shims
        folders = [f for f in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if f]
        if method.trainer_folder not in folders:
            os.environ["nnUNet_extTrainer"] = os.pathsep.join([*folders, method.trainer_folder])
    order = [s for s, _ in method.stages]
    for stage, trainer in run.stages:
        before = order[order.index(stage) - 1] if order.index(stage) > 0 else None
        previous = run.checkpoints[before] if before is not None else None
        if previous is not None and not os.path.isfile(previous):
            raise ValueError(f"stage {stage!r} of {method.name} starts from the checkpoint of stage {before!r}, "
                             f"{previous}, which does not exist; run that stage first")
        config = make_config(request, run.target_name, stage, previous, warn=False)
        if request.continue_training and already_finished(run.checkpoints[stage], config):
            if run.rank0:
                print(f"nnssl: {run.checkpoints[stage]} already finished {config.epochs} epochs with this config; "
                      f"nothing to train (raise --epochs to extend it)")
            continue
        _train_stage(run, stage, trainer, config)


def _record(run: _Run, final: str, class_match: list[str] | None, fold: str) -> None:
    """Rank 0, after training: check the checkpoint, record it in the target's plans, print the next commands."""
    from nnssl.next_steps import next_commands

    request = run.request
    method = METHODS[request.method]
    check_written(final)
    plans_for_finetune = request.planning.plans_name
    if run.target:  # only a written, loadable, finite checkpoint replaces the target's record
        plans_for_finetune = record_checkpoint(run.target[1], request.planning.plans_name, request.configuration,
                                               request.name, method.name, final, request.label_map)
    print(f"nnssl: pretrained checkpoint: {final}")
    if class_match:
        print(f"nnssl: the target's classes were matched to the pool's output layer: {'; '.join(class_match)}; "
              "the fine-tune copies those rows (documentation/finetuning.md)")
    if run.target:
        print(next_commands(run.target[0], request, method.finetune_trainer, plans_for_finetune, fold=fold))


def _train_stage(run: _Run, stage: str, trainer: str, config: PretrainConfig) -> None:
    """Record the stage's configuration and train it with nnU-Net (``run_training``, or this rank's part)."""
    from nnunetv2.run.run_training import run_training

    from nnssl import launch

    request, plans = run.request, run.request.planning.plans_name
    checkpoint = run.checkpoints[stage]
    run_key = f"{config.run_name}{'_' + stage if stage else ''}"
    run_file = os.path.join(os.environ["nnUNet_preprocessed"], run.pool_name, "nnssl_runs", f"{run_key}.json")
    if launch.is_rank0():
        atomic_save_json(config.to_json(), run_file)
        record_run_config(run.pool_name, plans, run_key, config.to_json())
        if run.train_plans != plans:  # a named run: its own plans identifier in the pool and the target
            write_run_plans(run.pool_name, plans, config.run_name)
            if run.target_name:
                write_run_plans(run.target_name, plans, config.run_name)
        print(f"nnssl: pretraining {request.method}{' stage ' + stage if stage else ''} with {trainer}")
        if request.overwrite and not request.continue_training:
            remove_finished(os.path.dirname(checkpoint))
    launch.barrier()
    if run.ranked:  # the trainer reads its configuration from the plans record written above
        launch.train_this_rank(run.pool_name, request.configuration, trainer, run.train_plans,
                               request.continue_training, request.device)
    else:
        run_training(run.pool_name, request.configuration, "all", trainer, run.train_plans, num_gpus=request.num_gpus,
                     continue_training=request.continue_training, device=torch.device(request.device))
    launch.barrier()
