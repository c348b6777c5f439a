"""The Python API behind ``nnssl_pretrain``: plan and preprocess the pool, pretrain every stage, record the result.

A run is named by its plans identifier (nnU-Net's idiom: what changes a result is in the result path). The
method's own run trains and is found under the plans identifier (``nnsslPlans``); a run named with
``--run-name R`` under ``nnsslPlans_R``, a copy of the same plan that says which run it belongs to
(``nnssl/planning/aliases.py``), in the pool (``<Trainer>__nnsslPlans_R__<configuration>``) and in the target,
whose fine-tune trainers load that run's checkpoint and write ``<FinetuneTrainer>__nnsslPlans_R__...``.
"""

import argparse
import os
import sys

import torch

from nnssl.io import atomic_save_json, load_json
from nnssl.methods.method import Method
from nnssl.methods.registry import METHODS
from nnssl.planning.aliases import check_run_plans_free, run_plans_name, write_run_plans
from nnssl.run_config import PretrainConfig
from nnssl.run_records import (
    already_finished,
    check_no_legacy_run,
    check_written,
    record_checkpoint,
    record_run_config,
    remove_finished,
)

#: --schedule presets: epochs, iterations per epoch, validation iterations, what it costs
PRESETS = {
    "smoke": (2, 5, 1, "a plumbing check, about a minute on a CPU"),
    "cpu": (12, 50, 2, "600 iterations, about 20-60 min on 2 CPU cores for a 2D Hippocampus-sized plan; "
                       "a method's cpu learning rate applies unless --lr is given"),
    "full": (PretrainConfig.epochs, PretrainConfig.iterations_per_epoch, PretrainConfig.val_iterations,
             "25,000 iterations, GPU-sized: hours on a GPU, days on a CPU"),
}


def resolve_schedule(args: argparse.Namespace) -> None:
    """Fill --epochs/--iterations/--val-iterations (and the cpu preset's lr) from --schedule where not given."""
    cpu_lr = METHODS[args.method].cpu_learning_rate
    if args.schedule == "cpu" and args.lr is None and cpu_lr is not None:
        args.lr = cpu_lr
    epochs, iterations, val, _ = PRESETS[args.schedule]
    args.epochs = epochs if args.epochs is None else args.epochs
    args.iterations = iterations if args.iterations is None else args.iterations
    args.val_iterations = val if args.val_iterations is None else args.val_iterations


def make_config(args: argparse.Namespace, target_name: str | None, stage: str = "", previous: str | None = None,
                warn: bool = True) -> PretrainConfig:
    """The method's frozen config for one stage from parsed flags (raises ValueError on bad values).

    ``previous``: the checkpoint of the stage before (a later stage starts from it). ``warn``: print the config's
    caveats to stderr (``pretrain`` does so once, on rank 0).
    """
    resolve_schedule(args)
    method = METHODS[args.method]
    values = {"method": args.method, "run_name": args.run_name or args.method, "target_dataset": target_name,
              "epochs": args.epochs, "iterations_per_epoch": args.iterations, "val_iterations": args.val_iterations,
              "batch_size": args.batch_size, "save_every": args.save_every,
              "dataset_sampling": args.dataset_sampling, "seed": getattr(args, "seed", PretrainConfig.seed),
              **method.values(args, stage, previous)}
    if args.lr is not None:
        values["learning_rate"] = args.lr
    config = method.config_class(**values)
    for caveat in config.caveats() if warn else ():
        print(f"nnssl: warning: {caveat}", file=sys.stderr)
    return config


def stage_checkpoints(pool_results: str, method: Method, plans_name: str, configuration: str) -> dict[str, str]:
    """{stage: its final checkpoint} below the pool's results folder (nnU-Net's fold 'all' of each trainer)."""
    return {stage: os.path.join(pool_results, f"{trainer}__{plans_name}__{configuration}", "fold_all",
                                "checkpoint_final.pth") for stage, trainer in method.stages}


def finished_checkpoint(args: argparse.Namespace, target_name: str) -> str | None:
    """The checkpoint that the target's plans record for this run, if it finished exactly this command's config
    (what ``--continue`` would leave alone), else None."""
    plans_file = os.path.join(os.environ["nnUNet_preprocessed"], target_name, f"{args.plans_name}.json")
    if not os.path.isfile(plans_file):
        return None
    recorded = (load_json(plans_file).get("nnssl") or {}).get("pretrained", {}).get(args.configuration, {})
    path = recorded.get(args.run_name or args.method)
    if not path or not os.path.isfile(path):
        return None
    method = METHODS[args.method]
    stages = [s for s, _ in method.stages]
    stage = method.stages_to_run(args)[-1][0]
    previous = None
    if stages.index(stage) > 0:  # a later stage's config names the checkpoint of the stage before
        pool_results = os.path.dirname(os.path.dirname(os.path.dirname(path)))
        train_plans = run_plans_name(args.plans_name, args.run_name or args.method, args.method)
        previous = stage_checkpoints(pool_results, method, train_plans, args.configuration)[
            stages[stages.index(stage) - 1]]
    config = make_config(argparse.Namespace(**vars(args)), target_name, stage, previous, warn=False)
    return path if already_finished(path, config) else None


