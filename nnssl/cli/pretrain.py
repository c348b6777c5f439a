"""``nnssl_pretrain``: pool datasets under one nnU-Net plan and pretrain one network.

Example::

    nnssl_pretrain -d 101 102 103 -m mixcl -t 200 -c 3d_fullres
    nnUNetv2_train 200 3d_fullres 0 -tr MixCLFinetuneTrainer -p nnsslPlans
"""

import argparse
import dataclasses
import json
import os
import sys

import torch

from nnssl.cli._common import (
    OneDefaultFormatter,
    SuggestingArgumentParser,
    add_device_argument,
    finite_float,
    resolve_device,
    translate_nnunet_error,
)
from nnssl.io import atomic_save_json, load_json
from nnssl.trainers.config import (
    RUN_CONFIG_ENV,
    SAMPLING_MODES,
    SUPERVISED_LOSSES,
    PretrainConfig,
    SupervisedConfig,
)
from nnssl.trainers.registry import METHODS


def build_parser() -> argparse.ArgumentParser:
    """Argument parser; ``-m`` choices come from the method registry."""
    methods = "; ".join(f"{m.name}: {m.summary}" for m in METHODS.values())
    p = SuggestingArgumentParser(prog="nnssl_pretrain", description=f"Pooled nnU-Net pretraining. Methods: {methods}",
                                formatter_class=OneDefaultFormatter, allow_abbrev=False)
    p.add_argument("-d", "--datasets", type=int, nargs="+", default=None,
                   help="source dataset ids in nnUNet_raw (default: the --plans-from recipe's; one of the two is "
                        "needed)")
    p.add_argument("-m", "--method", choices=sorted(METHODS), default="mixcl", help="pretraining method")
    p.add_argument("-t", "--target", type=int, default=None,
                   help="target dataset: gets the same plans and records the checkpoint for fine-tuning")
    p.add_argument("-c", "--configuration", default="3d_fullres", choices=["3d_fullres", "2d"],
                   help="nnU-Net configuration planned and pretrained")
    p.add_argument("-p", "--plans-name", default="nnsslPlans", help="plans identifier written to every dataset")
    p.add_argument("--run-name", default=None, help="names this run (output folder suffix, key in target plans); "
                   "default: the method name")
    p.add_argument("--pool-id", type=int, default=None,
                   help="dataset id of the pool (default: the existing pool of these sources, else the first "
                        "free id in 900..999)")
    p.add_argument("-np", "--num-processes", type=int, default=1, help="processes for fingerprint/preprocessing")
    p.add_argument("--gpu-memory-target", type=finite_float, default=None,
                   help="nnU-Net planner VRAM target in GB (default: nnU-Net's 8)")
    p.add_argument("--plan-batch-size", type=int, default=None,
                   help="override the planned batch size in every written plan; fine-tuning uses it too "
                        "(default: nnU-Net's planned batch size)")
    p.add_argument("--plan-from-target", action="store_true",
                   help="do not plan the pool: preprocess the sources with the target's existing plan (nnU-Net's "
                        "pretraining recipe, like nnUNetv2_move_plans_between_datasets). For sources whose own "
                        "plan would give the target a different or far more expensive network")
    p.add_argument("--plans-from", default=None, metavar="FILE_OR_NAME",
                   help="a plans file (or a name in the repository's plans/ folder): its recipe fills -d, -t, -c, "
                        "-m, --plan-batch-size and --schedule unless given here, and its frozen plan replaces "
                        "planning (default: plan the pool now)")
    p.add_argument("--save-plans", default=None, metavar="FILE",
                   help="write this run's recipe and pooled plan as a plans file for --plans-from (default: none)")
    p.add_argument("--plan-only", action="store_true", help="plan and preprocess, do not train")
    p.add_argument("--skip-input-check", action="store_true",
                   help="do not check the raw datasets first (labels declared, finite intensities, files present; "
                        "a passing check is remembered, so reruns are cheap anyway)")
    g = p.add_argument_group("schedule")
    g.add_argument("--schedule", default="full", choices=sorted(PRESETS),
                   help="length preset: " + "; ".join(f"{k}: {v[0]} x {v[1]} iterations ({v[3]})"
                                                       for k, v in PRESETS.items())
                        + " (default: full). --epochs/--iterations/--val-iterations override it")
    g.add_argument("--epochs", type=int, default=None, help="epochs (default: from --schedule)")
    g.add_argument("--iterations", type=int, default=None, help="iterations per epoch (default: from --schedule)")
    g.add_argument("--val-iterations", type=int, default=None,
                   help="validation iterations per epoch (default: from --schedule)")
    g.add_argument("--batch-size", type=int, default=None, help="pairs/items per step (default: plans)")
    g.add_argument("--lr", type=finite_float, default=None,
                   help="learning rate (default: the method's: mixcl 1e-4, or 5e-4 with --schedule cpu; global_local "
                        "1e-3; regression and supervised 1e-2)")
    g.add_argument("--save-every", type=int, default=PretrainConfig.save_every,
                   help="epochs between checkpoint_latest.pth writes")
    p.add_argument("--dataset-sampling", default=PretrainConfig.dataset_sampling, choices=SAMPLING_MODES,
                   help="how a pool's cases are drawn: 'cases' uniformly (nnU-Net's draw: each source dataset in "
                        "proportion to its size), 'datasets' each source dataset equally often")
    g.add_argument("--continue", dest="continue_training", action="store_true",
                   help="resume an interrupted run, or extend a finished one to more --epochs (a run that already "
                        "finished with the same flags is left as it is)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace a finished pretraining of this run name (its checkpoints are kept as *.replaced)")
    add_device_argument(g)
    g.add_argument("--num-gpus", type=int, default=1, help="DDP on this many GPUs (nnU-Net's -num_gpus)")
    mix = p.add_argument_group("mixcl")
    mix.add_argument("--label-weight", type=finite_float, default=0.01,
                     help="alpha (the starting value when --label-grad-ratio is set); 0 switches L_label off")
    mix.add_argument("--label-samples", type=int, default=512,
                     help="label voxels sampled per class and patch (r); the label term's cost grows with r^2, "
                          "not with the patch size")
    mix.add_argument("--label-grad-ratio", type=finite_float, default=1.0,
                     help="re-set alpha every epoch so that alpha*|grad L_label| = ratio*|grad L_id| on the encoder; "
                          "0 keeps alpha fixed at --label-weight (the paper), and so does --identity-weight 0")
    mix.add_argument("--label-stage", type=int, default=None,
                     help="encoder stage of L_label (default: the second-deepest stage)")
    mix.add_argument("--label-decoder-stage", type=int, default=None, metavar="S",
                     help="take L_label on decoder stage S instead (0 = the one after the bottleneck, -1 = the "
                          "last, full-resolution one), so the decoder learns the pool's labels (for "
                          "--transfer-decoder; default: an encoder stage)")
    mix.add_argument("--recon-weight", type=finite_float, default=0.01, help="beta; 0 switches L_recon off")
    mix.add_argument("--identity-weight", type=finite_float, default=1.0, help="0 switches L_id off")
    mix.add_argument("--no-label", action="store_true", help="ablation: identity + reconstruction")
    mix.add_argument("--no-recon", action="store_true",
                     help="ablation: identity + label (the decoder then gets no gradient)")
    mix.add_argument("--allow-unlabelled", action="store_true",
                     help="pool datasets without labels; implies --no-label (identity + reconstruction only)")
    mix.add_argument("--label-loss", default="eq6", choices=["eq6", "supcon_out"],
                     help="form of the label term: the paper's Eq. 6, or SupCon with the sum outside the log")
    mix.add_argument("--bt-max-voxels", type=int, default=32768, help="L_id voxels per stage; 0 = all")
    mix.add_argument("--bt-decoder-stages", type=int, nargs="+", default=(), metavar="S",
                     help="decoder stages (0 = the one after the bottleneck) added to L_id, so the decoder learns "
                          "from the views too, not only from L_recon (for --transfer-decoder; default: none)")
    mix.add_argument("--transfer-decoder", action="store_true",
                     help="also transfer decoder stages (mixcl and regression; default: encoder only)")
    gl = p.add_argument_group("global_local")
    gl.add_argument("--gl-stage", default="both", choices=["both", "global", "local"],
                    help="run both stages in turn, or one (local needs the global stage's checkpoint)")
    gl.add_argument("--global-strategy", default="GD", choices=["GR", "GD-", "GD"],
                    help="positives of the global loss: GR the two views only; GD- also the same partition of other "
                         "volumes; GD both (Chaitanya et al.)")
    gl.add_argument("--local-strategy", default="LR", choices=["LR", "LD"],
                    help="LR: the positive is the same position in the other view (the paper's proposal); LD: also "
                         "in other volumes of the same partition (a harder task, but no better an init on "
                         "Hippocampus: benchmarks/README.md, Update 6)")
    gl.add_argument("--partitions", type=int, default=4, help="S partitions along the slice axis")
    gl.add_argument("--cases-per-batch", type=int, default=4, help="m; batch = m x S x 2 views")
    gl.add_argument("--decoder-stages", type=int, default=None,
                    help="l of the partial decoder d_l (default: chosen so that d_l ends at 1/--local-stride)")
    gl.add_argument("--local-stride", type=int, default=4, help="target output stride of d_l when l is chosen")
    gl.add_argument("--lattice-jitter", type=int, default=1,
                    help="random per-step shift of the region lattice in feature voxels (0 = fixed lattice)")
    gl.add_argument("--region-size", type=int, default=3, choices=[1, 3], help="K")
    gl.add_argument("--patch-fraction", type=finite_float, default=0.5, help="3D pretraining patch / plan patch")
    sv = p.add_argument_group("supervised")
    sv.add_argument("--supervised-loss", default=SupervisedConfig.loss, choices=SUPERVISED_LOSSES,
                    help="partial loss over each image's own dataset's classes: dc_ce (Dice + CE on a softmax over "
                         "them) or dc_bce (one sigmoid per class, BCE + Dice; MultiTalent's)")
    rg = p.add_argument_group("regression")
    rg.add_argument("--mask-ratio", type=finite_float, default=None,
                    help="fraction of voxels corrupted (default: about 256 voxels per patch, within 0.2-10 %%)")
    rg.add_argument("--mask-layout", default="stratified", choices=["stratified", "bernoulli"],
                    help="masked voxels: one per grid cell (stratified) or independent draws (bernoulli)")
    rg.add_argument("--replacement", default="gaussian", choices=["gaussian", "patch_gaussian"],
                    help="what replaces a masked voxel: N(0, 1), or N(mean, std) of its patch")
    return p


