"""``nnssl_benchmark``: low-label evaluation, scratch vs pretrained, with stock nnU-Net.

For each fold and label fraction, nested subsets of the fold's training cases are registered as
extra folds of nnU-Net's ``splits_final.json`` (validation cases unchanged), every init is
fine-tuned with ``nnUNetv2_train`` on the same subset and schedule, and nnU-Net's own validation
(``compute_metrics_on_folder``) scores the fold's validation cases. Each init trains into its own
``nnUNet_results`` root below ``--out`` so results never collide; finished runs are skipped, so the
command resumes where it stopped. Writes results.csv, table.md, dice_vs_fraction.png, benchmark.json,
and from nnU-Net's epoch log curves.csv, plateau.md (did each run level off?) and pseudo_dice_curves.png.

``nnssl_benchmark speed -d POOL ...`` is the step-time benchmark instead (``nnssl_benchmark speed -h``), and
``nnssl_benchmark run PROTOCOL`` carries out a benchmark protocol file (``nnssl_benchmark run -h``).

Example::

    nnssl_benchmark -t 602 -c 2d --init mixcl --init regression --folds 0 1 --schedule 6 50 5
"""

import argparse
import dataclasses
import os
import platform
import subprocess
import sys
import time

from nnssl.benchmark import pool_direct
from nnssl.benchmark.curves import plateau_table, plot_curves, read_curve, write_curves
from nnssl.benchmark.imported import import_report, run_key
from nnssl.benchmark.pool_direct import is_pool_direct
from nnssl.benchmark.report import markdown_table, plot_dice_vs_fraction, plot_paired_differences, write_csv
from nnssl.benchmark.splits import label_fraction_splits, register_splits
from nnssl.cli._common import OneDefaultFormatter, SuggestingArgumentParser, add_device_argument, resolve_device
from nnssl.io import atomic_save_json, load_json

TRAINER_FOR_METHOD = {"mixcl": "MixCLFinetuneTrainer", "global_local": "GlobalLocalFinetuneTrainer",
                      "regression": "RegressionFinetuneTrainer", "supervised": "SupervisedFinetuneTrainer"}
#: scratch baseline name -> trainer (nnU-Net's recipe; the pretrained trainers' warm-up shape)
SCRATCH_TRAINERS = {"scratch": "nnsslScratchTrainer", "scratch_warmup": "nnsslScratchTrainer_warmup"}


def build_parser() -> argparse.ArgumentParser:
    """Argument parser."""
    p = SuggestingArgumentParser(prog="nnssl_benchmark", description=__doc__, allow_abbrev=False,
                                formatter_class=OneDefaultFormatter)
    p.add_argument("-t", "--target", type=int, required=True,
                   help="target dataset id (planned by nnssl_pretrain -t)")
    p.add_argument("-c", "--configuration", default="3d_fullres", choices=["3d_fullres", "2d"],
                   help="nnU-Net configuration")
    p.add_argument("-p", "--plans-name", default="nnsslPlans", help="plans identifier")
    p.add_argument("--init", action="append", default=[], metavar="NAME[=CHECKPOINT]",
                   help="a pretrained init: a run name recorded in the target's plans, or NAME=path; or "
                        "pool_direct[_SUFFIX]=DATASET_ID, nnU-Net trained on that dataset (the target's plans and "
                        "labels) and applied to the target without fine-tuning; repeatable (default: none; the "
                        "--scratch baselines are always included)")
    p.add_argument("--fractions", type=float, nargs="+", default=None,
                   help="percent of each fold's training cases (default: 5 15 50 100 unless --cases is given)")
    p.add_argument("--cases", type=int, nargs="+", default=[],
                   help="numbers of labelled training cases, e.g. 1 2 4, nested with the fractions (default: none)")
    p.add_argument("--scratch", nargs="*", default=list(SCRATCH_TRAINERS), choices=list(SCRATCH_TRAINERS),
                   help="scratch baselines: nnU-Net's default recipe (scratch) and the pretrained trainers' "
                        "warm-up schedule (scratch_warmup); none, with --import-report holding them")
    p.add_argument("--import-report", action="append", default=[], metavar="DIR",
                   help="an earlier --out folder of the same target, configuration, schedule and splits: its finished "
                        "runs join this report (e.g. scratch baselines trained before); repeatable (default: none)")
    p.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="nnU-Net cross-validation folds")
    p.add_argument("--seed", type=int, default=0, help="seed of the nested subsets")
    p.add_argument("--schedule", type=int, nargs=3, default=None, metavar=("EPOCHS", "ITERATIONS", "VAL_ITERATIONS"),
                   help="fine-tuning schedule (default: nnU-Net's 1000 x 250)")
    add_device_argument(p)
    p.add_argument("--out", required=True, help="report folder for results.csv, table.md, dice_vs_fraction.png, ... "
                   "(required)")
    p.add_argument("--runs", default=None, help="per-init nnUNet_results roots (default: <out>/runs)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=SUFFIX",
                   help="fine-tune init NAME with its method's trainer variant, e.g. mixcl_same=warmup runs "
                        "MixCLFinetuneTrainer_warmup; repeatable (default: none, each method's standard trainer)")
    p.add_argument("--schedule-override", action="append", default=[], metavar="NAME=KEY=VALUE[,KEY=VALUE]",
                   help="fine-tune init NAME with these fields of its trainer's schedule replaced, e.g. "
                        "mixcl_lr3=pretrained_lr=3e-3 (keys as in $nnSSL_FINETUNE_SCHEDULE); recorded in the run's "
                        "nnssl_finetune.json and benchmark.json; repeatable (default: none)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: report the finished runs and list the missing ones as not run")
    return p


