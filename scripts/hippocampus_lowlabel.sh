#!/usr/bin/env bash
# Low-label benchmark (issue 8): 1, 2 and 4 labelled Hippocampus cases (target 602, never pretrained on).
# Inits: scratch (nnU-Net's recipe), scratch_warmup (the pretrained trainers' warm-up shape, lr 1e-2),
# mixcl (MixCLFinetuneTrainer: warm-up, transferred weights at lr 1e-3) and mixcl_warmup
# (MixCLFinetuneTrainer_warmup: scratch_warmup's exact schedule, so the init is the only difference)
# and mixcl_nnunet (MixCLFinetuneTrainer_nnUNetSchedule: scratch's exact recipe, the headline pair).
#   pretraining: MixCL on Hippocampus part A (601) with the pooled 2d plan, --schedule cpu (12 x 50, lr 5e-4)
#   grid: 12 x 50 = 600 fine-tuning iterations, batch 16; run fold by fold, 1-2 cases first
# Usage: scripts/hippocampus_lowlabel.sh <workdir> [report_dir] [folds...]. Every step resumes where it
# stopped; STAGE=report writes the report from the finished runs (the rest are listed as not run);
# STAGE=plateau runs the headline pair at 1 case for 1500 iterations (benchmarks/hippocampus_2d_1case_1500it);
# STAGE=plateau_default adds the default MixCLFinetuneTrainer (warm-up, lr 1e-3 for the encoder) to that report.
# STAGE=plateau_long pretrains MixCL 3x longer (36 x 50 = 1800 iterations, run name mixcl_1800it) and fine-tunes
# it like mixcl_nnunet at 1 case for 1500 iterations (benchmarks/hippocampus_2d_1case_1500it_mixcl1800it); its
# baselines are imported from the plateau report (same target, schedule and splits; checked), not retrained.
# STAGE=plateau_long_scratch then trains scratch in this workdir too, for a same-machine pair with mixcl1800_nnunet
# (benchmarks/hippocampus_2d_1case_1500it_mixcl1800it_own_scratch).
# STAGE=acdc pretrains MixCL on ACDC alone (603, cardiac MRI, preprocessed with the frozen Hippocampus plan, run name
# mixcl_acdc) and fine-tunes it like mixcl_nnunet at 1 case for 1500 iterations (benchmarks/hippocampus_2d_1case_1500it_acdc_pool).
# STAGE=decoder pretrains MixCL on 601 with --transfer-decoder (run name mixcl_dec: encoder and decoder stages transferred,
# seg heads fresh) and fine-tunes it the same way (benchmarks/hippocampus_2d_1case_1500it_mixcl_decoder).
# STAGE=acdc_decoder runs both, pretraining first, then fold by fold alternating. The baselines of both are imported from
# ..._mixcl1800it_own_scratch (scratch retrained with torch 2.15, and the 1800-iteration encoder-only init).
# SAME_MACHINE_SCRATCH=1 STAGE=acdc_decoder trains scratch beside both inits into one report
# (benchmarks/hippocampus_2d_1case_1500it_acdc_decoder); CASES=2 makes it the 2-case row of scratch, the decoder
# init and the ACDC init (benchmarks/hippocampus_2d_2cases_1500it_decoder).
# STAGE=ablation pretrains MixCL three more times like mixcl_dec, each with one term off (--no-label, --no-recon,
# --identity-weight 0), and fine-tunes each beside scratch and mixcl_dec_nnunet at 1 case
# (benchmarks/hippocampus_2d_1case_1500it_mixcl_ablation; run it on folds 0 1 2).
# STAGE=decoder_pair fine-tunes the mixcl_dec checkpoint once more loading its encoder only, beside scratch and
# mixcl_dec_nnunet: the exactly paired decoder ablation (benchmarks/hippocampus_2d_1case_1500it_decoder_pair).
# STAGE=methods pretrains regression and global_local (METHODS=...) with their defaults and fine-tunes them the same
# way at 1 case (benchmarks/hippocampus_2d_1case_1500it_methods; run it on folds 0 1 2); CASES=2 or 4 for the other
# rows (..._<CASES>cases_1500it_methods).
# STAGE=pool pretrains MixCL on the pool the product is for, 601 and ACDC (603) together with the frozen plan and
# --transfer-decoder (run name mixcl_pool_dec), and fine-tunes it like mixcl_dec_nnunet at CASES (default 1) cases
# beside the reused scratch and mixcl_dec_nnunet runs (benchmarks/hippocampus_2d_<CASES>case(s)_1500it_pool).
# POOL_EPOCHS=24 STAGE=pool pretrains it twice as long (1200 iterations: as many Hippocampus pairs as mixcl_dec saw,
# run name mixcl_pool_dec_1200it) and reports it beside the 600-iteration pool init (..._1500it_pool_1200it; folds 0 1 2).
# STAGE=local_ld pretrains global_local with the L^D local loss (--local-strategy LD: positives are the same position
# in other volumes' maps of the same partition, run name gl_ld) and fine-tunes it at CASES (default 1) cases beside the
# reused scratch and L^R (default) global_local runs (benchmarks/hippocampus_2d_<CASES>case(s)_1500it_local_ld; folds 0 1 2).
# STAGE=pretrained_lr fine-tunes the mixcl_dec checkpoint with nnU-Net's recipe but a lower peak lr for the transferred
# weights (no warm-up; the fresh seg heads keep 1e-2), one init per value of PRETRAINED_LRS (default "3e-3 1e-3", init
# names mixcl_dec_plr<value>), beside the reused scratch and mixcl_dec_nnunet runs
# (benchmarks/hippocampus_2d_<CASES>case(s)_1500it_pretrained_lr).
# STAGE=encoder_frozen fine-tunes the mixcl_dec checkpoint with its encoder frozen for the whole run and its transferred
# decoder trained with nnU-Net's recipe (linear_probe=1,freeze_scope=encoder; init mixcl_dec_encfrozen), beside the
# reused scratch, mixcl_dec_nnunet and probe_mixcl runs (benchmarks/hippocampus_2d_<CASES>case(s)_1500it_encoder_frozen;
# WITH_PROBE=0 leaves probe_mixcl out).
# STAGE=decoder_long pretrains MixCL like mixcl_dec but 3x longer (DEC_EPOCHS, default 36 x 50 = 1800 iterations, run
# name mixcl_dec_<iterations>it) and fine-tunes it like mixcl_dec_nnunet beside the reused scratch and mixcl_dec_nnunet runs
# (benchmarks/hippocampus_2d_<CASES>case(s)_1500it_decoder_long).
# STAGE=l2sp fine-tunes the mixcl_dec checkpoint with nnU-Net's recipe plus L2-SP (the transferred weights pulled toward
# their pretrained values), one init per value of L2SP (default "1e-3 1e-2", init names mixcl_dec_l2sp<value>), beside
# the reused scratch and mixcl_dec_nnunet runs (benchmarks/hippocampus_2d_<CASES>case(s)_1500it_l2sp).
# STAGE=decoder_bt pretrains MixCL like mixcl_dec with the pixel Barlow Twins term on every decoder stage too
# (--bt-decoder-stages 0 1 2, run name mixcl_dec_btdec; BT_DEC_SETS="012 01" adds stages 0 1 only, mixcl_dec_btdec01)
# and fine-tunes it like mixcl_dec_nnunet; scratch, mixcl_dec_nnunet
# and mixcl_dec_enc_nnunet are imported from benchmarks/hippocampus_2d_1case_1500it_decoder_pair (a fresh workdir needs
# no earlier runs; benchmarks/hippocampus_2d_<CASES>case(s)_1500it_decoder_bt).
# STAGE=label_decoder pretrains MixCL like mixcl_dec with L_label on a decoder stage instead of the encoder
# (--label-decoder-stage LABEL_DEC_STAGE, default 2 = the full-resolution stage of the 4-stage 2d plan; run name
# mixcl_dec_labdec<stage>) and fine-tunes it like mixcl_dec_nnunet; scratch and mixcl_dec_nnunet are imported (1 case:
# from ..._1case_1500it_decoder_pair, as decoder_bt; CASES=2 or 4: from ..._<CASES>cases_1500it_decoder)
# (benchmarks/hippocampus_2d_<CASES>case(s)_1500it_label_decoder). LABEL_DEC_POOL=603 pretrains on ACDC instead (its
# labels mean other structures; run name mixcl_acdc_dec_labdec<stage>, 1 case, baselines from ..._1case_1500it_acdc_decoder,
# benchmarks/hippocampus_2d_1case_1500it_label_decoder_acdc). MORE_REPORTS="dir ..." imports those reports too (folds of
# the new init finished on another machine, e.g. ..._2cases_1500it_label_decoder_folds01; a run in two reports counts once)
# and REPORT_FOLDS="0 1 2 3 4" reports those folds (default: the folds given), e.g. for
# CASES=2 MORE_REPORTS=benchmarks/hippocampus_2d_2cases_1500it_label_decoder_folds01 REPORT_FOLDS="0 1 2 3 4" ... x 2 3 4.
# LABEL_DEC_EPOCHS=24 pretrains it twice as long (1200 iterations; run name mixcl_dec_labdec<stage>_1200it, report
# ..._1500it_label_decoder_1200it): L_label was still falling at 600 iterations. Add the 600-iteration init's rows with
# MORE_REPORTS=benchmarks/hippocampus_2d_<CASES>case(s)_1500it_label_decoder.
# STAGE=scratch_long trains scratch alone with nnU-Net's recipe twice as long (SCRATCH_EPOCHS, default 60 x 50 = 3000
# iterations, poly over the whole run) at CASES (default 1) cases: has scratch levelled off at 1500 iterations?
# (benchmarks/hippocampus_2d_<CASES>case(s)_<iterations>it_scratch; compare it fold by fold with the 1500-iteration reports).
# SAME_MACHINE_SCRATCH=1 CASES=4 STAGE=acdc_decoder ... x 0 1 2 is the 4-case row; STAGE=report_1500 then joins the 1-, 2-
# and 4-case rows into benchmarks/hippocampus_2d_1-4cases_1500it_decoder (Dice vs labelled cases), and the methods
# rows into benchmarks/hippocampus_2d_1-4cases_1500it_methods.
set -euo pipefail
work=$(realpath "${1:?usage: $0 <workdir> [report_dir] [folds...]}")
here=$(dirname "$(realpath "$0")")
report=$(realpath -m "${2:-$here/../benchmarks/hippocampus_2d_1-4cases}")
shift $(( $# > 1 ? 2 : 1 ))
folds=("${@:-0 1 2 3 4}")
export nnUNet_raw=$work/raw nnUNet_preprocessed=$work/preprocessed nnUNet_results=$work/results
export nnUNet_def_n_proc=1 nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-0}
device=${DEVICE:-cpu}
# CASES (default 1) labelled cases for the stages that take it, and its report-name part (1case, 2cases, ...)
cases=${CASES:-1}; label=${cases}cases; [ "$cases" = 1 ] && label=1case
pool=$work/results/Dataset900_nnsslPool_601
ckpt=$pool/MixCLPretrainer__nnsslPlans__2d/fold_all/checkpoint_final.pth
grid=(-t 602 -c 2d --schedule 12 50 5 -device "$device" --runs "$work/lowlabel_runs" --out "$report"
      --init mixcl --init "mixcl_warmup=$ckpt" --variant mixcl_warmup=warmup
      --init "mixcl_nnunet=$ckpt" --variant mixcl_nnunet=nnUNetSchedule)
# the headline pair first: scratch and mixcl_nnunet (same recipe), 1 case on every fold, then 2 cases
head=(-t 602 -c 2d --schedule 12 50 5 -device "$device" --runs "$work/lowlabel_runs" --out "$report"
      --scratch scratch --init "mixcl_nnunet=$ckpt" --variant mixcl_nnunet=nnUNetSchedule)
# fine-tuning to a plateau (the headline pair only, 1 case, 30 x 50 = 1500 iterations), into its own runs and report
plateau=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500"
         --out "$here/../benchmarks/hippocampus_2d_1case_1500it"
         --scratch scratch --init "mixcl_nnunet=$ckpt" --variant mixcl_nnunet=nnUNetSchedule)
