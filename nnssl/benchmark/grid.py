"""The low-label benchmark's grid: every init on every fold's nested labelled subsets, then the report files.

For each fold and label fraction, nested subsets of the fold's training cases are registered as extra folds of
nnU-Net's ``splits_final.json`` (validation cases unchanged), every init is fine-tuned with ``nnUNetv2_train`` on
the same subset and schedule (``finetune_runs.py``), and nnU-Net's own validation scores the fold's validation
cases. Writes results.csv, table.md, dice_vs_fraction.png, paired_vs_scratch.png, benchmark.json, and from nnU-Net's
epoch log curves.csv, plateau.md (did each run level off?) and pseudo_dice_curves.png.
"""

import os
import platform
import time

from nnssl.benchmark import pool_direct, selftrain_runs
from nnssl.benchmark.curves import plateau_table, plot_curves, read_curve, write_curves
from nnssl.benchmark.finetune_runs import (
    parse_schedule_overrides,
    resolve_inits,
    run_one,
    run_pool_direct,
    run_seconds,
    trainer_for,
)
from nnssl.benchmark.imported import import_report, parse_import, run_key
from nnssl.benchmark.report import markdown_table, plot_dice_vs_fraction, plot_paired_differences, write_csv
from nnssl.benchmark.splits import label_fraction_splits, register_splits
from nnssl.io import atomic_save_json, load_json


def run_benchmark(args) -> dict:
    """Run the grid and write the report; returns the report dict."""
    from nnssl.planning.datasets import resolve_dataset

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
    for spec in (v for v in inits.values() if isinstance(v, dict) and "pool_direct" in v):  # scorable on the target?
        pool_direct.check_pool_dataset(spec["pool_direct"], target_name, args.plans_name, args.configuration)
    if args.fractions is None:
        args.fractions = [] if args.cases else [5, 15, 50, 100]
    data_id = plans["configurations"][args.configuration]["data_identifier"]
    from nnssl.benchmark.splits import base_splits

    folds = base_splits(pre, data_id)  # nnU-Net's 5 folds: a self-training student's unlabelled cases come from them
    entries = label_fraction_splits(folds, args.folds, args.fractions, args.seed, args.cases)
    fold_ids = register_splits(pre, data_id, entries)
    os.makedirs(args.out, exist_ok=True)
    atomic_save_json([{**e, "nnunet_fold": f} for e, f in zip(entries, fold_ids, strict=True)],
                     os.path.join(args.out, "label_fraction_splits.json"))
    rows, curves, run_times, total, k, not_run = [], [], [], len(entries) * len(inits), 0, []
    labels = sorted({str(v) for n, v in load_json(os.path.join(pre, "dataset.json"))["labels"].items() if v != 0})
    for entry, fold_id in zip(entries, fold_ids, strict=True):
        models = {}  # init -> (model folder, fold) of this entry: the teachers of self-training inits
        for init, ckpt in inits.items():
            k += 1
            t = time.time()
            if selftrain_runs.is_selftrain(ckpt):
                summary, fold_dir = selftrain_runs.run_selftrain(args, target_name, init, ckpt, entry, fold_id,
                                                                 models.get(ckpt["selftrain"]),
                                                                 folds[entry["fold"]]["train"])
            elif isinstance(ckpt, dict):
                summary, fold_dir = run_pool_direct(args, target_name, init, ckpt["pool_direct"], entry)
                models[init] = (pool_direct.model_folder(args, init, ckpt["pool_direct"]), "all")
            else:
                summary, fold_dir = run_one(args, target_name, init, ckpt, fold_id, trainer_for(ckpt, init, variants),
                                            overrides.get(init, ""))
            if summary is not None and fold_dir is not None:
                models[init] = (os.path.dirname(fold_dir), str(fold_id))
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
    for spec in args.import_report:
        report_dir, only = parse_import(spec)
        more_rows, more_curves, record = import_report(report_dir, entries, target_name, args.configuration,
                                                       args.schedule, rows, only)
        rows, curves = rows + more_rows, curves + more_curves
        filled = {run_key(r) for r in more_rows}
        not_run = [r for r in not_run if run_key(r) not in filled]
        imported.append(record)
        print(f"imported {', '.join(record['inits']) or 'no runs'} from {report_dir}", flush=True)
    if not rows:
        raise ValueError("no finished runs to report yet")
    write_csv(rows, os.path.join(args.out, "results.csv"))
    table = markdown_table(rows, ["mean", *labels]) + selftrain_runs.versus_teacher(rows, inits)
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
