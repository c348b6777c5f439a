#!/usr/bin/env bash
# Low-label benchmark on Hippocampus: run benchmark protocols (benchmarks/protocols/*.toml) in one workdir.
# Each protocol declares its pretraining, inits, label counts, folds and fine-tuning schedule; every step resumes
# where it stopped and the report lands in benchmarks/<the protocol's report>. The raw datasets (601-605) are copied
# from ../shared/data on first use.
# Usage: scripts/hippocampus_lowlabel.sh <workdir> <protocol> [<protocol> ...]   (DEVICE=cuda on a GPU; --dry-run
# as the last argument lists what each protocol would run)
set -euo pipefail
work=$(realpath -m "${1:?usage: $0 <workdir> <protocol>... [--dry-run]}"); shift
export nnUNet_def_n_proc=${nnUNet_def_n_proc:-1} nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-0}
extra=(); [ "${*: -1}" = --dry-run ] && extra=(--dry-run) && set -- "${@:1:$#-1}"
for protocol in "$@"; do
  nnssl_benchmark run "$protocol" --work "$work" -device "${DEVICE:-cpu}" "${extra[@]}"
done