if [ "${STAGE:-all}" = plateau ] || [ "${STAGE:-all}" = plateau_default ]; then
  extra=(); [ "$STAGE" = plateau_default ] && extra=(--init "mixcl=$ckpt")
  for fold in ${folds[*]}; do nnssl_benchmark "${plateau[@]}" "${extra[@]}" --cases 1 --folds "$fold"; done
  nnssl_benchmark "${plateau[@]}" --init "mixcl=$ckpt" --cases 1 --folds 0 1 2 3 4 --report-only; exit
fi
long_ckpt=$pool/MixCLPretrainer__nnsslPlans__2d__mixcl_1800it/fold_all/checkpoint_final.pth
if [ "${STAGE:-all}" = report_1500 ]; then
  # the 1-, 2- and 4-case rows at 1500 iterations in one report (Dice vs labelled cases); trains nothing
  b=$here/../benchmarks
  nnssl_benchmark -t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch \
    --cases 1 2 4 --folds 0 1 2 3 4 --out "$b/hippocampus_2d_1-4cases_1500it_decoder" --report-only \
    --import-report "$b/hippocampus_2d_1case_1500it_acdc_decoder" --import-report "$b/hippocampus_2d_2cases_1500it_decoder" \
    --import-report "$b/hippocampus_2d_4cases_1500it_decoder"
  # and regression / global_local (STAGE=methods with CASES=1, 2 and 4) the same way
  methods_reports=()
  for r in 1case 2cases 4cases; do
    if [ -f "$b/hippocampus_2d_${r}_1500it_methods/results.csv" ]; then
      methods_reports+=(--import-report "$b/hippocampus_2d_${r}_1500it_methods")
    fi
  done
  nnssl_benchmark -t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch \
    --cases 1 2 4 --folds 0 1 2 --out "$b/hippocampus_2d_1-4cases_1500it_methods" --report-only "${methods_reports[@]}"
  exit
