"""``nnssl_pretrain``'s options and how its words become a :class:`~nnssl.pretrain_request.PretrainRequest`.

Library code, so that the command line (``nnssl/cli/pretrain.py``) and the benchmark's protocol files
(``nnssl/benchmark/protocol.py``) parse the same options the same way, once. The options common to every method are
here; each method's own come from its ``Method.options`` (``nnssl/methods/<name>/__init__.py``).
"""

import argparse
import sys

from nnssl.arguments import OneDefaultFormatter, SuggestingArgumentParser, add_device_argument
from nnssl.data.dataset_weights import SAMPLING_MODES
from nnssl.errors import UsageError
from nnssl.methods.method import finite_float
from nnssl.methods.registry import METHODS
from nnssl.planning.planner import PLANNERS
from nnssl.pretrain_request import PRESETS, Planning, PretrainRequest, Schedule
from nnssl.run_config import PretrainConfig


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
    p.add_argument("--label-map", default=None, metavar="T:L=S:L,...",
                   help="which pool class each target class is, e.g. 200:1=101:3,200:2=101:1 (target 200's label 1 is "
                        "dataset 101's label 3): the fine-tune copies those rows of a supervised checkpoint's output "
                        "layer. Recorded in the target's plans (default: match by label name within one source "
                        "dataset)")
    p.add_argument("-c", "--configuration", default="3d_fullres", choices=["3d_fullres", "2d"],
                   help="nnU-Net configuration planned and pretrained")
    p.add_argument("-pl", "--planner", default="ExperimentPlanner", choices=list(PLANNERS),
                   help="nnU-Net's planner for the pool: its default (PlainConvUNet) or a residual-encoder preset "
                        "(ResidualEncoderUNet, nnU-Net's recommendation; M for 9-11 GB, L for 24 GB, XL for 40 GB of "
                        "GPU memory). Ignored with --plans-from and --plan-from-target, which bring their plan")
    p.add_argument("-p", "--plans-name", default="nnsslPlans",
                   help="plans identifier written to every dataset (default: nnsslPlans; with -pl "
                        "nnUNetPlannerResEncM: nnsslResEncUNetMPlans, and so on)")
    p.add_argument("--run-name", default=None, help="names this run: its plans identifier <plans>_<run name> in "
                   "the pool and the target, so its pretraining and its fine-tunes get their own result folders "
                   "(default: the method name, under the plans identifier itself)")
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
                   help="learning rate (default: the method's: " + "; ".join(
                       f"{m.name} {m.config_class.learning_rate:g}" + (f", or {m.cpu_learning_rate:g} with --schedule "
                                                                      "cpu" if m.cpu_learning_rate else "")
                       for m in METHODS.values()) + ")")
    g.add_argument("--seed", type=int, default=PretrainConfig.seed,
                   help="seeds every random draw of the run (network init, sampling, views, masks); recorded in the "
                        "run configuration and the checkpoint")
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
    add_method_options(p, METHODS)
    return p


def add_method_options(parser: argparse.ArgumentParser, methods) -> dict[str, list[str]]:
    """One argument group per method with its options; a flag several methods declare is added once, in the
    group of the first. Returns {dest: the methods that use it}."""
    owners: dict[str, list[str]] = {}
    for method in methods.values():
        group = None
        for option in method.options:
            if option.dest not in owners:
                group = group or parser.add_argument_group(method.name)
                option.add_to(group, method.config_class)
            owners.setdefault(option.dest, []).append(method.name)
    parser.set_defaults(_option_owners=owners)
    return owners


