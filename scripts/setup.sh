#!/usr/bin/env bash
# Idempotent set-up: a .venv with torch (the machine's local CPU wheel) and gtcrec[dev] installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# torch is installed on its own, first: an unpinned 'torch' would let pip pull a multi-GB CUDA build.
TORCH_SPEC=${GTCREC_TORCH_SPEC:-torch==2.13.0}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.gtcrec-setup
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $TORCH_SPEC $(pwd)"  # a moved or copied .venv reinstalls
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv (log: .venv/setup.log) ..." >&2
  {
    .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install "$TORCH_SPEC"
    .venv/bin/python -m pip install -e ".[dev]"
  } > .venv/setup.log 2>&1 || { tail -30 .venv/setup.log >&2; exit 1; }
  echo "$want" > "$stamp"
fi