fi
if [ "${STAGE:-all}" = methods ]; then
  # regression and global_local with their defaults (--schedule cpu, frozen plan), fine-tuned like mixcl_dec_nnunet
  # (nnU-Net's recipe) at CASES (default 1) labelled cases beside the reused scratch runs; run it on folds 0 1 2
  mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
  python "$here/prepare_hippocampus.py" "$nnUNet_raw"
  runs=$(ls -d "$work"/results/Dataset9*_nnsslPool_601)
  meth=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch scratch
        --out "$here/../benchmarks/hippocampus_2d_${label}_1500it_methods")
  for m in ${METHODS:-regression global_local}; do
    nnssl_pretrain --plans-from hippocampus_601_602_2d -d 601 -t 602 -c 2d -device "$device" -m "$m" --schedule cpu \
      --continue
    trainer=RegressionPretrainer; [ "$m" = global_local ] && trainer=LocalContrastivePretrainer
    meth+=(--init "${m}_nnunet=$runs/${trainer}__nnsslPlans__2d/fold_all/checkpoint_final.pth"
           --variant "${m}_nnunet=nnUNetSchedule")
  done
  for fold in ${folds[*]}; do nnssl_benchmark "${meth[@]}" --cases "$cases" --folds "$fold"; done
  nnssl_benchmark "${meth[@]}" --cases "$cases" --folds ${folds[*]} --report-only; exit