def parse_request(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> PretrainRequest:
    """The request of ``nnssl_pretrain``'s words: a ``--plans-from`` recipe applied (options typed on the command
    line win), every value checked, the schedule resolved.

    Raises:
        UsageError: a bad or conflicting option (the message names it and the fix).
        ValueError: a bad ``--plans-from`` file.
    """
    parser = parser or build_parser()
    parser.raise_usage_errors = True  # argparse's own errors become UsageError too, not an exit
    words = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(words)
    given = {a.dest for a in parser._actions
             if any(w == o or w.startswith(o + "=") for o in a.option_strings for w in words)}
    frozen_plans = None
    if args.plans_from:
        from nnssl.planning import frozen

        frozen_plans = frozen.load(args.plans_from)
        frozen.apply_recipe(args, frozen_plans, given)
    _check(args, given, parser)
    if "plans_name" not in given:
        args.plans_name = PLANNERS[args.planner]
    label_map = None
    if args.label_map is not None:
        from nnssl.output_layers import parse_label_map

        try:
            label_map = parse_label_map(args.label_map, args.target)
        except ValueError as e:
            raise UsageError(str(e)) from None
        stray = sorted({d for d, _ in label_map.values()} - set(args.datasets))
        if stray:
            raise UsageError(f"--label-map names dataset(s) {stray}, which are not pool sources (-d {args.datasets})")
    return request_of(args, label_map, frozen_plans)


def _check(args: argparse.Namespace, given: set[str], parser: argparse.ArgumentParser) -> None:
    """Refuse what parses but cannot run (raises UsageError naming the option and the fix)."""
    from nnssl.names import name_problem

    if not args.datasets:
        raise UsageError("give the source datasets with -d (or a recipe with --plans-from)")
    for dest in sorted(given):  # a method's option given for another method would be silently ignored
        owners = args._option_owners.get(dest, [args.method])
        if args.method not in owners:
            flag = next(a.option_strings[-1] for a in parser._actions if a.dest == dest)
            raise UsageError(f"{flag} is an option of -m {' / -m '.join(owners)}, not of -m {args.method}; drop it "
                             "or pick that method")
    if args.planner != "ExperimentPlanner" and (args.plans_from or args.plan_from_target):
        raise UsageError(f"-pl {args.planner} plans the pool, but --plans-from / --plan-from-target bring a plan; "
                         "drop one of them")
    for value, flag in ((args.run_name, "--run-name"), (args.plans_name if "plans_name" in given else None, "-p")):
        problem = value is not None and name_problem(value)
        if problem:
            raise UsageError(f"{flag} {problem}; it becomes a file and folder name")
    for value, flag in ((args.num_processes, "-np"), (args.plan_batch_size, "--plan-batch-size"),
                        (args.epochs, "--epochs"), (args.iterations, "--iterations"),
                        (args.val_iterations, "--val-iterations"), (args.batch_size, "--batch-size"),
                        (args.save_every, "--save-every"), (args.num_gpus, "--num-gpus"), (args.pool_id, "--pool-id")):
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value}: must be a positive integer")
    if not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed {args.seed}: give an integer in 0..{2**32 - 1}")
    if args.pool_id is not None and not 1 <= args.pool_id <= 999:
        raise UsageError(f"--pool-id {args.pool_id}: nnU-Net dataset ids have three digits (1..999)")
    if args.label_map is not None and args.target is None:
        raise UsageError("--label-map maps the target's classes: give the target with -t")


def request_of(args: argparse.Namespace, label_map=None, frozen_plans=None) -> PretrainRequest:
    """The frozen request of a parsed (and checked) namespace."""
    planning = Planning(plans_name=args.plans_name, planner=args.planner, pool_id=args.pool_id,
                        num_processes=args.num_processes, gpu_memory_target=args.gpu_memory_target,
                        plan_batch_size=args.plan_batch_size, plan_from_target=args.plan_from_target,
                        frozen_plans=frozen_plans, save_plans=args.save_plans, plan_only=args.plan_only,
                        check_inputs=not args.skip_input_check)
    schedule = Schedule.resolved(args.schedule, METHODS[args.method].cpu_learning_rate, epochs=args.epochs,
                                 iterations=args.iterations, val_iterations=args.val_iterations, lr=args.lr,
                                 batch_size=args.batch_size, seed=args.seed, save_every=args.save_every,
                                 dataset_sampling=args.dataset_sampling)
    options = {dest: tuple(v) if isinstance(v, list) else v
               for dest, v in ((d, getattr(args, d)) for d in args._option_owners)}
    return PretrainRequest(datasets=tuple(args.datasets), method=args.method, options=options, target=args.target,
                           configuration=args.configuration, run_name=args.run_name, label_map=label_map,
                           planning=planning, schedule=schedule, device=args.device, num_gpus=args.num_gpus,
                           continue_training=args.continue_training, overwrite=args.overwrite)
