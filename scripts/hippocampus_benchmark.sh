#!/usr/bin/env bash
# Low-label benchmark on real data: pretrain on Hippocampus part A (601), fine-tune part B (602)
# with 5/15/50/100 % of each fold's training cases, scratch vs every pretrained init.
# Usage: scripts/hippocampus_benchmark.sh <workdir> [report_dir]
# Budget (CPU, 2 cores): 2d configuration, batch 16, pretraining 400 iterations per method (stage),
# fine-tuning 6 x 50 iterations, folds 0 and 1. Everything heavy goes to <workdir>.
set -euo pipefail
work=$(realpath "${1:?usage: $0 <workdir> [report_dir]}")
here=$(dirname "$(realpath "$0")")
report=${2:-$here/../benchmarks/hippocampus_2d}
"$here/hippocampus_pretrain.sh" "$work"
export nnUNet_raw=$work/raw nnUNet_preprocessed=$work/preprocessed nnUNet_results=$work/results
export nnUNet_def_n_proc=1 nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-0}
nnssl_benchmark -t 602 -c 2d --init mixcl --init global_local --init regression \
  --fractions 5 15 50 100 --folds 0 1 --schedule 6 50 5 --device "${DEVICE:-cpu}" \
  --out "$report" --runs "$work/finetune_runs"
