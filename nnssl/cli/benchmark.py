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
import sys

from nnssl.arguments import OneDefaultFormatter, SuggestingArgumentParser, add_device_argument, resolve_device
from nnssl.benchmark.request import SCRATCH_TRAINERS, BenchmarkRequest


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
    p.add_argument("--import-report", action="append", default=[], metavar="DIR[:INIT,...]",
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


def parse_request(words: list[str]) -> BenchmarkRequest:
    """The request of ``nnssl_benchmark``'s words (the device left as given: None is this machine's)."""
    return BenchmarkRequest(**vars(build_parser().parse_args(words)))


def main(argv=None) -> int:
    """Entry point of ``nnssl_benchmark`` (``nnssl_benchmark speed ...``: the step-time benchmark)."""
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["speed"]:
        from nnssl.cli import speed

        return speed.main(words[1:])
    if words[:1] == ["run"]:
        from nnssl.cli import benchmark_run

        return benchmark_run.main(words[1:])
    try:
        request = parse_request(words)
        from nnssl.benchmark.grid import run_benchmark

        run_benchmark(dataclasses.replace(request, device=resolve_device(request.device)))
    except (ValueError, OSError, RuntimeError) as e:
        print(f"nnssl_benchmark: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