#: --schedule presets: epochs, iterations per epoch, validation iterations, what it costs
PRESETS = {
    "smoke": (2, 5, 1, "a plumbing check, about a minute on a CPU"),
    "cpu": (12, 50, 2, "600 iterations, about 20-60 min on 2 CPU cores for a 2D Hippocampus-sized plan; "
                       "MixCL's lr becomes 5e-4 unless --lr is given"),
    "full": (PretrainConfig.epochs, PretrainConfig.iterations_per_epoch, PretrainConfig.val_iterations,
             "25,000 iterations, GPU-sized: hours on a GPU, days on a CPU"),
}


#: learning rates of the cpu preset where the method's GPU-sized default barely moves the encoder in 600
#: iterations (MixCL: AdamW 1e-4 is the paper's; 5e-4 moved the encoder by 10-20 % per stage on Hippocampus)
CPU_LEARNING_RATES = {"mixcl": 5e-4}


def resolve_schedule(args: argparse.Namespace) -> None:
    """Fill --epochs/--iterations/--val-iterations (and the cpu preset's lr) from --schedule where not given."""
    if args.schedule == "cpu" and args.lr is None and args.method in CPU_LEARNING_RATES:
        args.lr = CPU_LEARNING_RATES[args.method]
    epochs, iterations, val, _ = PRESETS[args.schedule]
    args.epochs = epochs if args.epochs is None else args.epochs
    args.iterations = iterations if args.iterations is None else args.iterations
    args.val_iterations = val if args.val_iterations is None else args.val_iterations


