#!/usr/bin/env bash
# The main job: set up, train LightGCN on MovieLens-100K (real data), print test metrics at the
# best-validation epoch. Extra arguments go to `gtcrec train` (e.g. --seeds 1 2 3, --model bprmf).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gtcrec train --model lightgcn --dataset ml-100k --output-dir runs "$@"
