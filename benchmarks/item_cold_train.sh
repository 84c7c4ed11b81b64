#!/bin/bash
# Item-cold split on ML-100K-MM: each multimodal model trained on the warm items only, seeds given, patience 10, one thread.
cd /work/main
D=runs/itemcold/ml-100k-mm
for seed in "$@"; do
for m in vbpr freedom mgcn dragon bm3 lgmrec gtc; do
  out=$D/runs/$m
  if [ -f $out/seed$seed/metrics.json ]; then continue; fi
  OMP_NUM_THREADS=1 .venv/bin/gtcrec train --model $m --dataset $D/warm --seeds $seed --patience 10 --no-progress \
    --set train.num_threads=1 --output-dir $D/runs --name $m > $D/$m.seed$seed.log 2>&1 || echo "FAILED $m $seed"
done; done
echo done