def make_config(args: argparse.Namespace, target_name: str | None, stage: str = "",
                global_checkpoint: str | None = None, warn: bool = True) -> PretrainConfig:
    """The method's frozen config for one stage from parsed flags (raises ValueError on bad values).

    ``warn``: print the config's caveats to stderr (``pretrain`` does so once, on rank 0).
    """
    resolve_schedule(args)
    method = METHODS[args.method]
    values = {"method": args.method, "run_name": args.run_name or args.method, "target_dataset": target_name,
              "epochs": args.epochs, "iterations_per_epoch": args.iterations, "val_iterations": args.val_iterations,
              "batch_size": args.batch_size, "save_every": args.save_every,
              "dataset_sampling": args.dataset_sampling}
    if args.lr is not None:
        values["learning_rate"] = args.lr
    if args.method == "mixcl":
        values.update(identity_weight=args.identity_weight,
                      label_weight=0.0 if (args.no_label or args.allow_unlabelled) else args.label_weight,
                      recon_weight=0.0 if args.no_recon else args.recon_weight, label_loss=args.label_loss,
                      label_grad_ratio=args.label_grad_ratio or None, per_class=args.label_samples,
                      label_stage=args.label_stage, label_decoder_stage=args.label_decoder_stage,
                      bt_max_voxels=args.bt_max_voxels or None, bt_decoder_stages=tuple(args.bt_decoder_stages),
                      transfer_decoder=args.transfer_decoder)
    elif args.method == "global_local":
        values.update(stage=stage or "global", global_strategy=args.global_strategy,
                      local_strategy=args.local_strategy, partitions=args.partitions,
                      cases_per_batch=args.cases_per_batch, decoder_stages=args.decoder_stages,
                      local_stride=args.local_stride, lattice_jitter=args.lattice_jitter,
                      region_size=args.region_size, patch_fraction=args.patch_fraction,
                      global_checkpoint=global_checkpoint)
    elif args.method == "supervised":
        values.update(loss=args.supervised_loss)
    elif args.method == "regression":
        values.update(mask_ratio=args.mask_ratio, mask_layout=args.mask_layout, replacement=args.replacement,
                      transfer_decoder=args.transfer_decoder)
    config = method.config_class(**values)
    for caveat in config.caveats() if warn else ():
        print(f"nnssl: warning: {caveat}", file=sys.stderr)
    return config


