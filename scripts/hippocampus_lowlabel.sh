#!/usr/bin/env bash
# Low-label benchmark (issue 8): 1, 2 and 4 labelled Hippocampus cases, scratch (nnU-Net's recipe and the
# same warm-up schedule) vs pretrained inits fine-tuned with the warm-up schedule. 2d, batch 16, CPU.
#   pretraining: MixCL on Hippocampus part A (601) with the target's plan, 12 x 50 iterations, lr 5e-4
#   grid: 12 x 50 = 600 fine-tuning iterations, 5 folds; 1-2 cases first (the headline), then 4 cases
# Usage: scripts/hippocampus_lowlabel.sh <workdir> [report_dir]. Every step resumes where it stopped;
# STAGE=scratch runs only the scratch baselines (they need no pretraining), STAGE=report only reports.
set -euo pipefail
work=$(realpath "${1:?usage: $0 <workdir> [report_dir]}")
here=$(dirname "$(realpath "$0")")
report=${2:-$here/../benchmarks/hippocampus_2d_1-4cases}
export nnUNet_raw=$work/raw nnUNet_preprocessed=$work/preprocessed nnUNet_results=$work/results
export nnUNet_def_n_proc=1 nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-0}
device=${DEVICE:-cpu}
grid=(-t 602 -c 2d --schedule 12 50 5 --device "$device" --folds 0 1 2 3 4 --runs "$work/lowlabel_runs" --out "$report")
stage=${STAGE:-all}
if [ "$stage" = report ]; then
  nnssl_benchmark "${grid[@]}" --init mixcl --cases 1 2 4 --report-only; exit
fi
mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
python "$here/prepare_hippocampus.py" "$nnUNet_raw"
if [ "$stage" = scratch ]; then
  nnssl_pretrain -d 601 -t 602 -c 2d --plan-batch-size 16 --plan-only -m mixcl
  nnssl_benchmark "${grid[@]}" --cases 1 2; exit
fi
nnssl_pretrain -d 601 -t 602 -c 2d --plan-batch-size 16 -device "$device" -m mixcl --schedule cpu --continue
nnssl_benchmark "${grid[@]}" --init mixcl --cases 1 2
nnssl_benchmark "${grid[@]}" --init mixcl --cases 1 2 4
