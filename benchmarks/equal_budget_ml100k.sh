#!/bin/bash
# Issue 17 on ML-100K-MM: 12-point validation grids (selection seed 1, patience 10) for LightGCN, FREEDOM, MGCN,
# DRAGON and GTC, then each chosen point on final seeds 2..6 with patience 20 (`--final-patience`: on TikTok,
# patience 10 stopped LightGCN on a plateau; docs/results/equal-budget.md). One torch thread per run; run it
# twice at once with different models to use both cores: `bash benchmarks/equal_budget_ml100k.sh freedom mgcn`
# and `bash benchmarks/equal_budget_ml100k.sh dragon gtc lightgcn`. Every command resumes when re-run (finished
# points and seeds are read back). Axes: docs/results/equal-budget.md, "Protocol". GTC's features are
# L2-normalised per item (`data.feature_scaling=l2`, from a validation probe before the grid: runs/probe-ml);
# the baselines take the features raw, as MMRec does. GTCREC_PRINT_ONLY=1 prints the grid commands (without
# `gtcrec`) instead of running them: benchmarks/gpu_grids.sh runs them in parallel on a GPU.
set -u
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
gtcrec=.venv/bin/gtcrec  # the README's set-up; else the one on PATH
[ -x "$gtcrec" ] || gtcrec=gtcrec
out=runs/eq-ml-100k-mm
[ -n "${GTCREC_PRINT_ONLY:-}" ] || mkdir -p "$out"
[ $# -gt 0 ] || { echo "usage: bash $0 MODEL... (lightgcn, freedom, mgcn, dragon, gtc)" >&2; exit 2; }
for model in "$@"; do
  case $model in
    lightgcn) axes=(--grid train.lr=1e-3,5e-3 --grid model_params.n_layers=1,2,3 --grid model_params.reg_weight=1e-3,1e-4) ;;
    freedom) axes=(--grid train.lr=1e-3,5e-3 --grid model_params.dropout=0.8,0.9 --grid model_params.reg_weight=0,1e-4,1e-3) ;;
    mgcn) axes=(--grid train.lr=1e-3,5e-3 --grid model_params.cl_weight=0.001,0.01,0.1 --grid model_params.reg_weight=1e-3,1e-4) ;;
    dragon) axes=(--grid train.lr=1e-4,1e-3,5e-3 --grid model_params.reg_weight=1e-2,1e-3,1e-4,1e-5) ;;
    gtc) axes=(--set data.feature_scaling=l2 --grid train.lr=1e-3,5e-3 --grid model_params.n_layers=2,3
               --grid model_params.lambda_tc=0.04,0.1,0.4) ;;
    *) echo "unknown model $model (lightgcn, freedom, mgcn, dragon, gtc)" >&2; exit 2 ;;
  esac
  args=(grid --model "$model" --dataset ml-100k-mm --seeds 1 --final-seeds 2..6 --final-patience 20 --patience 10
        --no-progress --set train.num_threads=1 --output-dir "$out/$model" "${axes[@]}")
  if [ -n "${GTCREC_PRINT_ONLY:-}" ]; then  # one command per line, for benchmarks/parallel_runs.py
    printf '%q ' "${args[@]}"; echo
  else
    "$gtcrec" "${args[@]}" >> "$out/$model.log" 2>&1
  fi
done
