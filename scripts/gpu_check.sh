#!/usr/bin/env bash
# GPU check: everything CPU runs cannot show, as one script that fits 10 minutes of one lent GPU.
#   1. nnssl_benchmark speed, 3d_fullres (CUDA, autocast: nnssl's trainers and nnU-Net's use it on cuda), every
#      method, MixCL's label term both ways (--label-impl both), base and patch x2
#   2. a short 3d_fullres MixCL pretraining (EPOCHS x ITERATIONS, default 3 x 100)
#   3. a fine-tune of fold 0 through stock nnUNetv2_train -tr MixCLFinetuneTrainer, then stock nnUNetv2_predict
#      on 4 of the fold's validation cases and nnU-Net's evaluation (Dice per label)
#   4. nnssl_benchmark speed, 2d, every method, base scale
# Steps run in that order (most wanted first), each timed; a step that fails is logged and the next one runs.
#
# Usage: scripts/gpu_check.sh OUT [--smoke] [--shared DIR] [--work DIR]
#   OUT      receives gpu_check.log, summary.md, speed_3d_fullres/ and speed_2d/ (speed.json, speed.md),
#            finetune_progress.png: 7 files, at most 2 folders down (what the device tool brings back).
#   --shared folder holding Dataset004_Hippocampus (default ../shared/data): pool = Hippocampus half A (601),
#            target = half B (602), as in benchmarks/.
#   --smoke  the same steps on the CPU at toy size on the synthetic pool (101 -> 200); CI runs this
#            (tests/test_gpu_check.py), so the script cannot rot where no GPU is lent.
#   --work   nnUNet_raw/preprocessed/results go here (default: a temporary folder, removed at the end).
# Environment: PYTHON (default python3; must import torch, nnunetv2 and, from this checkout, nnssl).
#
# On a lent device (the `device` tool; nothing can be installed there from the network). Measured 2026-12-04:
# the wheels nnU-Net 2.8.1 needs beyond that machine's image are about 92 MB (SimpleITK 53 MB, imagecodecs
# 26 MB, blosc2 8 MB, cc3d 5 MB, nibabel 3 MB, the rest < 1 MB; acvl_utils has no wheel: `pip wheel` it here),
# over the 64 MiB one call may carry. So: call 1 carries SimpleITK's wheel and installs it into /tmp/site;
# call 2 (while the machine is still warm, 30 s) carries the other wheels (imagecodecs left out: only nnU-Net's
# TIFF reader uses it) and Dataset004_Hippocampus (15 MB) in folders that .git/info/exclude ignores, e.g.
#   pip install --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD &&
#   scripts/gpu_check.sh "$OUT" --shared .gpu_data
# Commit OUT's files as benchmarks/gpu_check_<gpu>/ beside the CPU results.
set -uo pipefail

