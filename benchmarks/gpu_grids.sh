#!/usr/bin/env bash
# Issue 17's ML-100K-MM grids (and issue 21's missing bench rows) on one GPU, in one device call: the GPU checks
# first (benchmarks/gpu_checks.sh without its scale table), then every unfinished training of
#   - benchmarks/equal_budget_ml100k.sh's grids (GTC, MGCN, DRAGON, FREEDOM; LightGCN's is done), finals included,
#   - `gtcrec bench` of LGMRec on TikTok (5 seeds) and on ML-100K-MM (3 seeds, patience 50 as the other ML-100K-MM
#     bench rows of baselines.md; the first GPU run used the preset's 20: runs/bench-ml-100k-mm-p20),
#   - once GTC's grid has chosen, benchmarks/gtc_after_grid.sh's sensitivity grids and ablations for that choice,
# as one-seed jobs in parallel worker processes (benchmarks/parallel_runs.py) until a deadline. What finishes
# comes back as $OUT/runs.tgz (no checkpoints: metrics, configs and logs); untar it over runs/ and re-run the
# same commands here to write the reports (they read every finished seed back and train what is missing).
#
# Stage first (git-ignored folders; delete them afterwards):
#   mkdir -p .device-data .device-cache/datasets && cp -r ../shared/data/tiktok .device-data/ \
#     && cp -r ~/.cache/gtcrec/datasets/ml-100k-mm .device-cache/datasets/
#   and copy runs/eq-ml-100k-mm (and any other folder whose runs should resume there) to .device-runs/runs/...,
#   without *.safetensors, .lock and seed folders that have no metrics.json (an unfinished seed restarts there)
# then call the device tool's run with
#   command: GTCREC_COMMIT=<git describe --always --dirty> bash benchmarks/gpu_grids.sh
#   carry: [".device-data", ".device-cache", ".device-runs"], timeout_s: 600
set -uo pipefail
start=$SECONDS
budget=${GTCREC_GPU_BUDGET_S:-550}  # seconds from now until the packing; the call's limit is 600
jobs=${GTCREC_GPU_JOBS:-14}
out=${OUT:-gpu-grids}
mkdir -p "$out" runs
export PYTHONUNBUFFERED=1 PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} OMP_NUM_THREADS=1
export GTCREC_DATA_DIR=${GTCREC_DATA_DIR:-.device-data} GTCREC_CACHE=${GTCREC_CACHE:-.device-cache}
python=${PYTHON:-python3}
[ -d .device-runs ] && cp -r .device-runs/. runs/  # finished seeds of earlier runs: skipped there

if [ "${GTCREC_GPU_CHECKS:-1}" = 1 ]; then  # 0: skip them (to try this script where there is no GPU)
  OUT="$out/checks" GTCREC_GPU_SCALE_SIZES="" GTCREC_GPU_MODELS=${GTCREC_GPU_MODELS:-gtc} \
    bash benchmarks/gpu_checks.sh > "$out/checks.log" 2>&1 || echo "gpu_checks.sh failed (see checks/)" >> "$out/checks.log"
fi
extra=${GTCREC_EXTRA_ARGS:-}  # appended to every command: only to try this script quickly, e.g. "--epochs 1"

left() { echo $((budget - (SECONDS - start))); }
with_extra() { local line; while IFS= read -r line; do echo "$line $extra"; done; }
# shellcheck disable=SC2086  # one word per model
mapfile -t grids < <(GTCREC_PRINT_ONLY=1 bash benchmarks/equal_budget_ml100k.sh ${GTCREC_GPU_GRIDS:-gtc mgcn dragon freedom} \
  | with_extra)
common="--no-progress --set train.num_threads=1 $extra"
benches=("bench --models lgmrec --dataset tiktok --seeds 1..5 $common --output-dir runs/bench-tiktok"
         "bench --models lgmrec --dataset ml-100k-mm --seeds 1..3 --patience 50 $common --output-dir runs/bench-ml-100k-mm")
choices=runs/.parallel-choices
"$python" benchmarks/parallel_runs.py --jobs "$jobs" --deadline-s "$(left)" --choices-dir "$choices" \
  "${grids[@]}" "${benches[@]}" > "$out/parallel.log" 2>&1 &
main_pid=$!

# GTC's choice (written by parallel_runs.py once its points are done) -> the --set options that give it
chosen_overrides() {
  "$python" -c 'import json, sys
sets = json.load(open(sys.argv[1]))["sets"]
print(" ".join("--set " + s for s in sets if not s.startswith("train.num_threads")))' "$choices/runs_eq-ml-100k-mm_gtc.json"
}
after_pid=
while kill -0 "$main_pid" 2>/dev/null; do
  # the after-grid runs start only with time left for some of them to finish (a GTC run takes minutes)
  if [ -z "$after_pid" ] && [ "$(left)" -gt "${GTCREC_GPU_AFTER_MIN_S:-240}" ] && chosen=$(chosen_overrides 2>/dev/null)
  then
    echo "GTC chosen: $chosen" >> "$out/after.log"
    mapfile -t after < <(GTCREC_PRINT_ONLY=1 bash benchmarks/gtc_after_grid.sh ml-100k-mm image text "$chosen" \
      | with_extra)
    "$python" benchmarks/parallel_runs.py --jobs "${GTCREC_GPU_AFTER_JOBS:-12}" --deadline-s "$(left)" \
      "${after[@]}" >> "$out/after.log" 2>&1 &
    after_pid=$!
  fi
  sleep 5
done
wait "$main_pid"; main_status=$?
if [ -n "$after_pid" ]; then wait "$after_pid"; fi
folders=(runs/eq-ml-100k-mm runs/bench-tiktok runs/bench-ml-100k-mm runs/sens-ml-100k-mm runs/ablate-ml-100k-mm)
existing=(); for f in "${folders[@]}"; do [ -d "$f" ] && existing+=("$f"); done
tar czf "$out/runs.tgz" --exclude='*.safetensors' --exclude='.lock' --exclude='.parallel-*' "${existing[@]}"
echo "packed after $((SECONDS - start)) s; parallel_runs exit $main_status"
exit $main_status
