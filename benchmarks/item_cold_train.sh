#!/bin/bash
# Item-cold split on ML-100K-MM (see item_cold_split.py): every multimodal model trained on the warm items
# only, with its preset, patience 10, one torch thread, for each seed given (default 1). Skips finished runs.
#   python benchmarks/item_cold_split.py prepare --dataset ml-100k-mm --fraction 0.1 --seed 0 --out runs/itemcold/ml-100k-mm
#   bash benchmarks/item_cold_train.sh 1 2 3
#   python benchmarks/item_cold_split.py evaluate runs/itemcold/ml-100k-mm runs/itemcold/ml-100k-mm/runs/*/seed*
# A run interrupted part-way is resumed from its checkpoint.
set -u
cd "$(dirname "$0")/.."
D=${ITEM_COLD_DIR:-runs/itemcold/ml-100k-mm}
for seed in "${@:-1}"; do
  for m in vbpr freedom mgcn dragon bm3 lgmrec gtc; do
    [ -f "$D/runs/$m-s$seed/seed$seed/metrics.json" ] && continue
    if [ -d "$D/runs/$m-s$seed" ]; then how=(--resume "$D/runs/$m-s$seed"); else
      how=(--model $m --dataset "$D/warm" --seeds "$seed" --patience 10 --no-progress --set train.num_threads=1
           --output-dir "$D/runs" --name $m-s$seed); fi
    OMP_NUM_THREADS=1 gtcrec train "${how[@]}" > "$D/$m.seed$seed.log" 2>&1 || echo "FAILED $m $seed"
  done
done