def resolve_inits(specs: list[str], plans: dict, configuration: str,
                  scratch=tuple(SCRATCH_TRAINERS)) -> dict[str, str | None]:
    """{name: checkpoint or None for a scratch baseline}.

    Raises:
        ValueError: if a run name is not recorded or a checkpoint file is missing.
    """
    inits: dict[str, str | dict | None] = dict.fromkeys(scratch)
    recorded = plans.get("nnssl", {}).get("pretrained", {}).get(configuration, {})
    for spec in specs:
        name, _, path = spec.partition("=")
        if is_pool_direct(name):
            if not path.isdigit():
                raise ValueError(f"--init {spec}: give {name}=DATASET_ID, the id of the dataset whose nnU-Net model "
                                 "is applied without fine-tuning")
            inits[name] = {"pool_direct": int(path)}
            continue
        if not path:
            if name not in recorded:
                raise ValueError(f"--init {name}: no such run recorded for {configuration} (recorded: "
                                 f"{', '.join(sorted(recorded)) or 'none'}); pass {name}=/path/checkpoint_final.pth")
            path = recorded[name]
        if not os.path.isfile(path):
            raise ValueError(f"--init {name}: checkpoint {path} does not exist (pretraining not finished?)")
        inits[name] = path
    return inits


def trainer_for(checkpoint: str | None, init: str = "scratch", variants: dict | None = None) -> str:
    """The fine-tune trainer class for a checkpoint (its adaptation record names the method).

    Raises:
        ValueError: if a requested variant is not a trainer class nnssl defines.
    """
    if checkpoint is None:
        return SCRATCH_TRAINERS[init]
    if isinstance(checkpoint, dict):  # pool_direct: stock nnU-Net on the pool, no fine-tuning
        if (variants or {}).get(init):
            raise ValueError(f"--variant {init}: {init} is not fine-tuned, so it has no trainer variant")
        return pool_direct.TRAINER
    from nnssl import checkpoint_format
    from nnssl.trainers import finetune

    trainer = TRAINER_FOR_METHOD[checkpoint_format.record(checkpoint)["method"]]
    suffix = (variants or {}).get(init)
    if suffix:
        trainer = f"{trainer}_{suffix}"
        if trainer not in finetune.__all__:
            known = sorted(n.split("_", 1)[1] for n in finetune.__all__ if n.startswith(trainer.split("_")[0] + "_"))
            raise ValueError(f"--variant {init}={suffix}: no trainer {trainer}; variants: {', '.join(known)}")
    return trainer


def schedule_env(schedule, override: str = "") -> str:
    """``$nnSSL_FINETUNE_SCHEDULE`` for a benchmark budget (EPOCHS, ITERATIONS, VAL_ITERATIONS or None) plus an
    init's ``--schedule-override`` (``"key=value,..."``); "" when neither is given."""
    budget = ",".join(map(str, schedule)) if schedule else ""
    if not override:
        return budget  # the legacy form, as every run before --schedule-override recorded it
    keys = ("epochs", "iterations", "val_iterations")
    return ",".join([f"{k}={v}" for k, v in zip(keys, schedule or (), strict=False)] + [override])


