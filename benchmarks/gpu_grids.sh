#!/usr/bin/env bash
# Issue 17's ML-100K-MM grids (and issue 21's missing bench rows) on one GPU, in one device call: the GPU checks
# first (benchmarks/gpu_checks.sh without its scale table), then every unfinished training of
#   - benchmarks/equal_budget_ml100k.sh's grids (GTC, MGCN, DRAGON, FREEDOM; LightGCN's is done), finals included,
#   - `gtcrec bench` of LGMRec on TikTok (5 seeds) and of BM3 and LGMRec on ML-100K-MM (3 seeds),
#   - once GTC's grid has chosen, benchmarks/gtc_after_grid.sh's sensitivity grids and ablations for that choice,
# as one-seed jobs in parallel worker processes (benchmarks/parallel_runs.py) until a deadline. What finishes
# comes back as $OUT/runs.tgz (no checkpoints: metrics, configs and logs); untar it over runs/ and re-run the
# same commands here to write the reports (they read every finished seed back and train what is missing).
#
# Stage first (git-ignored folders; delete them afterwards):
#   mkdir -p .device-data .device-cache/datasets && cp -r ../shared/data/tiktok .device-data/ \
#     && cp -r ~/.cache/gtcrec/datasets/ml-100k-mm .device-cache/datasets/
#   rsync -a --exclude='*.safetensors' --exclude=.lock runs/eq-ml-100k-mm .device-runs/   (finished seeds only)
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
[ -d .device-runs ] && cp -r .device-runs/. runs/

if [ "${GTCREC_GPU_CHECKS:-1}" = 1 ]; then  # 0: skip them (to try this script where there is no GPU)
  OUT="$out/checks" GTCREC_GPU_SCALE_SIZES="" GTCREC_GPU_MODELS=${GTCREC_GPU_MODELS:-gtc} \
    bash benchmarks/gpu_checks.sh > "$out/checks.log" 2>&1 || echo "gpu_checks.sh failed (see checks/)" >> "$out/checks.log"
fi
extra=${GTCREC_EXTRA_ARGS:-}  # appended to every command: only to try this script quickly, e.g. "--epochs 1"

left() { echo $((budget - (SECONDS - start))); }
# shellcheck disable=SC2086  # one word per model
mapfile -t grids < <(GTCREC_PRINT_ONLY=1 bash benchmarks/equal_budget_ml100k.sh ${GTCREC_GPU_GRIDS:-gtc mgcn dragon freedom} \
  | sed "s/\$/ $extra/")
common="--no-progress --set train.num_threads=1 $extra"
benches=("bench --models lgmrec --dataset tiktok --seeds 1..5 $common --output-dir runs/bench-tiktok"
         "bench --models bm3,lgmrec --dataset ml-100k-mm --seeds 1..3 $common --output-dir runs/bench-ml-100k-mm")
"$python" benchmarks/parallel_runs.py --jobs "$jobs" --deadline-s "$(left)" -- "${grids[@]}" "${benches[@]}" \
  > "$out/parallel.log" 2>&1 &
main_pid=$!

# GTC's choice (grid.json's "chosen", written once its last point is read back) -> its overrides as --set options
chosen_overrides() {
  "$python" - <<'EOF'
import json, shlex, sys
grid = json.load(open("runs/eq-ml-100k-mm/gtc/grid.json"))
if not grid.get("chosen"):
    sys.exit(1)
words = shlex.split(grid["command"])
sets = [w for a, w in zip(words, words[1:]) if a == "--set" and not w.startswith("train.num_threads")]
keys = [w.split("=")[0] for a, w in zip(words, words[1:]) if a == "--grid"]
sets += [f"{k}={grid['chosen'][k.split('.')[-1]]}" for k in keys]
print(" ".join(f"--set {s}" for s in sets))
EOF
}
after_pid=
while kill -0 "$main_pid" 2>/dev/null; do
  if [ -z "$after_pid" ] && chosen=$(chosen_overrides 2>/dev/null); then
    echo "GTC chosen: $chosen" >> "$out/after.log"
    mapfile -t after < <(GTCREC_PRINT_ONLY=1 bash benchmarks/gtc_after_grid.sh ml-100k-mm image text "$chosen" \
      | sed "s/\$/ $extra/")
    "$python" benchmarks/parallel_runs.py --jobs "${GTCREC_GPU_AFTER_JOBS:-6}" --deadline-s "$(left)" \
      --staging runs/.parallel-staging-after -- "${after[@]}" >> "$out/after.log" 2>&1 &
    after_pid=$!
  fi
  sleep 5
done
wait "$main_pid"; main_status=$?
if [ -n "$after_pid" ]; then wait "$after_pid"; fi
folders=(runs/eq-ml-100k-mm runs/bench-tiktok runs/bench-ml-100k-mm runs/sens-ml-100k-mm runs/ablate-ml-100k-mm)
existing=(); for f in "${folders[@]}"; do [ -d "$f" ] && existing+=("$f"); done
tar czf "$out/runs.tgz" --exclude='*.safetensors' --exclude='.lock' --exclude='.parallel-staging*' "${existing[@]}"
echo "packed after $((SECONDS - start)) s; parallel_runs exit $main_status"
exit $main_status
