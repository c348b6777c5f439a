#!/usr/bin/env bash
# Pretrain for the low-label benchmark on Hippocampus part B (602): the three methods and the two MixCL
# ablations on Hippocampus part A (601), and MixCL on ACDC (603, cross-domain; it gets the target's plan).
# 2d configuration, planned batch overridden to 16 (CPU budget). Usage: scripts/hippocampus_pretrain.sh <workdir>
set -euo pipefail
work=$(realpath "${1:?usage: $0 <workdir>}")
here=$(dirname "$(realpath "$0")")
export nnUNet_raw=$work/raw nnUNet_preprocessed=$work/preprocessed nnUNet_results=$work/results
export nnUNet_def_n_proc=1 nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-0}
mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
python "$here/prepare_hippocampus.py" "$nnUNet_raw"
device=${DEVICE:-cpu}
common=(-t 602 -c 2d --plan-batch-size 16 --device "$device" --val-iterations 2 --continue)
nnssl_pretrain -d 601 "${common[@]}" -m mixcl --epochs 8 --iterations 50
nnssl_pretrain -d 601 "${common[@]}" -m global_local --epochs 8 --iterations 50 --cases-per-batch 4
nnssl_pretrain -d 601 "${common[@]}" -m regression --epochs 8 --iterations 50
nnssl_pretrain -d 601 "${common[@]}" -m mixcl --epochs 8 --iterations 50 --no-label --run-name mixcl_nolabel
nnssl_pretrain -d 601 "${common[@]}" -m mixcl --epochs 8 --iterations 50 --no-recon --run-name mixcl_norecon
# ACDC's 256x216 slices would make a pooled plan far more expensive: preprocess it with the target's plan
nnssl_pretrain -d 603 "${common[@]}" --plan-from-target -m mixcl --epochs 8 --iterations 50 --run-name mixcl_acdc