def parse_schedule_overrides(specs: list[str], inits: dict, variants: dict) -> dict[str, str]:
    """{init: "key=value,..."} from ``--schedule-override NAME=KEY=VALUE[,...]``, each checked against its trainer.

    Raises:
        ValueError: naming the bad item (no such init, a scratch baseline, an unknown key or value).
    """
    overrides = {}
    for spec in specs:
        name, _, text = spec.partition("=")
        if name not in inits or "=" not in text:
            raise ValueError(f"--schedule-override {spec!r}: give NAME=KEY=VALUE[,KEY=VALUE] for an --init NAME "
                             f"(inits: {', '.join(inits)})")
        if inits[name] is None or isinstance(inits[name], dict):
            raise ValueError(f"--schedule-override {spec!r}: {name} is a scratch baseline or the pool-direct "
                             "alternative; its recipe is fixed")
        trainer_schedule(trainer_for(inits[name], name, variants), text)  # raises on an unknown key or value
        overrides[name] = text
    return overrides


def trainer_schedule(trainer: str, env: str):
    """The :class:`FinetuneSchedule` that ``trainer`` runs under ``$nnSSL_FINETUNE_SCHEDULE=env``."""
    from nnssl.trainers import finetune

    return getattr(finetune, trainer).schedule.with_overrides(env)


def run_pool_direct(args, target_name: str, init: str, dataset_id: int, entry: dict) -> tuple[dict | None, None]:
    """The pool-direct alternative on one fold: nnU-Net trained on the pool dataset (once, resumable), scored on
    the fold's validation cases without fine-tuning; the summary is the same for every label count of a fold."""
    results = os.path.join(os.path.abspath(args.runs or os.path.join(args.out, "runs")), init)
    pool_name = pool_direct.check_pool_dataset(dataset_id, target_name, args.plans_name, args.configuration)
    summary = os.path.join(results, target_name, f"fold_{entry['fold']}", "summary.json")
    if args.report_only:
        return (load_json(summary) if os.path.isfile(summary) else None), None
    pool_direct.train_pool_model(results, dataset_id, pool_name, args.configuration, args.plans_name, args.device,
                                 schedule_env(args.schedule))
    return pool_direct.score_fold(results, dataset_id, target_name, entry["fold"], entry["val"],
                                  args.configuration, args.plans_name, args.device), None


def finetune_plan(args, target_name: str, init: str, checkpoint: str | None, fold_id: int, trainer: str,
                  override: str = "") -> dict:
    """How one init is fine-tuned on one registered fold: {"cmd", "env" (what is set or removed on top of this
    environment), "fold_dir", "summary", "results"}; shared by the run and ``nnssl_benchmark run --dry-run``."""
    from nnssl.cli.trainer_dir import trainer_dir

    results = os.path.join(os.path.abspath(args.runs or os.path.join(args.out, "runs")), init)
    fold_dir = os.path.join(results, target_name, f"{trainer}__{args.plans_name}__{args.configuration}",
                            f"fold_{fold_id}")
    env_schedule = schedule_env(args.schedule, override) or os.environ.get("nnSSL_FINETUNE_SCHEDULE", "")
    env = {"nnUNet_results": results,
           "nnUNet_extTrainer": os.pathsep.join(p for p in (os.environ.get("nnUNet_extTrainer"), trainer_dir()) if p),
           "nnSSL_PRETRAINED": checkpoint, "nnSSL_FINETUNE_SCHEDULE": env_schedule or None}  # None: unset
    cmd = [os.path.join(os.path.dirname(sys.executable), "nnUNetv2_train"), str(args.target), args.configuration,
           str(fold_id), "-tr", trainer, "-p", args.plans_name, "-device", args.device]
    if os.path.isdir(fold_dir) and any(f.startswith("checkpoint") for f in os.listdir(fold_dir)):
        cmd.append("--c")
    return {"cmd": cmd, "env": env, "fold_dir": fold_dir, "results": results,
            "summary": os.path.join(fold_dir, "validation", "summary.json"), "schedule": env_schedule}


def run_one(args, target_name: str, init: str, checkpoint: str | None, fold_id: int,
            trainer: str, override: str = "") -> tuple[dict, str]:
    """Fine-tune one init on one registered fold (resumable); returns nnU-Net's validation summary and the
    run's fold folder."""
    plan = finetune_plan(args, target_name, init, checkpoint, fold_id, trainer, override)
    fold_dir, summary = plan["fold_dir"], plan["summary"]
    check_recorded_schedule(fold_dir, args.schedule, trainer_schedule(trainer, plan["schedule"]))
    if not os.path.isfile(summary) and args.report_only:
        return None, fold_dir
    if not os.path.isfile(summary):
        env = {**os.environ, **{k: v for k, v in plan["env"].items() if v is not None}}
        for k in (k for k, v in plan["env"].items() if v is None):
            env.pop(k, None)
        os.makedirs(plan["results"], exist_ok=True)
        with open(os.path.join(plan["results"], f"fold_{fold_id}.log"), "a") as log:
            proc = subprocess.run(plan["cmd"], env=env, stdout=log, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(plan['cmd'])} failed; see {log.name}")
    return load_json(summary), fold_dir