def output_folder(pool_name: str, trainer: str, plans_name: str, configuration: str, run_name: str,
                  method: str) -> str:
    """Where nnU-Net (with our run suffix) writes the pretraining fold 'all'."""
    base = os.path.join(os.environ["nnUNet_results"], pool_name, f"{trainer}__{plans_name}__{configuration}")
    if run_name != method:
        base += f"__{run_name}"
    return os.path.join(base, "fold_all")


def record_checkpoint(target_name: str, plans_name: str, configuration: str, run_name: str, path: str) -> bool:
    """Record the checkpoint in the target's plans (per configuration and run) for fine-tune trainers,
    and refresh the target's ``nnUNetPlans.json`` alias where nnssl owns it (returns whether it does)."""
    from nnssl.planning.pooled import default_plans_alias

    plans_file = os.path.join(os.environ["nnUNet_preprocessed"], target_name, f"{plans_name}.json")
    plans = load_json(plans_file)
    plans.setdefault("nnssl", {}).setdefault("pretrained", {}).setdefault(configuration, {})[run_name] = path
    atomic_save_json(plans, plans_file)
    return default_plans_alias(target_name, plans_name) is not None


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


def selected_stages(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(stage, trainer) pairs this call runs."""
    stages = list(METHODS[args.method].stages)
    if args.method == "global_local" and args.gl_stage != "both":
        stages = [st for st in stages if st[0] == args.gl_stage]
    return stages


def pretrain(args: argparse.Namespace) -> str:
    """Plan, preprocess and pretrain (every stage of the method); returns the final checkpoint path."""
    from nnssl.cli import torchrun
    from nnssl.cli.trainer_dir import ensure_ext_trainer_env
    from nnssl.planning.pooled import plan_and_preprocess_pool, validate_pool

    method = METHODS[args.method]
    ranked = torchrun.under_torchrun()
    if ranked:
        if args.num_gpus != 1:
            raise ValueError(f"--num-gpus {args.num_gpus} under torchrun: torchrun starts the ranks "
                             f"(--nproc_per_node); drop --num-gpus")
        torchrun.join_process_group(args.device)
    rank0 = torchrun.is_rank0()
    needs_labels = method.needs_labels and not args.allow_unlabelled and not args.no_label
    _, target = validate_pool(args.datasets, args.target, needs_labels)
    target_name = target[1] if target else None
    stages = selected_stages(args)
    run_name = args.run_name or args.method
    make_config(args, target_name, stages[0][0], warn=rank0)  # validate every flag before any work; warn once
    fold = "0"
    target_json = os.path.join(os.environ.get("nnUNet_raw", ""), target[1], "dataset.json") if target else ""
    if target and os.path.isfile(target_json):
        n_target = int(load_json(target_json).get("numTraining", 5))
        if n_target < 5:
            fold = "all"
            if rank0:
                print(f"nnssl: warning: target {target[1]} has {n_target} training case(s); nnU-Net's 5-fold split "
                      f"needs at least 5, so fold 0 would fail. Fine-tune on all of them with fold 'all' "
                      f"(nnUNetv2_train {target[0]} {args.configuration} all ...) or write your own "
                      "splits_final.json into its nnUNet_preprocessed folder", file=sys.stderr)
    pool_name = None
    if rank0:  # under torchrun the other ranks wait for rank 0's plans and preprocessed data
        pool = plan_and_preprocess_pool(args.datasets, args.target, args.plans_name, (args.configuration,),
                                        args.num_processes, needs_labels, args.pool_id, args.gpu_memory_target,
                                        args.plan_batch_size, args.plan_from_target,
                                        check_inputs=not args.skip_input_check,
                                        frozen=getattr(args, "frozen_plans", None))
        pool_name = pool.pool_name
        if args.save_plans:
            from nnssl.planning.frozen import save

            save(args.save_plans, args, pool.pooled_plans, f"pool {pool.pool_name}, written by nnssl_pretrain")
            print(f"nnssl: recipe and pooled plan written to {args.save_plans} (reuse with --plans-from)")
    pool_name = torchrun.broadcast(pool_name)
    ckpts = {stage: os.path.join(output_folder(pool_name, trainer, args.plans_name, args.configuration,
                                               run_name, method.name), "checkpoint_final.pth")
             for stage, trainer in method.stages}
    final = ckpts[stages[-1][0]]
    if rank0:
        print(f"nnssl: pool {pool_name}, plans {args.plans_name}, configuration {args.configuration}")
    if args.plan_only:
        return final
    for stage, _ in stages:
        if os.path.isfile(ckpts[stage]) and not (args.continue_training or args.overwrite):
            raise ValueError(f"{ckpts[stage]} is a finished pretraining; pass --continue to resume or extend it, "
                             f"--overwrite to replace it, or --run-name to keep both")
    ensure_ext_trainer_env()
    if method.trainer_folder:  # a plugin method's trainers
        folders = [f for f in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if f]
        if method.trainer_folder not in folders:
            os.environ["nnUNet_extTrainer"] = os.pathsep.join([*folders, method.trainer_folder])
    from nnunetv2.run.run_training import run_training

    for stage, trainer in stages:
        previous = ckpts.get("global") if stage == "local" else None
        if previous is not None and not os.path.isfile(previous):
            raise ValueError(f"the local stage needs the global stage's checkpoint {previous}; run --gl-stage global "
                             f"(or both) first")
        config = make_config(args, target_name, stage, previous, warn=False)
        if args.continue_training and already_finished(ckpts[stage], config):
            if rank0:
                print(f"nnssl: {ckpts[stage]} already finished {config.epochs} epochs with this config; nothing to "
                      f"train (raise --epochs to extend it)")
            continue
        run_file = os.path.join(os.environ["nnUNet_preprocessed"], pool_name, "nnssl_runs",
                                f"{config.run_name}{'_' + stage if stage else ''}.json")
        if rank0:
            atomic_save_json(config.to_json(), run_file)
            record_run_config(pool_name, args.plans_name, f"{config.run_name}{'_' + stage if stage else ''}",
                              config.to_json())
            print(f"nnssl: pretraining {args.method}{' stage ' + stage if stage else ''} with {trainer}")
            if args.overwrite and not args.continue_training:
                remove_finished(os.path.dirname(ckpts[stage]))
        torchrun.barrier()
        os.environ[RUN_CONFIG_ENV] = run_file
        if ranked:
            torchrun.train_this_rank(pool_name, args.configuration, trainer, args.plans_name,
                                     args.continue_training, args.device)
        else:
            run_training(pool_name, args.configuration, "all", trainer, args.plans_name, num_gpus=args.num_gpus,
                         continue_training=args.continue_training, device=torch.device(args.device))
        torchrun.barrier()
    if not rank0:
        return final
    check_written(final)
    alias = False
    if target:  # only a written, loadable, finite checkpoint replaces the target's record
        alias = record_checkpoint(target[1], args.plans_name, args.configuration, run_name, final)
    print(f"nnssl: pretrained checkpoint: {final}")
    if target:
        print(next_commands(target[0], args, method.finetune_trainer, alias, checkpoint=final, fold=fold))
    return final


def next_commands(target_id: int, args: argparse.Namespace, trainer: str, alias: bool = False,
                  checkpoint: str | None = None, fold: str = "0") -> str:
    """The exact next commands for this user: their device, configuration, plans and fine-tune trainer.

    With ``alias`` (the target's nnUNetPlans.json is nnssl's plan) the commands need no ``-p``, so on a
    GPU they read exactly ``nnUNetv2_train 200 3d_fullres 0 -tr MixCLFinetuneTrainer``. A run named with
    ``--run-name`` is not the one the fine-tune trainer looks up (the method's name), so its train command
    names the ``checkpoint`` through ``nnSSL_PRETRAINED``; prediction needs no pretrained weights.
    """
    import shlex

    from nnssl.checkpoint import PRETRAINED_ENV

    device = f" -device {args.device}" if args.device != "cuda" else ""
    plans = "" if alias else f" -p {shlex.quote(args.plans_name)}"
    named = args.run_name not in (None, args.method) and checkpoint
    env = f"{PRETRAINED_ENV}={shlex.quote(checkpoint)} " if named else ""
    train = f"nnUNetv2_train {target_id} {args.configuration} {fold}"
    which = "fold 0 of 5" if fold == "0" else "every case (fold 'all': too few cases for 5 folds)"
    lines = [f"nnssl: next steps ({which}; nnU-Net's default 1000 epochs, append a schedule suffix such as "
             "_5epochs for a short run):",
             "  export nnUNet_extTrainer=$(nnssl_trainer_dir)",
             f"  {env}{train} -tr {trainer}{plans}{device}",
             "  # to measure what the init adds, train both with nnU-Net's recipe (only the init differs):",
             f"  {env}{train} -tr {trainer}_nnUNetSchedule{plans}{device}",
             f"  {train} -tr nnsslScratchTrainer{plans}{device}",
             f"  nnUNetv2_predict -i IN -o OUT -d {target_id} -c {args.configuration} -f {fold} -tr {trainer}"
             f"{plans}{device}"]
    if not alias and args.plans_name != "nnUNetPlans":
        lines.append(f"  (target {target_id} has its own nnUNetPlans.json, which nnssl leaves alone: keep "
                     f"-p {args.plans_name})")
    return "\n".join(lines)


def parse_command(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """The parsed command with a ``--plans-from`` recipe applied (options typed on the command line win) and the
    schedule resolved. Exits through ``parser.error`` on a usage error; raises ValueError for a bad plans file."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    args.frozen_plans = None
    if args.plans_from:
        from nnssl.planning import frozen

        args.frozen_plans = frozen.load(args.plans_from)
        words = sys.argv[1:] if argv is None else list(argv)
        given = {a.dest for a in parser._actions
                 if any(w == o or w.startswith(o + "=") for o in a.option_strings for w in words)}
        frozen.apply_recipe(args, args.frozen_plans, given)
    if not args.datasets:
        parser.error("give the source datasets with -d (or a recipe with --plans-from)")
    if args.allow_unlabelled and args.method != "mixcl":
        parser.error("--allow-unlabelled only applies to -m mixcl (the other methods need no labels)")
    resolve_schedule(args)
    return args


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
    stage, _ = selected_stages(args)[-1]
    config = make_config(argparse.Namespace(**vars(args)), target_name, stage, warn=False)
    if stage == "local":  # the local stage's config names the global checkpoint it started from
        from nnssl import checkpoint_format

        config = dataclasses.replace(config, global_checkpoint=checkpoint_format.config(path).get("global_checkpoint"))
    return path if already_finished(path, config) else None


def main(argv=None) -> int:
    """Entry point of ``nnssl_pretrain``."""
    words = sys.argv[1:] if argv is None else list(argv)
    if not words:  # the one useful line first, then a short usage (-h has the rest)
        print("nnssl_pretrain: give the source datasets, e.g. nnssl_pretrain -d 101 102 103 -m mixcl -t 200 "
              "(or a recipe: --plans-from NAME)\n"
              f"usage: nnssl_pretrain -d ID [ID ...] [-m {{{','.join(sorted(METHODS))}}}] [-t TARGET] "
              "[-c {3d_fullres,2d}] [--schedule {full,cpu,smoke}] [-device DEVICE] ...\n"
              "nnssl_pretrain -h lists every option with its default", file=sys.stderr)
        return 2
    parser = build_parser()
    try:
        args = parse_command(argv, parser)
    except (ValueError, OSError) as e:
        print(f"nnssl_pretrain: error: {e}", file=sys.stderr)
        return 2
    try:
        args.device = resolve_device(args.device) if not args.plan_only else (args.device or "cpu")
        pretrain(args)
    except (ValueError, OSError) as e:
        print(f"nnssl_pretrain: error: {e}", file=sys.stderr)
        return 2
    except (AssertionError, RuntimeError) as e:  # nnU-Net's own failures: one line with the fix where known
        message = translate_nnunet_error(e)
        if message is None:
            raise
        print(f"nnssl_pretrain: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