fi
if [ "${STAGE:-all}" = pool ]; then
  # does pooling a second modality into the source datasets help, hurt or leave the 601-only init alone?
  mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
  python "$here/prepare_hippocampus.py" "$nnUNet_raw"
  epochs=${POOL_EPOCHS:-12}; name=mixcl_pool_dec; suffix=""
  [ "$epochs" != 12 ] && name=mixcl_pool_dec_$((epochs * 50))it && suffix=_$((epochs * 50))it
  nnssl_pretrain --plans-from hippocampus_601_602_2d -d 601 603 -t 602 -c 2d -device "$device" -m mixcl \
    --schedule cpu --epochs "$epochs" --transfer-decoder --run-name "$name" --continue
  pool_run=$(ls -d "$work"/results/Dataset9*_nnsslPool_601_603)/MixCLPretrainer__nnsslPlans__2d__
  dec_ckpt=$(ls "$work"/results/Dataset9*_nnsslPool_601/MixCLPretrainer__nnsslPlans__2d__mixcl_dec/fold_all/checkpoint_final.pth)
  pooled=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch scratch
          --out "$here/../benchmarks/hippocampus_2d_${label}_1500it_pool$suffix"
          --init "mixcl_dec_nnunet=$dec_ckpt" --variant mixcl_dec_nnunet=nnUNetSchedule
          --init "mixcl_pool_dec_nnunet=${pool_run}mixcl_pool_dec/fold_all/checkpoint_final.pth"
          --variant mixcl_pool_dec_nnunet=nnUNetSchedule)
  [ -n "$suffix" ] && pooled+=(--init "${name}_nnunet=${pool_run}$name/fold_all/checkpoint_final.pth"
                                --variant "${name}_nnunet=nnUNetSchedule")
  for fold in ${folds[*]}; do nnssl_benchmark "${pooled[@]}" --cases "$cases" --folds "$fold"; done
  nnssl_benchmark "${pooled[@]}" --cases "$cases" --folds ${folds[*]} --report-only; exit
fi
sweep() {
  # sweep one fine-tuning schedule field over values on the mixcl_dec checkpoint, beside the reused scratch and
  # mixcl_dec_nnunet runs: sweep <init prefix> <field> <report suffix> <values...> (init names <prefix><value>)
  local prefix=$1 field=$2 suffix=$3; shift 3
  local dec_ckpt
  dec_ckpt=$(ls "$work"/results/Dataset9*_nnsslPool_601/MixCLPretrainer__nnsslPlans__2d__mixcl_dec/fold_all/checkpoint_final.pth)
  local sw=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch scratch
            --out "$here/../benchmarks/hippocampus_2d_${label}_1500it_$suffix"
            --init "mixcl_dec_nnunet=$dec_ckpt" --variant mixcl_dec_nnunet=nnUNetSchedule)
  for value in "$@"; do
    sw+=(--init "$prefix$value=$dec_ckpt" --variant "$prefix$value=nnUNetSchedule"
         --schedule-override "$prefix$value=$field=$value")
  done
  for fold in ${folds[*]}; do nnssl_benchmark "${sw[@]}" --cases "$cases" --folds "$fold"; done
  nnssl_benchmark "${sw[@]}" --cases "$cases" --folds ${folds[*]} --report-only
}
if [ "${STAGE:-all}" = pretrained_lr ]; then
  # does fine-tuning keep more of the pretrained init when its weights move more slowly than the fresh seg heads?
  sweep mixcl_dec_plr pretrained_lr pretrained_lr ${PRETRAINED_LRS:-3e-3 1e-3}; exit