def check_recorded_schedule(fold_dir: str, schedule, expected=None) -> None:
    """Refuse to reuse a run folder trained with another schedule than the one asked for: another budget, or
    (with ``expected``, the :class:`FinetuneSchedule` this call would run) another recorded schedule field.

    Raises:
        ValueError: naming the folder, both schedules and the fix (a new --runs folder or init name).
    """
    from nnssl.trainers.finetune import RECORD_FILE
    from nnssl.trainers.finetune_schedule import FinetuneSchedule

    record_file = os.path.join(fold_dir, RECORD_FILE)
    if not os.path.isfile(record_file):
        return
    record = load_json(record_file)
    recorded = [record.get("resolved_epochs"), record.get("resolved_iterations")]
    if schedule and recorded != list(schedule[:2]):
        raise ValueError(f"{fold_dir} was trained with {recorded[0]} x {recorded[1]} iterations, not the requested "
                         f"{schedule[0]} x {schedule[1]}; pass a new --runs folder")
    fields = ("warmup_fraction", "fresh_lr", "pretrained_lr", "freeze_fraction", "linear_probe", "freeze_scope",
              "l2sp")
    # a field missing from an older record did not exist then: that run behaved as its default
    defaults = {f.name: f.default for f in dataclasses.fields(FinetuneSchedule)}
    differ = [f"{k}={record.get(k, defaults[k])} (asked: {getattr(expected, k)})" for k in fields
              if expected is not None and record.get(k, defaults[k]) != getattr(expected, k)]
    if differ:
        raise ValueError(f"{fold_dir} was trained with {', '.join(differ)}; give this schedule another --init name "
                         "(its runs go to their own folder) or pass a new --runs folder")


def run_seconds(fold_dir: str) -> float:
    """Training + validation time of a finished run: nnU-Net writes debug.json at the start and
    validation/summary.json at the end (so a resumed grid still reports every run's time)."""
    return os.path.getmtime(os.path.join(fold_dir, "validation", "summary.json")) - \
        os.path.getmtime(os.path.join(fold_dir, "debug.json"))


