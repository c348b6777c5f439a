"""Copy the benchmark data (../shared/data) into an nnUNet_raw: see nnssl/benchmark/shared_data.py.

Usage: python scripts/prepare_hippocampus.py <nnUNet_raw> [--shared ../shared/data]
"""

import argparse

from nnssl.benchmark.shared_data import default_shared, prepare_hippocampus

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("raw")
    p.add_argument("--shared", default=default_shared())
    args = p.parse_args()
    try:
        print("\n".join(prepare_hippocampus(args.raw, args.shared)))
    except ValueError as e:
        raise SystemExit(str(e)) from None
