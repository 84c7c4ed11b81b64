#!/bin/bash
# The paper's RQ3 (impact of content) and RQ6 (sensitivity) figures for TikTok, from the saved runs of issue 17
# (benchmarks/gtc_after_grid.sh and the equal-budget grid), into docs/results/figures/tiktok-rq3 and -rq6.
# Runs not made yet are left out (and named on stderr). Needs gtcrec[plot]. usage: bash benchmarks/tiktok_figures.sh
set -u
cd "$(dirname "$0")/.."
gtcrec=$(command -v gtcrec || echo .venv/bin/gtcrec)
ablate=runs/ablate-tiktok
rq3=()
for spec in "interaction only=$ablate/modalities-none/gtc" "image only=$ablate/modalities-image/gtc" \
            "audio only=$ablate/modalities-audio/gtc" "pairwise, no TC=$ablate/table3/gtc-wo-tc" \
            "full=runs/eq-tiktok/gtc"; do
  folder=${spec#*=}
  if compgen -G "$folder/seed*/metrics.json" > /dev/null || [ -f "$folder/grid.json" ]; then
    rq3+=("$spec")
  else
    echo "RQ3: no finished seed in $folder yet; left out" >&2
  fi
done
"$gtcrec" report "${rq3[@]}" --out docs/results/figures/tiktok-rq3
rq6=(runs/eq-tiktok/gtc)  # lambda_tc (with the TC logit scaling and the depth) from the equal-budget grid
for grid in runs/sens-tiktok/T runs/sens-tiktok/lambda_diff; do
  if [ -f "$grid/grid.json" ]; then rq6+=("$grid"); else echo "RQ6: no grid in $grid yet; left out" >&2; fi
done
"$gtcrec" report "${rq6[@]}" --out docs/results/figures/tiktok-rq6
