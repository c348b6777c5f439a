"""How much a fine-tune varies between trainings, from the committed reports, and what that does to a per-fold target.

Usage: python scripts/run_noise.py [--pattern 'hippocampus_2d_*_1500it*'] [--cases 1] [--threshold 0.03]
(method: nnssl/benchmark/run_noise.py)
"""

import argparse
import os

from nnssl.benchmark.run_noise import chance_of_target, chance_per_fold, pooled_std, repeated_runs

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks")

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pattern", default="hippocampus_2d_*_1500it*", help="report folders to read (glob)")
    p.add_argument("--init", default="scratch")
    p.add_argument("--cases", type=int, default=1, help="labelled cases")
    p.add_argument("--threshold", type=float, default=0.03, help="per-fold target on a difference of two runs")
    a = p.parse_args()
    runs = repeated_runs(BENCH, a.pattern, a.init, a.cases)
    for fold, values in runs.items():
        print(f"fold {fold}: {len(values)} trainings, " + ", ".join(f"{v:.3f}" for v in values))
    std, dof = pooled_std(runs)
    print(f"pooled within-fold std of one training: {std:.4f} ({dof} degrees of freedom)")
    print(f"| true gain | chance one fold shows Δ ≥ {a.threshold:+.2f} | chance of ≥ 4 of 5 folds |\n|---|---|---|")
    for gain in (0.02, 0.03, 0.035, 0.04, 0.05):
        print(f"| {gain:+.3f} | {chance_per_fold(gain, a.threshold, std):.2f} | "
              f"{chance_of_target(gain, a.threshold, std):.2f} |")