fi
if [ "${STAGE:-all}" = l2sp ]; then
  # between fine-tuning everything (the best init) and freezing the encoder (best and worst folds): a pull back
  sweep mixcl_dec_l2sp l2sp l2sp ${L2SP:-1e-3 1e-2}; exit
fi
if [ "${STAGE:-all}" = encoder_frozen ]; then
  # the frozen pretrained encoder beat scratch in STAGE=probe: keep it frozen and start the decoder from pretraining too
  runs=$(ls -d "$work"/results/Dataset9*_nnsslPool_601)
  dec_ckpt=$runs/MixCLPretrainer__nnsslPlans__2d__mixcl_dec/fold_all/checkpoint_final.pth
  frz=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch scratch
       --out "$here/../benchmarks/hippocampus_2d_${label}_1500it_encoder_frozen"
       --init "mixcl_dec_nnunet=$dec_ckpt" --variant mixcl_dec_nnunet=nnUNetSchedule
       --init "mixcl_dec_encfrozen=$dec_ckpt" --variant mixcl_dec_encfrozen=nnUNetSchedule
       --schedule-override "mixcl_dec_encfrozen=linear_probe=1,freeze_scope=encoder")
  [ "${WITH_PROBE:-1}" = 1 ] && frz+=(--init "probe_mixcl=$dec_ckpt" --variant probe_mixcl=nnUNetSchedule_encoderOnly
                                      --schedule-override "probe_mixcl=linear_probe=1")
  for fold in ${folds[*]}; do nnssl_benchmark "${frz[@]}" --cases "$cases" --folds "$fold"; done
  nnssl_benchmark "${frz[@]}" --cases "$cases" --folds ${folds[*]} --report-only; exit
fi
if [ "${STAGE:-all}" = decoder_long ]; then
  # Update 2 pretrained the encoder-only init 3x longer (no change); the decoder, trained only by L_recon, was not
  mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
  python "$here/prepare_hippocampus.py" "$nnUNet_raw"
  epochs=${DEC_EPOCHS:-36}; name=mixcl_dec_$((epochs * 50))it
  nnssl_pretrain --plans-from hippocampus_601_602_2d -d 601 -t 602 -c 2d -device "$device" -m mixcl \
    --schedule cpu --epochs "$epochs" --transfer-decoder --run-name "$name" --continue
  runs=$(ls -d "$work"/results/Dataset9*_nnsslPool_601)
  lng=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch scratch
       --out "$here/../benchmarks/hippocampus_2d_${label}_1500it_decoder_long"
       --init "mixcl_dec_nnunet=$runs/MixCLPretrainer__nnsslPlans__2d__mixcl_dec/fold_all/checkpoint_final.pth"
       --variant mixcl_dec_nnunet=nnUNetSchedule
       --init "mixcl_dec$((epochs * 50))_nnunet=$runs/MixCLPretrainer__nnsslPlans__2d__$name/fold_all/checkpoint_final.pth"
       --variant "mixcl_dec$((epochs * 50))_nnunet=nnUNetSchedule")
  for fold in ${folds[*]}; do nnssl_benchmark "${lng[@]}" --cases "$cases" --folds "$fold"; done
  nnssl_benchmark "${lng[@]}" --cases "$cases" --folds ${folds[*]} --report-only; exit
fi
if [ "${STAGE:-all}" = decoder_bt ]; then
  # the decoder transfer adds +0.009 on every fold with L_recon as the decoder's only signal: give it the views' too
  mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
  python "$here/prepare_hippocampus.py" "$nnUNet_raw"
  btd=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch
       --import-report "$here/../benchmarks/hippocampus_2d_1case_1500it_decoder_pair"
       --out "$here/../benchmarks/hippocampus_2d_${label}_1500it_decoder_bt")
  for set in ${BT_DEC_SETS:-012}; do  # decoder stage sets, digits: 012 = all three, 01 = all but the full-res stage
    name=mixcl_dec_btdec; [ "$set" != 012 ] && name=mixcl_dec_btdec$set
    nnssl_pretrain --plans-from hippocampus_601_602_2d -d 601 -t 602 -c 2d -device "$device" -m mixcl \
      --schedule cpu --transfer-decoder --bt-decoder-stages $(echo "$set" | sed 's/./& /g') --run-name "$name" --continue
    runs=$(ls -d "$work"/results/Dataset9*_nnsslPool_601)
    btd+=(--init "${name}_nnunet=$runs/MixCLPretrainer__nnsslPlans__2d__$name/fold_all/checkpoint_final.pth"
          --variant "${name}_nnunet=nnUNetSchedule")
  done
  for fold in ${folds[*]}; do nnssl_benchmark "${btd[@]}" --cases "$cases" --folds "$fold"; done
  nnssl_benchmark "${btd[@]}" --cases "$cases" --folds ${folds[*]} --report-only; exit