def pretrain(args: argparse.Namespace) -> str:
    """Plan, preprocess and pretrain (every stage of the method); returns the final checkpoint path."""
    from nnssl import launch
    from nnssl.next_steps import next_commands
    from nnssl.planning.datasets import validate_pool
    from nnssl.planning.pooled import plan_and_preprocess_pool
    from nnssl.trainer_location import ensure_ext_trainer_env

    method = METHODS[args.method]
    ranked = launch.under_torchrun()
    if ranked:
        if args.num_gpus != 1:
            raise ValueError(f"--num-gpus {args.num_gpus} under torchrun: torchrun starts the ranks "
                             f"(--nproc_per_node); drop --num-gpus")
        launch.join_process_group(args.device)
    rank0 = launch.is_rank0()
    stages = method.stages_to_run(args)
    # validate every flag before any work (and warn once); the target's name is not needed for that
    needs_labels = make_config(args, None, stages[0][0], warn=rank0).needs_labels
    _, target = validate_pool(args.datasets, args.target, needs_labels)
    target_name = target[1] if target else None
    class_match = check_class_match(args, target) if target and rank0 else None
    run_name = args.run_name or args.method
    train_plans = run_plans_name(args.plans_name, run_name, method.name)
    if train_plans != args.plans_name:  # a named run's plans identifier must be nnssl's to write, in pool and target
        from nnssl.planning.datasets import pool_dataset_name

        pool_guess = pool_dataset_name(args.datasets, args.pool_id)[1]
        for dataset in (pool_guess, *([target_name] if target_name else [])):
            check_run_plans_free(dataset, args.plans_name, run_name)
    fold = _finetune_fold(target, args.configuration, rank0)
    pool_name = None
    if rank0:  # under torchrun the other ranks wait for rank 0's plans and preprocessed data
        pool = plan_and_preprocess_pool(args.datasets, args.target, args.plans_name, (args.configuration,),
                                        args.num_processes, needs_labels, args.pool_id, args.gpu_memory_target,
                                        args.plan_batch_size, args.plan_from_target,
                                        check_inputs=not args.skip_input_check,
                                        frozen=getattr(args, "frozen_plans", None),
                                        planner=getattr(args, "planner", "ExperimentPlanner"))
        pool_name = pool.pool_name
        if args.save_plans:
            from nnssl.planning.frozen import save

            save(args.save_plans, args, pool.pooled_plans, f"pool {pool.pool_name}, written by nnssl_pretrain")
            print(f"nnssl: recipe and pooled plan written to {args.save_plans} (reuse with --plans-from)")
    pool_name = launch.broadcast(pool_name)
    ckpts = stage_checkpoints(os.path.join(os.environ["nnUNet_results"], pool_name), method, train_plans,
                              args.configuration)
    final = ckpts[stages[-1][0]]
    if rank0:
        print(f"nnssl: pool {pool_name}, plans {train_plans}, configuration {args.configuration}")
    if args.plan_only:
        return final
    if args.continue_training and train_plans != args.plans_name:
        check_no_legacy_run(os.path.join(os.environ["nnUNet_results"], pool_name), [t for _, t in method.stages],
                            args.plans_name, args.configuration, run_name, list(ckpts.values()))
    for stage, _ in stages:
        if os.path.isfile(ckpts[stage]) and not (args.continue_training or args.overwrite):
            raise ValueError(f"{ckpts[stage]} is a finished pretraining; pass --continue to resume or extend it, "
                             f"--overwrite to replace it, or --run-name to keep both")
        latest = os.path.join(os.path.dirname(ckpts[stage]), "checkpoint_latest.pth")
        if os.path.isfile(latest) and not os.path.isfile(ckpts[stage]) and not (args.continue_training
                                                                                 or args.overwrite):
            raise ValueError(f"an interrupted pretraining of this run is kept in {latest}; pass --continue to resume "
                             f"it, --overwrite to start again (its checkpoints are kept as *.replaced), or --run-name "
                             "to start another run beside it")
    ensure_ext_trainer_env()
    if method.trainer_folder:  # a plugin method's own shims
        folders = [f for f in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if f]
        if method.trainer_folder not in folders:
            os.environ["nnUNet_extTrainer"] = os.pathsep.join([*folders, method.trainer_folder])
    order = [s for s, _ in method.stages]
    for stage, trainer in stages:
        previous = ckpts[order[order.index(stage) - 1]] if order.index(stage) > 0 else None
        if previous is not None and not os.path.isfile(previous):
            raise ValueError(f"stage {stage!r} of {method.name} starts from the checkpoint of stage "
                             f"{order[order.index(stage) - 1]!r}, {previous}, which does not exist; run that stage "
                             "first")
        config = make_config(args, target_name, stage, previous, warn=False)
        if args.continue_training and already_finished(ckpts[stage], config):
            if rank0:
                print(f"nnssl: {ckpts[stage]} already finished {config.epochs} epochs with this config; nothing to "
                      f"train (raise --epochs to extend it)")
            continue
        _train_stage(args, pool_name, target_name, train_plans, stage, trainer, config, ckpts[stage], ranked)
    if not rank0:
        return final
    check_written(final)
    plans_for_finetune = args.plans_name
    if target:  # only a written, loadable, finite checkpoint replaces the target's record
        plans_for_finetune = record_checkpoint(target[1], args.plans_name, args.configuration, run_name,
                                               method.name, final, getattr(args, "label_map_pairs", None))
    print(f"nnssl: pretrained checkpoint: {final}")
    if class_match:
        print(f"nnssl: the target's classes were matched to the pool's output layer: {'; '.join(class_match)}; "
              "the fine-tune copies those rows (documentation/finetuning.md)")
    if target:
        print(next_commands(target[0], args, method.finetune_trainer, plans_for_finetune, fold=fold))
    return final