usage() { echo "usage: $0 OUT [--smoke] [--shared DIR] [--work DIR]" >&2; exit 2; }
[[ $# -ge 1 && $1 != -* ]] || usage
out=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
smoke=0; shared=$(cd "$here/.." && pwd)/shared/data; work=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --smoke) smoke=1; shift ;;
    --shared) [[ $# -ge 2 ]] || usage; shared=$2; shift 2 ;;
    --work) [[ $# -ge 2 ]] || usage; work=$2; shift 2 ;;
    *) echo "$0: unknown argument $1" >&2; usage ;;
  esac
done
PY=${PYTHON:-python3}
# refuse before anything is created or redirected, so the message reaches the caller's stderr
if [[ $smoke == 0 ]] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "$0: no CUDA device visible to $PY; on a CPU run with --smoke" >&2; exit 2
fi
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
if [[ -z $work ]]; then work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$work" && work=$(cd "$work" && pwd)
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export nnUNet_raw=$work/raw nnUNet_preprocessed=$work/preprocessed nnUNet_results=$work/results
export nnUNet_extTrainer=$here/trainers nnUNet_def_n_proc=1
mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
log=$out/gpu_check.log; summary=$out/summary.md
: > "$log"
exec > >(tee -a "$log") 2>&1

if [[ $smoke == 1 ]]; then
  device=cpu; pool=101; target=200; epochs=1; iterations=2; ft_schedule=1,2,1; steps=2; np=1
  speed_extra=(--trainers supervised mixcl --batch-size 1 --loader-batches 0)
  scales3d=(base); export nnUNet_n_proc_DA=0
else
  device=cuda; pool=601; target=602; epochs=${EPOCHS:-3}; iterations=${ITERATIONS:-100}; ft_schedule=5,50,5
  steps=10; np=8; speed_extra=(--loader-batches 8); scales3d=(base "patch x2")
fi

failed=()
t_start=$SECONDS
step() {  # step NAME COMMAND...: run, time, log; a failure is recorded and the script goes on
  local name=$1; shift
  echo "== [$((SECONDS - t_start)) s] $name"
  local t0=$SECONDS
  if "$@"; then echo "== $name: ok in $((SECONDS - t0)) s"; echo "| $name | ok | $((SECONDS - t0)) |" >> "$summary.steps"
  else echo "== $name: FAILED (rc $?) after $((SECONDS - t0)) s"; failed+=("$name")
       echo "| $name | **failed** | $((SECONDS - t0)) |" >> "$summary.steps"; fi
}
nnssl_cli() { "$PY" -m "nnssl.cli.$1" "${@:2}"; }
nnunet() {  # nnunet MODULE FUNCTION ARGS...: a stock nnU-Net entry point (works without console scripts)
  local module=$1 fn=$2; shift 2
  "$PY" -c "import sys; from $module import $fn; sys.argv[0] = '$fn'; sys.exit($fn())" "$@"
}
rm -f "$summary.steps"

prepare() {
  if [[ $smoke == 1 ]]; then
    "$PY" -c "import sys; from nnssl.data.synthetic import write_demo_pool; write_demo_pool(sys.argv[1], 4, 6, shape=(32, 40, 32))" \
      "$nnUNet_raw"
  else
    "$PY" "$here/scripts/prepare_hippocampus.py" "$nnUNet_raw" --shared "$shared"
  fi
}
plan() { nnssl_cli pretrain -d $pool -t $target -c "$1" -np $np --plan-only; }
speed() {  # speed CONFIGURATION SCALES...
  local c=$1 pooled; shift
  pooled=$(basename "$(ls -d "$nnUNet_preprocessed"/Dataset*_nnsslPool_$pool | head -n 1)")  # the planned pool
  nnssl_cli benchmark speed -d "$pooled" -c "$c" --steps $steps --label-impl both --scales "$@" "${speed_extra[@]}" \
    --out "$out/speed_$c" -device $device
}
pretrain() {
  nnssl_cli pretrain -d $pool -t $target -c 3d_fullres -m mixcl --epochs $epochs --iterations $iterations \
    --val-iterations 2 --overwrite -device $device
}
finetune() {
  local ckpt
  ckpt=$(ls "$nnUNet_results"/Dataset*_nnsslPool_*/MixCLPretrainer__nnsslPlans__3d_fullres*/fold_all/checkpoint_final.pth \
         2>/dev/null | head -n 1)
  [[ -n $ckpt ]] || { echo "no pretrained checkpoint (the pretraining step failed)"; return 1; }
  nnSSL_PRETRAINED=$ckpt nnSSL_FINETUNE_SCHEDULE=$ft_schedule \
    nnunet nnunetv2.run.run_training run_training_entry $target 3d_fullres 0 -tr MixCLFinetuneTrainer \
    -p nnsslPlans -device $device || return 1
  local folder
  folder=$(ls -d "$nnUNet_results"/Dataset${target}_*/MixCLFinetuneTrainer__nnsslPlans__3d_fullres/fold_0)
  cp "$folder/progress.png" "$out/finetune_progress.png" 2>/dev/null
  # 4 of fold 0's validation cases, through stock prediction, scored by nnU-Net's evaluation
  local raw_t; raw_t=$(ls -d "$nnUNet_raw"/Dataset${target}_*)
  mkdir -p "$work/pred_in" "$work/pred_out"
  "$PY" - "$nnUNet_preprocessed" "$raw_t" "$work/pred_in" <<'EOF' || return 1
import glob, json, os, shutil, sys
pre, raw, dst = sys.argv[1:]
name = os.path.basename(raw)
val = json.load(open(os.path.join(pre, name, "splits_final.json")))[0]["val"][:4]
for case in val:
    for f in glob.glob(os.path.join(raw, "imagesTr", case + "_*")):
        shutil.copy(f, dst)
print("predicting", ", ".join(val))
EOF
  nnunet nnunetv2.inference.predict_from_raw_data predict_entry_point -i "$work/pred_in" -o "$work/pred_out" \
    -d $target -c 3d_fullres -tr MixCLFinetuneTrainer -p nnsslPlans -f 0 -device $device -npp 1 -nps 1 \
    || return 1
  local labels
  labels=$("$PY" -c "import json,sys; print(' '.join(str(v) for k, v in json.load(open(sys.argv[1]))['labels'].items() if k != 'background'))" \
           "$raw_t/dataset.json")
  nnunet nnunetv2.evaluation.evaluate_predictions evaluate_simple_entry_point "$raw_t/labelsTr" "$work/pred_out" \
    -l $labels -o "$work/pred_out/summary.json" -np 1 --chill || return 1
  "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); print('Dice per label:', {k: round(v['Dice'], 3) for k, v in s['mean'].items()}, 'mean', round(s['foreground_mean']['Dice'], 3))" \
    "$work/pred_out/summary.json" | tee "$work/dice.txt"
}

step "data" prepare
step "plan 3d_fullres" plan 3d_fullres
step "speed 3d_fullres" speed 3d_fullres "${scales3d[@]}"
step "pretrain mixcl 3d_fullres ${epochs}x${iterations}" pretrain
step "fine-tune fold 0 + predict" finetune
step "plan 2d" plan 2d
step "speed 2d" speed 2d base

{
  echo "# GPU check ($([[ $smoke == 1 ]] && echo "smoke, CPU" || echo "$device")): $(date -u +%FT%TZ)"
  echo
  "$PY" -c "import torch; print('torch', torch.__version__, '| device:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
  echo "command: scripts/gpu_check.sh OUT$([[ $smoke == 1 ]] && echo " --smoke"); pool $pool -> target $target; total $((SECONDS - t_start)) s"
  echo
  echo "| step | result | seconds |"; echo "|---|---|---|"; cat "$summary.steps"
  echo
  [[ -f $work/dice.txt ]] && { echo "fine-tune (fold 0, $ft_schedule) on 4 validation cases: $(cat "$work/dice.txt")"; echo; }
  for c in 3d_fullres 2d; do
    [[ -f $out/speed_$c/speed.md ]] && { echo "## speed, $c"; echo; grep -v '^<!--' "$out/speed_$c/speed.md"; echo; }
  done
} > "$summary"
rm -f "$summary.steps"
echo "== gpu check: ${#failed[@]} failed step(s)${failed:+: ${failed[*]}}; wrote $summary"
[[ ${#failed[@]} -eq 0 ]]
