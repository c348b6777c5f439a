"""The low-label benchmark's grid: every init on every fold's nested labelled subsets, then the report files.

For each fold and label fraction, nested subsets of the fold's training cases are registered as extra folds of
nnU-Net's ``splits_final.json`` (validation cases unchanged), every init is fine-tuned with ``nnUNetv2_train`` on
the same subset and schedule (``finetune_runs.py``), and nnU-Net's own validation scores the fold's validation
cases. Writes results.csv, table.md, dice_vs_fraction.png, paired_vs_scratch.png, benchmark.json, and from nnU-Net's
epoch log curves.csv, plateau.md (did each run level off?) and pseudo_dice_curves.png.
"""

import dataclasses
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
from nnssl.benchmark.request import BenchmarkRequest
from nnssl.benchmark.splits import label_fraction_splits, register_splits
from nnssl.io import atomic_save_json, load_json


@dataclasses.dataclass
class _Grid:
    """What a request resolves to on disk: the target, the inits and the registered labelled subsets."""

    target_name: str
    inits: dict
    variants: dict
    overrides: dict
    folds: list[dict]  # nnU-Net's 5 folds: a self-training student's unlabelled cases come from them
    entries: list[dict]
    fold_ids: list[int]
    labels: list[str]


@dataclasses.dataclass
class _Results:
    rows: list = dataclasses.field(default_factory=list)
    curves: list = dataclasses.field(default_factory=list)
    run_times: list = dataclasses.field(default_factory=list)
    not_run: list = dataclasses.field(default_factory=list)
    imported: list = dataclasses.field(default_factory=list)


def run_benchmark(request: BenchmarkRequest) -> dict:
    """Run the grid and write the report; returns the report dict."""
    start = time.time()
    grid = _resolve(request)
    results = _run_cells(request, grid)
    _import_reports(request, grid, results)
    if not results.rows:
        raise ValueError("no finished runs to report yet")
    return _write_report(request, grid, results, time.time() - start)


def _resolve(request: BenchmarkRequest) -> _Grid:
    """Check the request against the target's plans and register its labelled subsets as nnU-Net folds."""
    from nnssl.benchmark.splits import base_splits
    from nnssl.planning.datasets import resolve_dataset

    target_name = resolve_dataset(request.target)
    pre = os.path.join(os.environ["nnUNet_preprocessed"], target_name)
    plans = load_json(os.path.join(pre, f"{request.plans_name}.json"))
    if request.configuration not in plans["configurations"]:
        raise ValueError(f"{request.plans_name} of {target_name} has no {request.configuration}; run nnssl_pretrain -t")
    inits = resolve_inits(list(request.init), plans, request.configuration, request.scratch)
    variants = dict(v.split("=", 1) for v in request.variant if "=" in v)
    unknown = sorted(set(variants) - set(inits)) + [v for v in request.variant if "=" not in v]
    if unknown:
        raise ValueError(f"--variant {unknown}: give NAME=SUFFIX for an --init NAME")
    overrides = parse_schedule_overrides(list(request.schedule_override), inits, variants)
    for spec in (v for v in inits.values() if isinstance(v, dict) and "pool_direct" in v):  # scorable on the target?
        pool_direct.check_pool_dataset(spec["pool_direct"], target_name, request.plans_name, request.configuration)
    data_id = plans["configurations"][request.configuration]["data_identifier"]
    folds = base_splits(pre, data_id)
    entries = label_fraction_splits(folds, request.folds, request.fractions, request.seed, request.cases)
    fold_ids = register_splits(pre, data_id, entries)
    os.makedirs(request.out, exist_ok=True)
    atomic_save_json([{**e, "nnunet_fold": f} for e, f in zip(entries, fold_ids, strict=True)],
                     os.path.join(request.out, "label_fraction_splits.json"))
    labels = sorted({str(v) for n, v in load_json(os.path.join(pre, "dataset.json"))["labels"].items() if v != 0})
    return _Grid(target_name, inits, variants, overrides, folds, entries, fold_ids, labels)


def _student(grid: _Grid, init: str | None) -> tuple[str, str, str] | None:
    """(trainer, checkpoint, schedule override) of the init a self-training student is fine-tuned like."""
    if init is None:
        return None
    return trainer_for(grid.inits[init], init, grid.variants), grid.inits[init], grid.overrides.get(init, "")


