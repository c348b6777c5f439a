#!/usr/bin/env bash
# Low-label benchmark on real data: pretrain on Hippocampus part A (601) and on ACDC (603), fine-tune
# Hippocampus part B (602), scratch vs every pretrained init. Two grids (CPU, 2 cores, 2d, batch 16):
#   short: 6 x 50 iterations, fractions 5/15/50/100 %, folds 0-1            (-> benchmarks/hippocampus_2d)
#   long:  20 x 50 iterations, 5 % of the labels (4 cases), folds 0-4,
#          MixCL and its ablations and the ACDC-pretrained MixCL          (-> benchmarks/hippocampus_2d_5pct_1000it)
# Usage: scripts/hippocampus_benchmark.sh <workdir> [report_root]. Everything heavy goes to <workdir>;
# every step resumes where it stopped.
set -euo pipefail
work=$(realpath "${1:?usage: $0 <workdir> [report_root]}")
here=$(dirname "$(realpath "$0")")
report=${2:-$here/../benchmarks}
"$here/hippocampus_pretrain.sh" "$work"
export nnUNet_raw=$work/raw nnUNet_preprocessed=$work/preprocessed nnUNet_results=$work/results
export nnUNet_def_n_proc=1 nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-0}
nnssl_benchmark -t 602 -c 2d --init mixcl --init global_local --init regression \
  --fractions 5 15 50 100 --folds 0 1 --schedule 6 50 5 --device "${DEVICE:-cpu}" \
  --out "$report/hippocampus_2d" --runs "$work/finetune_runs"
nnssl_benchmark -t 602 -c 2d --init mixcl --init mixcl_nolabel --init mixcl_norecon --init mixcl_acdc \
  --fractions 5 --folds 0 1 2 3 4 --schedule 20 50 5 --device "${DEVICE:-cpu}" \
  --out "$report/hippocampus_2d_5pct_1000it" --runs "$work/finetune_runs_1000it"