def run_benchmark(args) -> dict:
    """Run the grid and write the report; returns the report dict."""
    from nnssl.planning.pooled import resolve_dataset

    start = time.time()
    target_name = resolve_dataset(args.target)
    pre = os.path.join(os.environ["nnUNet_preprocessed"], target_name)
    plans = load_json(os.path.join(pre, f"{args.plans_name}.json"))
    if args.configuration not in plans["configurations"]:
        raise ValueError(f"{args.plans_name} of {target_name} has no {args.configuration}; run nnssl_pretrain -t")
    inits = resolve_inits(args.init, plans, args.configuration, args.scratch)
    variants = dict(v.split("=", 1) for v in args.variant if "=" in v)
    unknown = sorted(set(variants) - set(inits)) + [v for v in args.variant if "=" not in v]
    if unknown:
        raise ValueError(f"--variant {unknown}: give NAME=SUFFIX for an --init NAME")
    overrides = parse_schedule_overrides(args.schedule_override, inits, variants)
    for spec in (v for v in inits.values() if isinstance(v, dict)):  # before any work: scorable on the target?
        pool_direct.check_pool_dataset(spec["pool_direct"], target_name, args.plans_name, args.configuration)
    if args.fractions is None:
        args.fractions = [] if args.cases else [5, 15, 50, 100]
    data_id = plans["configurations"][args.configuration]["data_identifier"]
    from nnssl.benchmark.splits import base_splits

    entries = label_fraction_splits(base_splits(pre, data_id), args.folds, args.fractions, args.seed, args.cases)
    fold_ids = register_splits(pre, data_id, entries)
    os.makedirs(args.out, exist_ok=True)
    atomic_save_json([{**e, "nnunet_fold": f} for e, f in zip(entries, fold_ids, strict=True)],
                     os.path.join(args.out, "label_fraction_splits.json"))
    rows, curves, run_times, total, k, not_run = [], [], [], len(entries) * len(inits), 0, []
    labels = sorted({str(v) for n, v in load_json(os.path.join(pre, "dataset.json"))["labels"].items() if v != 0})
    for entry, fold_id in zip(entries, fold_ids, strict=True):
        for init, ckpt in inits.items():
            k += 1
            t = time.time()
            if isinstance(ckpt, dict):
                summary, fold_dir = run_pool_direct(args, target_name, init, ckpt["pool_direct"], entry)
            else:
                summary, fold_dir = run_one(args, target_name, init, ckpt, fold_id, trainer_for(ckpt, init, variants),
                                            overrides.get(init, ""))
            base = {"init": init, "fraction": entry["fraction"], "fold": entry["fold"],
                    "n_train": len(entry["train"])}
            if summary is None:
                not_run.append(base)
                continue
            if fold_dir is not None:  # pool_direct has no fine-tuning curve or run time
                curves += [{**base, **r} for r in read_curve(os.path.join(fold_dir, "checkpoint_final.pth"))]
                run_times.append(run_seconds(fold_dir))
            rows.append({**base, "label": "mean", "dice": summary["foreground_mean"]["Dice"]})
            rows += [{**base, "label": str(lab), "dice": v["Dice"]} for lab, v in summary["mean"].items()]
            print(f"[{k}/{total}] {init:<14} {entry['fraction']:>5g} % fold {entry['fold']} "
                  f"({len(entry['train'])} case{'s' if len(entry['train']) != 1 else ''}): "
                  f"Dice {summary['foreground_mean']['Dice']:.3f} "
                  f"({time.time() - t:.0f} s" + (f", run {run_times[-1]:.0f} s)" if fold_dir else ")"), flush=True)
    imported = []
    for report_dir in args.import_report:
        more_rows, more_curves, record = import_report(report_dir, entries, target_name, args.configuration,
                                                       args.schedule, rows)
        rows, curves = rows + more_rows, curves + more_curves
        filled = {run_key(r) for r in more_rows}
        not_run = [r for r in not_run if run_key(r) not in filled]
        imported.append(record)
        print(f"imported {', '.join(record['inits']) or 'no runs'} from {report_dir}", flush=True)
    if not rows:
        raise ValueError("no finished runs to report yet")
    write_csv(rows, os.path.join(args.out, "results.csv"))
    table = markdown_table(rows, ["mean", *labels])
    if not_run:
        missing = [f"{r['init']} {r['n_train']} case{'s' if r['n_train'] != 1 else ''} fold {r['fold']}"
                   for r in not_run]
        table += "\n**Not run** (in the grid, not finished when this report was written): " + "; ".join(missing) + "\n"
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table)
    n_folds = len({r["fold"] for r in rows})
    title = f"{target_name} ({args.configuration}), {n_folds} fold{'s' if n_folds != 1 else ''} with results"
    plot_dice_vs_fraction(rows, os.path.join(args.out, "dice_vs_fraction.png"), title=title)
    if any(r["init"] == "scratch" for r in rows):
        plot_paired_differences(rows, os.path.join(args.out, "paired_vs_scratch.png"), title=title)
    write_curves(curves, os.path.join(args.out, "curves.csv"))
    plateau = plateau_table(curves) if curves else "No fine-tuning curves (pool_direct runs are not fine-tuned).\n"
    with open(os.path.join(args.out, "plateau.md"), "w") as f:
        f.write(plateau)
    if curves:
        plot_curves(curves, os.path.join(args.out, "pseudo_dice_curves.png"), title=title)
    report = {"command": "nnssl_benchmark " + " ".join(args.argv), "target": target_name,
              "configuration": args.configuration, "inits": inits,
              "variants": variants, "schedule_overrides": overrides, "fractions": args.fractions,
              "cases": args.cases, "folds": args.folds,
              "seed": args.seed, "schedule": args.schedule,
              "device": args.device, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
              "wall_time_s_this_call": round(time.time() - start, 1),  # a resumed call only trains what is missing
              "not_run": not_run, "imported": imported,
              "run_time_s": {"total": round(sum(run_times), 1),
                             "mean": round(sum(run_times) / len(run_times), 1) if run_times else None,
                             "measured": "per run of this call's inits (imported runs: see their report), nnU-Net's "
                                         "debug.json (start) to validation/summary.json (end)"}}
    atomic_save_json(report, os.path.join(args.out, "benchmark.json"))
    print(table)
    print(plateau)
    return report


def main(argv=None) -> int:
    """Entry point of ``nnssl_benchmark`` (``nnssl_benchmark speed ...``: the step-time benchmark)."""
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["speed"]:
        from nnssl.cli import speed

        return speed.main(words[1:])
    if words[:1] == ["run"]:
        from nnssl.cli import benchmark_run

        return benchmark_run.main(words[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        args.device = resolve_device(args.device)
        run_benchmark(args)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"nnssl_benchmark: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