def _run_cells(request: BenchmarkRequest, grid: _Grid) -> _Results:
    """Every init on every labelled subset (finished runs are read, not trained again)."""
    results, k, total = _Results(), 0, len(grid.entries) * len(grid.inits)
    for entry, fold_id in zip(grid.entries, grid.fold_ids, strict=True):
        models = {}  # init -> (model folder, fold) of this entry: the teachers of self-training inits
        for init, ckpt in grid.inits.items():
            k += 1
            t = time.time()
            if selftrain_runs.is_selftrain(ckpt):
                summary, fold_dir = selftrain_runs.run_selftrain(request, grid.target_name, init, ckpt, entry,
                                                                 fold_id, models.get(ckpt["selftrain"]),
                                                                 grid.folds[entry["fold"]]["train"],
                                                                 _student(grid, ckpt.get("student")))
            elif isinstance(ckpt, dict):
                summary, fold_dir = run_pool_direct(request, grid.target_name, init, ckpt["pool_direct"], entry)
                models[init] = (pool_direct.model_folder(request, init, ckpt["pool_direct"]), "all")
            else:
                summary, fold_dir = run_one(request, grid.target_name, init, ckpt, fold_id,
                                            trainer_for(ckpt, init, grid.variants), grid.overrides.get(init, ""))
            if summary is not None and fold_dir is not None:  # the fold the model trained: a student's is its
                models[init] = (os.path.dirname(fold_dir), os.path.basename(fold_dir).removeprefix("fold_"))  # own
            base = {"init": init, "fraction": entry["fraction"], "fold": entry["fold"],
                    "n_train": len(entry["train"])}
            if summary is None:
                results.not_run.append(base)
                continue
            if fold_dir is not None:  # pool_direct has no fine-tuning curve or run time
                results.curves += [{**base, **r} for r in read_curve(os.path.join(fold_dir, "checkpoint_final.pth"))]
                results.run_times.append(run_seconds(fold_dir))
            results.rows.append({**base, "label": "mean", "dice": summary["foreground_mean"]["Dice"]})
            results.rows += [{**base, "label": str(lab), "dice": v["Dice"]} for lab, v in summary["mean"].items()]
            print(f"[{k}/{total}] {init:<14} {entry['fraction']:>5g} % fold {entry['fold']} "
                  f"({len(entry['train'])} case{'s' if len(entry['train']) != 1 else ''}): "
                  f"Dice {summary['foreground_mean']['Dice']:.3f} ({time.time() - t:.0f} s"
                  + (f", run {results.run_times[-1]:.0f} s)" if fold_dir else ")"), flush=True)
    return results


def _import_reports(request: BenchmarkRequest, grid: _Grid, results: _Results) -> None:
    """Join the finished runs of earlier reports of the same grid (``--import-report``)."""
    for spec in request.import_report:
        report_dir, only = parse_import(spec)
        more_rows, more_curves, record = import_report(report_dir, grid.entries, grid.target_name,
                                                       request.configuration, request.schedule, results.rows, only)
        results.rows += more_rows
        results.curves += more_curves
        filled = {run_key(r) for r in more_rows}
        results.not_run = [r for r in results.not_run if run_key(r) not in filled]
        results.imported.append(record)
        print(f"imported {', '.join(record['inits']) or 'no runs'} from {report_dir}", flush=True)


def _write_report(request: BenchmarkRequest, grid: _Grid, results: _Results, seconds: float) -> dict:
    """results.csv, table.md, plateau.md, the plots and benchmark.json; returns the report dict."""
    rows, curves, out = results.rows, results.curves, request.out
    write_csv(rows, os.path.join(out, "results.csv"))
    table = markdown_table(rows, ["mean", *grid.labels]) + selftrain_runs.versus_teacher(rows, grid.inits)
    if results.not_run:
        missing = [f"{r['init']} {r['n_train']} case{'s' if r['n_train'] != 1 else ''} fold {r['fold']}"
                   for r in results.not_run]
        table += "\n**Not run** (in the grid, not finished when this report was written): " + "; ".join(missing) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table)
    n_folds = len({r["fold"] for r in rows})
    title = f"{grid.target_name} ({request.configuration}), {n_folds} fold{'s' if n_folds != 1 else ''} with results"
    plot_dice_vs_fraction(rows, os.path.join(out, "dice_vs_fraction.png"), title=title)
    if any(r["init"] == "scratch" for r in rows):
        plot_paired_differences(rows, os.path.join(out, "paired_vs_scratch.png"), title=title)
    write_curves(curves, os.path.join(out, "curves.csv"))
    plateau = plateau_table(curves) if curves else "No fine-tuning curves (pool_direct runs are not fine-tuned).\n"
    with open(os.path.join(out, "plateau.md"), "w") as f:
        f.write(plateau)
    if curves:
        plot_curves(curves, os.path.join(out, "pseudo_dice_curves.png"), title=title)
    run_times = results.run_times
    report = {"command": "nnssl_benchmark " + " ".join(request.argv()), "target": grid.target_name,
              "configuration": request.configuration, "inits": grid.inits,
              "variants": grid.variants, "schedule_overrides": grid.overrides, "fractions": request.fractions,
              "cases": request.cases, "folds": request.folds, "seed": request.seed, "schedule": request.schedule,
              "device": request.device, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
              "wall_time_s_this_call": round(seconds, 1),  # a resumed call only trains what is missing
              "not_run": results.not_run, "imported": results.imported,
              "run_time_s": {"total": round(sum(run_times), 1),
                             "mean": round(sum(run_times) / len(run_times), 1) if run_times else None,
                             "measured": "per run of this call's inits (imported runs: see their report), nnU-Net's "
                                         "debug.json (start) to validation/summary.json (end)"}}
    atomic_save_json(report, os.path.join(out, "benchmark.json"))
    print(table)
    print(plateau)
    return report