fi
if [ "${STAGE:-all}" = label_decoder ]; then
  # the pool's labels teach only the encoder (stage 2 of 4); on a decoder stage they teach the transferred decoder too
  mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
  python "$here/prepare_hippocampus.py" "$nnUNet_raw"
  stage=${LABEL_DEC_STAGE:-2}; pool=${LABEL_DEC_POOL:-601}; name=mixcl_dec_labdec$stage; out=label_decoder
  epochs=${LABEL_DEC_EPOCHS:-12}  # pretraining epochs of 50 iterations; not 12: its own run name and report
  if [ "$epochs" != 12 ]; then name=${name}_$((epochs * 50))it; out=${out}_$((epochs * 50))it; fi
  base=hippocampus_2d_${label}_1500it_decoder; [ "$cases" = 1 ] && base=hippocampus_2d_1case_1500it_decoder_pair
  if [ "$pool" = 603 ]; then  # ACDC: its labels (RV, myocardium, LV) mean something else than the target's
    name=mixcl_acdc_dec_labdec$stage; out=label_decoder_acdc; base=hippocampus_2d_1case_1500it_acdc_decoder
  fi
  nnssl_pretrain --plans-from hippocampus_601_602_2d -d "$pool" -t 602 -c 2d -device "$device" -m mixcl \
    --schedule cpu --epochs "$epochs" --transfer-decoder --label-decoder-stage "$stage" --run-name "$name" --continue
  runs=$(ls -d "$work"/results/Dataset9*_nnsslPool_"$pool")
  lbd=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch
       --import-report "$here/../benchmarks/$base"
       --out "$here/../benchmarks/hippocampus_2d_${label}_1500it_$out"
       --init "${name}_nnunet=$runs/MixCLPretrainer__nnsslPlans__2d__$name/fold_all/checkpoint_final.pth"
       --variant "${name}_nnunet=nnUNetSchedule")
  for more in ${MORE_REPORTS:-}; do lbd+=(--import-report "$(realpath "$more")"); done
  for fold in ${folds[*]}; do nnssl_benchmark "${lbd[@]}" --cases "$cases" --folds "$fold"; done
  nnssl_benchmark "${lbd[@]}" --cases "$cases" --folds ${REPORT_FOLDS:-${folds[*]}} --report-only; exit
fi
if [ "${STAGE:-all}" = scratch_long ]; then
  # the plateau check of the baseline: the target only (its plan comes from nnssl_pretrain -t 602 of any stage above)
  epochs=${SCRATCH_EPOCHS:-60}
  sl=(-t 602 -c 2d --schedule "$epochs" 50 5 -device "$device" --runs "$work/lowlabel_runs_$((epochs * 50))"
      --scratch scratch --out "$here/../benchmarks/hippocampus_2d_${label}_$((epochs * 50))it_scratch")
  for fold in ${folds[*]}; do nnssl_benchmark "${sl[@]}" --cases "$cases" --folds "$fold"; done
  nnssl_benchmark "${sl[@]}" --cases "$cases" --folds ${folds[*]} --report-only; exit
fi
if [ "${STAGE:-all}" = local_ld ]; then
  # the L^R local loss is solved from the first epoch here (positive similarity 0.95, negative 0.02): is L^D harder?
  mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
  python "$here/prepare_hippocampus.py" "$nnUNet_raw"
  nnssl_pretrain --plans-from hippocampus_601_602_2d -d 601 -t 602 -c 2d -device "$device" -m global_local \
    --schedule cpu --local-strategy LD --run-name gl_ld --continue
  runs=$(ls -d "$work"/results/Dataset9*_nnsslPool_601)
  ld=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch scratch
      --out "$here/../benchmarks/hippocampus_2d_${label}_1500it_local_ld"
      --init "global_local_nnunet=$runs/LocalContrastivePretrainer__nnsslPlans__2d/fold_all/checkpoint_final.pth"
      --variant global_local_nnunet=nnUNetSchedule
      --init "gl_ld_nnunet=$runs/LocalContrastivePretrainer__nnsslPlans__2d__gl_ld/fold_all/checkpoint_final.pth"
      --variant gl_ld_nnunet=nnUNetSchedule)
  for fold in ${folds[*]}; do nnssl_benchmark "${ld[@]}" --cases "$cases" --folds "$fold"; done
  nnssl_benchmark "${ld[@]}" --cases "$cases" --folds ${folds[*]} --report-only; exit
