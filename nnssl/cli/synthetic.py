"""``nnssl_make_synthetic``: write the demo pool (101, 102, 103) and target (200) as nnU-Net raw data."""

import argparse
import os
import sys

from nnssl.arguments import OneDefaultFormatter, SuggestingArgumentParser
from nnssl.data.synthetic import write_demo_pool


def build_parser() -> argparse.ArgumentParser:
    """Argument parser."""
    p = SuggestingArgumentParser(prog="nnssl_make_synthetic", description=__doc__,
                                 formatter_class=OneDefaultFormatter, allow_abbrev=False)
    p.add_argument("raw_folder", help="nnUNet_raw folder to write into (existing datasets are left untouched)")
    p.add_argument("--cases", type=int, default=8, help="cases per pool dataset")
    p.add_argument("--target-cases", type=int, default=10, help="training cases of the target (plus 4 test cases)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the generator")
    return p


def main(argv=None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    for folder in write_demo_pool(os.path.abspath(args.raw_folder), args.cases, args.target_cases, seed=args.seed):
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
