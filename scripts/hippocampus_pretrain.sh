#!/usr/bin/env bash
# Pretrain the three methods on Hippocampus part A (601) for the low-label benchmark on part B (602).
# 2d configuration, planned batch overridden to 16 (CPU budget). Usage: scripts/hippocampus_pretrain.sh <workdir>
set -euo pipefail
work=$(realpath "${1:?usage: $0 <workdir>}")
here=$(dirname "$(realpath "$0")")
export nnUNet_raw=$work/raw nnUNet_preprocessed=$work/preprocessed nnUNet_results=$work/results
export nnUNet_def_n_proc=1 nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-0}
mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
python "$here/prepare_hippocampus.py" "$nnUNet_raw"
device=${DEVICE:-cpu}
common=(-d 601 -t 602 -c 2d --plan-batch-size 16 --device "$device" --val-iterations 2 --continue)
nnssl_pretrain "${common[@]}" -m mixcl --epochs 8 --iterations 50
nnssl_pretrain "${common[@]}" -m global_local --epochs 8 --iterations 50 --cases-per-batch 4
nnssl_pretrain "${common[@]}" -m regression --epochs 8 --iterations 50