fi
if [ "${STAGE:-all}" = decoder_pair ]; then
  # the mixcl_dec checkpoint fine-tuned twice, all of it and its encoder only (MixCLFinetuneTrainer_nnUNetSchedule
  # _encoderOnly): the decoder transfer is the only difference; scratch and mixcl_dec_nnunet are reused
  dec_ckpt=$(ls "$work"/results/Dataset9*_nnsslPool_601/MixCLPretrainer__nnsslPlans__2d__mixcl_dec/fold_all/checkpoint_final.pth)
  pair=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch scratch
        --out "$here/../benchmarks/hippocampus_2d_1case_1500it_decoder_pair"
        --init "mixcl_dec_nnunet=$dec_ckpt" --variant mixcl_dec_nnunet=nnUNetSchedule
        --init "mixcl_dec_enc_nnunet=$dec_ckpt" --variant mixcl_dec_enc_nnunet=nnUNetSchedule_encoderOnly)
  for fold in ${folds[*]}; do nnssl_benchmark "${pair[@]}" --cases 1 --folds "$fold"; done
  nnssl_benchmark "${pair[@]}" --cases 1 --folds ${folds[*]} --report-only; exit
fi
if [ "${STAGE:-all}" = ablation ]; then
  # one row per MixCL term, each pretrained like mixcl_dec (600 it, decoder transferred) with one term off, fine-tuned
  # like mixcl_dec_nnunet at 1 case; scratch and mixcl_dec_nnunet are the runs of the acdc_decoder stage (reused)
  mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
  python "$here/prepare_hippocampus.py" "$nnUNet_raw"
  frozen=(--plans-from hippocampus_601_602_2d -d 601 -t 602 -c 2d -device "$device" -m mixcl --schedule cpu
          --transfer-decoder --continue)
  runs=$(ls -d "$work"/results/Dataset9*_nnsslPool_601)
  abl=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch scratch
       --out "$here/../benchmarks/hippocampus_2d_1case_1500it_mixcl_ablation")
  for run in mixcl_dec mixcl_dec_nolabel:--no-label mixcl_dec_norecon:--no-recon "mixcl_dec_noid:--identity-weight 0"; do
    name=${run%%:*}; flags=(); [ "$name" != "$run" ] && read -ra flags <<< "${run#*:}"
    nnssl_pretrain "${frozen[@]}" --run-name "$name" "${flags[@]}"
    abl+=(--init "${name}_nnunet=$runs/MixCLPretrainer__nnsslPlans__2d__$name/fold_all/checkpoint_final.pth"
          --variant "${name}_nnunet=nnUNetSchedule")
  done
  for fold in ${folds[*]}; do nnssl_benchmark "${abl[@]}" --cases 1 --folds "$fold"; done
  nnssl_benchmark "${abl[@]}" --cases 1 --folds ${folds[*]} --report-only; exit
