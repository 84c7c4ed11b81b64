#!/bin/bash
# Issue 17, after the equal-budget grid of GTC (docs/results/equal-budget.md) has chosen its point:
#   1. one-at-a-time sensitivity around the chosen point, validation only, seed 1:
#      T in {200, 600, 1000} and lambda_diff in {0.1, 0.4, 0.7, 1.0};
#   2. the paper's ablations (Base, +DN, +TC, w/o TC, full) and modality subsets, 5 seeds (2..6).
# One torch thread per run, one run at a time; every command resumes when re-run.
# usage: bash benchmarks/gtc_after_grid.sh DATASET MODALITY_A MODALITY_B "<overrides of the chosen point>"
#   e.g. bash benchmarks/gtc_after_grid.sh tiktok image audio \
#          "--set model_params.lambda_tc=0.04 --set model_params.tc_mip_scaling=none --set model_params.n_layers=2"
set -u
cd "$(dirname "$0")/.."
ds=$1; ma=$2; mb=$3; chosen=${4:-}
export OMP_NUM_THREADS=1
gtcrec=.venv/bin/gtcrec  # the README's set-up; else the one on PATH
[ -x "$gtcrec" ] || gtcrec=gtcrec
# Sensitivity as one-axis grids (seed 1, validation only), so that `gtcrec report runs/sens-$ds/*` draws them
# (RQ6); lambda_tc's curve comes from the equal-budget grid itself. partial_t stays 100, so T starts at 200.
# GTCREC_PRINT_ONLY=1 prints the commands (without `gtcrec`) instead of running them, for
# benchmarks/parallel_runs.py (benchmarks/gpu_grids.sh).
run() {  # LOG ARGS...: one gtcrec command, its output appended to LOG
  local log=$1; shift
  if [ -n "${GTCREC_PRINT_ONLY:-}" ]; then printf '%q ' "$@"; echo; else "$gtcrec" "$@" >> "$log" 2>&1; fi
}
[ -n "${GTCREC_PRINT_ONLY:-}" ] || mkdir -p "runs/sens-$ds" "runs/ablate-$ds"
grid_common="--model gtc --dataset $ds --seeds 1 --patience 10 --no-progress --set train.num_threads=1 $chosen"
# shellcheck disable=SC2086  # lists of options
run "runs/sens-$ds/T.log" grid $grid_common --grid model_params.diffusion_steps=200,600,1000 \
  --output-dir "runs/sens-$ds/T"
# shellcheck disable=SC2086
run "runs/sens-$ds/lambda_diff.log" grid $grid_common --grid model_params.lambda_diff=0.1,0.4,0.7,1.0 \
  --output-dir "runs/sens-$ds/lambda_diff"
common="--dataset $ds --seeds 2..6 --patience 10 --no-progress --set train.num_threads=1 $chosen"
# shellcheck disable=SC2086
run "runs/ablate-$ds/table3.log" bench --models gtc,gtc-base,gtc-base-dn,gtc-base-tc,gtc-wo-tc $common \
  --output-dir "runs/ablate-$ds/table3"
for mods in "[$ma]" "[$mb]" "[]"; do
  name=$(echo "$mods" | tr -d '[]'); name=${name:-none}
  # shellcheck disable=SC2086
  run "runs/ablate-$ds/modalities-$name.log" bench --models gtc $common --set "data.modalities=$mods" \
    --output-dir "runs/ablate-$ds/modalities-$name"
done
