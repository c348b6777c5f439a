"""``nnssl_benchmark run PROTOCOL``: carry out a benchmark protocol (a TOML file; ``nnssl/benchmark/protocol.py``).

Pretrains what is missing, fine-tunes what is missing (resuming where it stopped) and writes the report as
``nnssl_benchmark`` does, plus the protocol as written and resolved. ``--dry-run`` lists every command and
what is already done, without writing anything.

Example::

    nnssl_benchmark run benchmarks/protocols/s4_supervised_1case.toml --work /work/bench -device cpu --dry-run
"""

import argparse
import os
import sys

from nnssl.arguments import OneDefaultFormatter, SuggestingArgumentParser, add_device_argument, resolve_device


def build_parser() -> argparse.ArgumentParser:
    p = SuggestingArgumentParser(prog="nnssl_benchmark run", description=__doc__, allow_abbrev=False,
                                formatter_class=OneDefaultFormatter)
    p.add_argument("protocol", help="a protocol file, or a name in benchmarks/protocols/")
    p.add_argument("--out", default=None,
                   help="report folder (default: benchmarks/<the protocol's report> in this checkout)")
    p.add_argument("--work", default=None,
                   help="working folder: nnUNet_raw, nnUNet_preprocessed and nnUNet_results become its raw/, "
                        "preprocessed/ and results/, the fine-tuning runs go below it (default: the folder above "
                        "$nnUNet_results)")
    add_device_argument(p)
    p.add_argument("--dry-run", action="store_true", help="list every command and what is done; run nothing")
    p.add_argument("--report-only", action="store_true", help="train nothing: write the report of finished runs")
    return p


def main(argv=None) -> int:
    from nnssl.benchmark import protocol as protocols
    from nnssl.benchmark.run_protocol import run

    args = build_parser().parse_args(argv)
    try:
        protocol = protocols.load(args.protocol)
        if args.out is None and not protocol.report:
            raise ValueError(f"{args.protocol}: no report name in the protocol; pass --out")
        out = os.path.abspath(args.out or os.path.join(protocols.repository_folder("benchmarks"), protocol.report))
        if args.work:
            work = os.path.abspath(args.work)
            for var, sub in (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "preprocessed"),
                             ("nnUNet_results", "results")):
                os.environ[var] = os.path.join(work, sub)
                os.makedirs(os.environ[var], exist_ok=True)
        elif os.environ.get("nnUNet_results"):
            work = os.path.dirname(os.path.abspath(os.environ["nnUNet_results"]))
        else:
            raise OSError("give --work, or set nnUNet_raw, nnUNet_preprocessed and nnUNet_results")
        device = resolve_device(args.device) if not args.dry_run else (args.device or "cpu")
        run(protocol, out, work, device, dry_run=args.dry_run, report_only=args.report_only)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"nnssl_benchmark run: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