fi
case "${STAGE:-all}" in acdc|decoder|acdc_decoder)
  mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
  python "$here/prepare_hippocampus.py" "$nnUNet_raw"
  frozen=(--plans-from hippocampus_601_602_2d -t 602 -c 2d -device "$device" -m mixcl --schedule cpu --continue)
  base=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch
        --import-report "$here/../benchmarks/hippocampus_2d_1case_1500it_mixcl1800it_own_scratch")
  names=()
  if [ "$STAGE" != decoder ]; then  # ACDC alone as the pool: 603 preprocessed with the frozen Hippocampus 2d plan
    nnssl_pretrain "${frozen[@]}" -d 603 --run-name mixcl_acdc
    acdc_ckpt=$(ls "$work"/results/Dataset9*_nnsslPool_603/MixCLPretrainer__nnsslPlans__2d__mixcl_acdc/fold_all/checkpoint_final.pth)
    names+=(acdc)
    acdc=("${base[@]}" --out "$here/../benchmarks/hippocampus_2d_1case_1500it_acdc_pool"
          --init "mixcl_acdc_nnunet=$acdc_ckpt" --variant mixcl_acdc_nnunet=nnUNetSchedule)
  fi
  if [ "$STAGE" != acdc ]; then  # encoder and decoder stages transferred
    nnssl_pretrain "${frozen[@]}" -d 601 --run-name mixcl_dec --transfer-decoder
    dec_ckpt=$(ls "$work"/results/Dataset9*_nnsslPool_601/MixCLPretrainer__nnsslPlans__2d__mixcl_dec/fold_all/checkpoint_final.pth)
    names+=(dec)
    dec=("${base[@]}" --out "$here/../benchmarks/hippocampus_2d_1case_1500it_mixcl_decoder"
         --init "mixcl_dec_nnunet=$dec_ckpt" --variant mixcl_dec_nnunet=nnUNetSchedule)
  fi
  if [ "$STAGE" = acdc_decoder ] && [ "${SAME_MACHINE_SCRATCH:-0}" = 1 ]; then
    # scratch retrained beside both inits (same machine and torch), one report with all three
    # (CASES=2 or 4: into ..._<CASES>cases_1500it_decoder)
    both=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500" --scratch scratch
          --init "mixcl_dec_nnunet=$dec_ckpt" --variant mixcl_dec_nnunet=nnUNetSchedule)
    if [ "${CASES:-1}" = 1 ]; then
      both+=(--out "$here/../benchmarks/hippocampus_2d_1case_1500it_acdc_decoder"
             --init "mixcl_acdc_nnunet=$acdc_ckpt" --variant mixcl_acdc_nnunet=nnUNetSchedule)
    else  # the ACDC init too (finished scratch and decoder runs are reused)
      both+=(--out "$here/../benchmarks/hippocampus_2d_${CASES}cases_1500it_decoder"
             --init "mixcl_acdc_nnunet=$acdc_ckpt" --variant mixcl_acdc_nnunet=nnUNetSchedule)
    fi
    for fold in ${folds[*]}; do nnssl_benchmark "${both[@]}" --cases "${CASES:-1}" --folds "$fold"; done
    nnssl_benchmark "${both[@]}" --cases "${CASES:-1}" --folds 0 1 2 3 4 --report-only; exit
  fi
  for fold in ${folds[*]}; do
    for n in "${names[@]}"; do declare -n cmd=$n; nnssl_benchmark "${cmd[@]}" --cases 1 --folds "$fold"; done
  done
  for n in "${names[@]}"; do declare -n cmd=$n; nnssl_benchmark "${cmd[@]}" --cases 1 --folds 0 1 2 3 4 --report-only; done
  exit;;
esac
if [ "${STAGE:-all}" = plateau_long_scratch ]; then
  own=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500"
       --out "$here/../benchmarks/hippocampus_2d_1case_1500it_mixcl1800it_own_scratch" --scratch scratch
       --init "mixcl1800_nnunet=$long_ckpt" --variant mixcl1800_nnunet=nnUNetSchedule)
  for fold in ${folds[*]}; do nnssl_benchmark "${own[@]}" --cases 1 --folds "$fold"; done
  nnssl_benchmark "${own[@]}" --cases 1 --folds 0 1 2 3 4 --report-only; exit
fi
if [ "${STAGE:-all}" = plateau_long ]; then
  mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
  python "$here/prepare_hippocampus.py" "$nnUNet_raw"
  nnssl_pretrain -d 601 -t 602 -c 2d --plan-batch-size 16 -device "$device" -m mixcl --schedule cpu --epochs 36 \
    --run-name mixcl_1800it --continue
  long=(-t 602 -c 2d --schedule 30 50 5 -device "$device" --runs "$work/lowlabel_runs_1500"
        --out "$here/../benchmarks/hippocampus_2d_1case_1500it_mixcl1800it" --scratch
        --init "mixcl1800_nnunet=$long_ckpt"
        --variant mixcl1800_nnunet=nnUNetSchedule --import-report "$here/../benchmarks/hippocampus_2d_1case_1500it")
  for fold in ${folds[*]}; do nnssl_benchmark "${long[@]}" --cases 1 --folds "$fold"; done
  nnssl_benchmark "${long[@]}" --cases 1 --folds 0 1 2 3 4 --report-only; exit
fi
if [ "${STAGE:-all}" = report ]; then
  nnssl_benchmark "${grid[@]}" --cases 1 2 --folds 0 1 2 3 4 --report-only; exit
fi
mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
python "$here/prepare_hippocampus.py" "$nnUNet_raw"
nnssl_pretrain -d 601 -t 602 -c 2d --plan-batch-size 16 -device "$device" -m mixcl --schedule cpu --continue
for cases in 1 "1 2"; do
  for fold in ${folds[*]}; do
    nnssl_benchmark "${head[@]}" --cases $cases --folds "$fold"
  done
done
for fold in ${folds[*]}; do
  nnssl_benchmark "${grid[@]}" --cases 1 2 --folds "$fold"
done
for fold in ${folds[*]}; do
  nnssl_benchmark "${grid[@]}" --cases 1 2 4 --folds "$fold"
done
nnssl_benchmark "${grid[@]}" --cases 1 2 --folds 0 1 2 3 4 --report-only
