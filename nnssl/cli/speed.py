"""``nnssl_benchmark speed``: step time of every pretraining method against stock nnU-Net, one process.

On a pool planned by ``nnssl_pretrain`` (same plans, patch and batch for every trainer), it measures
per trainer the median training step and its spread, the share of the step spent in losses, voxel
sampling and on-thread views (replayed alone), the data loader's production against the step's
consumption, peak memory, and how the step grows with patch volume and batch. Prints tables, writes
speed.json and speed.md to --out, and says which step-time targets hold (documentation/benchmarks.md).

Example (the synthetic demo pool, on the CPU)::

    nnssl_benchmark speed -d 900 -c 3d_fullres --out benchmarks/speed_cpu -device cpu
"""

import argparse
import os
import platform
import sys
import time

import torch

from nnssl.arguments import OneDefaultFormatter, SuggestingArgumentParser, add_device_argument, resolve_device
from nnssl.benchmark.speed import TRAINERS, StepResult, measure, merge_repeats, results_json, scaled_plans
from nnssl.benchmark.speed_report import FLOOR_ROW, SCALES, tables, targets, write_report  # noqa: F401
from nnssl.io import atomic_save_json, load_json


def build_parser() -> argparse.ArgumentParser:
    """Argument parser."""
    p = SuggestingArgumentParser(prog="nnssl_benchmark speed", description=__doc__, allow_abbrev=False,
                                formatter_class=OneDefaultFormatter)
    p.add_argument("-d", "--dataset", required=True, help="pool dataset id or name (planned by nnssl_pretrain)")
    p.add_argument("-c", "--configuration", default="3d_fullres", choices=["3d_fullres", "2d"],
                   help="nnU-Net configuration")
    p.add_argument("-p", "--plans-name", default="nnsslPlans", help="plans identifier")
    p.add_argument("--trainers", nargs="+", default=list(TRAINERS), choices=list(TRAINERS),
                   help="rows to measure (supervised is the reference)")
    p.add_argument("--batch-size", type=int, default=None, help="override the plan's batch for every trainer")
    p.add_argument("--steps", type=int, default=5, help="timed steps per trainer and scale (after one warm-up)")
    p.add_argument("--loader-batches", type=int, default=8,
                   help="batches timed from each training loader at the base scale (0: skip)")
    p.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES),
                   help="patch-volume / batch scalings to time")
    p.add_argument("--label-samples", type=int, nargs="*", default=[],
                   help="extra MixCL rows at the base scale with this many label voxels per class (r; the "
                        "default row uses the method's 512)")
    p.add_argument("--label-impl", default="grouped", choices=["grouped", "dense", "both"],
                   help="MixCL label term: the grouped class-sum form (default), the dense-mask form it replaced "
                        "(same maths), or both as rows 'mixcl' and 'mixcl:dense-label' of one run (before / after)")
    p.add_argument("--repeats", type=int, default=1,
                   help="measure every row this many times (fresh trainer each); the table gives the pooled "
                        "median and IQR and the range of the repeats' medians")
    add_device_argument(p)
    p.add_argument("--out", required=True, help="folder for speed.json and speed.md (required)")
    return p


def _scaled_patch(patch: list[int], factor: int) -> list[int]:
    """The patch with its first axis multiplied by ``factor`` (keeps every stride's divisibility)."""
    return [patch[0] * factor, *patch[1:]]


def _label_rows(name: str, impl: str) -> list[tuple[str, str]]:
    """(row name, label implementation) measured for trainer row ``name`` under ``--label-impl impl``."""
    if name != "mixcl" or impl == "grouped":
        return [(name, "grouped")]
    if impl == "dense":
        return [("mixcl:dense-label", "dense")]
    return [("mixcl", "grouped"), ("mixcl:dense-label", "dense")]


