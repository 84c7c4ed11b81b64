#!/usr/bin/env bash
# Every check that needs a GPU, in one device call (about 9 minutes on an H200: 5 for the scale table, run last;
# results of 2026-11-30 in docs/results/gpu-h200.md):
# the CUDA tests (training, evaluation and serving on the GPU), then seconds per epoch, seconds per evaluation
# and peak memory of every model on TikTok, exact top-20 retrieval over 1M items, then the scale benchmark's
# GPU variant (issue 20: s/epoch, validation pass and peak GPU memory from 70 k to 9 M interactions, projected
# from 10 batches; GTCREC_GPU_SCALE_SIZES chooses the sizes, empty skips it).
#
# The device copies the checkout but not ../shared, so stage TikTok in a git-ignored folder first:
#   mkdir -p .device-data && cp -r ../shared/data/tiktok .device-data/
# then call the device tool's run with
#   command: GTCREC_COMMIT=<git describe --always --dirty> bash benchmarks/gpu_checks.sh
#   carry: [".device-data"], timeout_s: 600
# and delete .device-data afterwards. Results come back under $OUT (gpu-checks/ when run by hand).
set -uo pipefail
out=${OUT:-gpu-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
export GTCREC_DATA_DIR=${GTCREC_DATA_DIR:-.device-data}
python=${PYTHON:-python3}
device=${GTCREC_GPU_DEVICE:-cuda}  # cpu only to try this script where there is no GPU

{
  date -u
  echo "commit: ${GTCREC_COMMIT:-unknown (set GTCREC_COMMIT)}"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
  "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
} 2>&1 | tee "$out/machine.txt"

status=0
# the CUDA tests, and data-parallel training over NCCL where there are 2 GPUs (skipped, with the reason, on one)
"$python" -m pytest -q -rs tests/test_cuda.py tests/test_distributed.py -k "cuda or nccl" 2>&1 \
  | tee "$out/cuda-tests.txt" || status=1

models=${GTCREC_GPU_MODELS:-freedom dragon lightgcn gtc-concat gtc mgcn bm3 vbpr lgmrec}
# shellcheck disable=SC2086  # one word per model
"$python" benchmarks/train_speed.py --dataset tiktok --models $models --epochs 3 --device "$device" 2>&1 \
  | tee "$out/train-speed.txt" || status=1
# exact top-20 over a synthetic 1M-item catalogue on the GPU (CPU figures: docs/results/serving.md)
"$python" benchmarks/retrieval_speed.py --items 1000000 --device "$device" --no-ann 2>&1 \
  | tee "$out/retrieval-1m.txt" || status=1
scale_sizes=${GTCREC_GPU_SCALE_SIZES-tiktok sports elec microlens}
if [ -n "$scale_sizes" ]; then
  # shellcheck disable=SC2086  # one word per size
  "$python" benchmarks/scale.py --sizes $scale_sizes --models lightgcn freedom gtc --max-batches 10 \
    --device "$device" --threads 8 --data-dir "$out/scale-data" 2>&1 | grep -v "^$" | tee "$out/scale.txt" || status=1
  rm -rf "$out/scale-data"  # generated data does not come back
fi
exit $status