def check_class_match(args: argparse.Namespace, target: tuple[int, str]) -> list[str] | None:
    """Before any work: which target classes take rows of a supervised checkpoint's output layer (None: the method
    has no output layer to transfer, or nothing matches).

    Raises:
        ValueError: an ambiguous name match without ``--label-map``, or a map naming a class the pool lacks.
    """
    from nnssl.methods.supervised.trainer import pool_class_layout, pool_label_names
    from nnssl.output_layers import describe, layout_records, match_classes
    from nnssl.planning.datasets import resolve_dataset

    if args.method != "supervised":
        if getattr(args, "label_map_pairs", None):
            print(f"nnssl: warning: --label-map has no effect with -m {args.method} (its checkpoint has no output "
                  "layer to transfer); it is recorded for a later supervised run", file=sys.stderr)
        return None
    sources = {d: resolve_dataset(d) for d in args.datasets}
    names = pool_label_names(sources)
    layout = layout_records(pool_class_layout(sources), names)
    labels = load_json(os.path.join(os.environ["nnUNet_raw"], target[1], "dataset.json"))["labels"]
    matches = match_classes(labels, layout, getattr(args, "label_map_pairs", None))
    return describe(matches, labels) if matches else None


def _finetune_fold(target, configuration: str, rank0: bool) -> str:
    """The fold the printed next commands use: 0, or 'all' for a target with fewer than 5 cases (warned)."""
    target_json = os.path.join(os.environ.get("nnUNet_raw", ""), target[1], "dataset.json") if target else ""
    if not target or not os.path.isfile(target_json):
        return "0"
    n_target = int(load_json(target_json).get("numTraining", 5))
    if n_target >= 5:
        return "0"
    if rank0:
        print(f"nnssl: warning: target {target[1]} has {n_target} training case(s); nnU-Net's 5-fold split needs at "
              f"least 5, so fold 0 would fail. Fine-tune on all of them with fold 'all' (nnUNetv2_train {target[0]} "
              f"{configuration} all ...) or write your own splits_final.json into its nnUNet_preprocessed folder",
              file=sys.stderr)
    return "all"


def _train_stage(args: argparse.Namespace, pool_name: str, target_name: str | None, train_plans: str, stage: str,
                 trainer: str, config: PretrainConfig, checkpoint: str, ranked: bool) -> None:
    """Record the stage's configuration and train it with nnU-Net (``run_training``, or this rank's part)."""
    from nnunetv2.run.run_training import run_training

    from nnssl import launch

    run_key = f"{config.run_name}{'_' + stage if stage else ''}"
    run_file = os.path.join(os.environ["nnUNet_preprocessed"], pool_name, "nnssl_runs", f"{run_key}.json")
    if launch.is_rank0():
        atomic_save_json(config.to_json(), run_file)
        record_run_config(pool_name, args.plans_name, run_key, config.to_json())
        if train_plans != args.plans_name:  # a named run: its own plans identifier in the pool and the target
            write_run_plans(pool_name, args.plans_name, config.run_name)
            if target_name:
                write_run_plans(target_name, args.plans_name, config.run_name)
        print(f"nnssl: pretraining {args.method}{' stage ' + stage if stage else ''} with {trainer}")
        if args.overwrite and not args.continue_training:
            remove_finished(os.path.dirname(checkpoint))
    launch.barrier()
    if ranked:  # the trainer reads its configuration from the plans record written above
        launch.train_this_rank(pool_name, args.configuration, trainer, train_plans, args.continue_training,
                                 args.device)
    else:
        run_training(pool_name, args.configuration, "all", trainer, train_plans, num_gpus=args.num_gpus,
                     continue_training=args.continue_training, device=torch.device(args.device))
    launch.barrier()