def run(args: argparse.Namespace) -> list[StepResult]:
    """Measure every requested trainer at every requested scale."""
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    if nnUNet_preprocessed is None:
        raise ValueError("nnUNet_preprocessed is not set; export it (and nnUNet_raw, nnUNet_results)")
    pool = maybe_convert_to_dataset_name(args.dataset)
    folder = os.path.join(nnUNet_preprocessed, pool)
    plans = load_json(os.path.join(folder, f"{args.plans_name}.json"))
    if args.configuration not in plans["configurations"]:
        raise ValueError(f"{pool} has no configuration {args.configuration!r} in {args.plans_name}; "
                         f"choose one of {sorted(plans['configurations'])}")
    dataset_json = load_json(os.path.join(folder, "dataset.json"))
    device = torch.device(args.device)
    cfg = plans["configurations"][args.configuration]
    batch = args.batch_size or cfg["batch_size"]
    results = []
    for scale in args.scales:
        patch_factor, batch_factor = SCALES[scale]
        scaled = scaled_plans(plans, args.configuration, _scaled_patch(cfg["patch_size"], patch_factor),
                              batch * batch_factor)
        for name in args.trainers:
            class_name, overrides = TRAINERS[name]
            for row, impl in _label_rows(name, args.label_impl):
                t0 = time.time()
                r = merge_repeats([measure(f"{row}@{scale}", class_name, overrides, scaled, args.configuration,
                                           dataset_json, device, args.steps,
                                           args.loader_batches if scale == "base" else 0, label=impl)
                                   for _ in range(args.repeats)])
                results.append(r)
                print(f"nnssl speed: {row:22s} {scale:9s} step {r.median_s:.3f} s (IQR {r.iqr_s:.3f}), "
                      f"overhead {r.overhead_share:.1%}, measured in {time.time() - t0:.0f} s", flush=True)
    base = scaled_plans(plans, args.configuration, None, batch)
    if "mixcl" in args.trainers and "supervised" in args.trainers and "base" in args.scales:
        # the floor of any three-view step: stock nnU-Net's step on three times the items (MixCL's V1, V1', V2)
        floor_plans = scaled_plans(plans, args.configuration, None, 3 * batch)
        r = merge_repeats([measure(f"{FLOOR_ROW}@base", *TRAINERS["supervised"], floor_plans, args.configuration,
                                   dataset_json, device, args.steps, 0) for _ in range(args.repeats)])
        results.append(r)
        print(f"nnssl speed: {FLOOR_ROW:22s} base      step {r.median_s:.3f} s", flush=True)
    for r_samples in args.label_samples:
        r = merge_repeats([measure(f"mixcl r={r_samples}@base", "MixCLPretrainer",
                                   {"method": "mixcl", "per_class": r_samples}, base, args.configuration,
                                   dataset_json, device, args.steps, 0,
                                   label="dense" if args.label_impl == "dense" else "grouped")
                           for _ in range(args.repeats)])
        results.append(r)
        print(f"nnssl speed: mixcl r={r_samples:<14d} base      step {r.median_s:.3f} s", flush=True)
    return results


def main(argv=None) -> int:
    """Entry point of ``nnssl_benchmark speed``."""
    args = build_parser().parse_args(argv)
    try:
        args.device = resolve_device(args.device)
        if args.steps < 2:
            raise ValueError(f"--steps {args.steps}: give at least 2 timed steps for a spread")
        if args.repeats < 1:
            raise ValueError(f"--repeats {args.repeats}: give at least 1")
        bad = [r for r in args.label_samples if r < 1]
        if bad:
            raise ValueError(f"--label-samples {bad[0]}: give a positive number of voxels per class")
        results = run(args)
    except (ValueError, OSError) as e:
        print(f"nnssl_benchmark speed: error: {e}", file=sys.stderr)
        return 2
    meta = {"command": "nnssl_benchmark speed " + " ".join(sys.argv[2:] if argv is None else argv),
            "device": str(args.device), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None, "pool": args.dataset,
            "configuration": args.configuration, "plans": args.plans_name, "steps": args.steps,
            "repeats": args.repeats, "label_impl": args.label_impl}
    os.makedirs(args.out, exist_ok=True)
    atomic_save_json(results_json(results, meta), os.path.join(args.out, "speed.json"))
    print(write_report(results, meta, args.out))
    print(f"\nnnssl speed: wrote {os.path.join(args.out, 'speed.json')} and speed.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
