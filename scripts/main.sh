#!/usr/bin/env bash
# The main job: set up, train GTC (preset gtc, patience 10) on ML-100K-MM
# (MovieLens-100K + title/genre text + posters, features built offline on first use), and print the
# test metrics at the best-validation epoch. Without ../shared/data/ml-100k it falls back to the
# planted synthetic dataset. Extra arguments go to `gtcrec train` (e.g. --seeds 1 2 3, --config gtc-concat).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if .venv/bin/python -c "
import sys
from gtcrec.data.sources import find_shared
root = find_shared('ml-100k')
sys.exit(0 if root and (root / 'posters').is_dir() and (root / 'ml-100k.item').exists() else 1)"; then
  dataset=ml-100k-mm
else
  echo "note: ../shared/data/ml-100k (with posters/) not found; training on the synthetic dataset instead" >&2
  dataset=synthetic
fi
exec .venv/bin/gtcrec train --config gtc --patience 10 --dataset "$dataset" --output-dir runs "$@"
