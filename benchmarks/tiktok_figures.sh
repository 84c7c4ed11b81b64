#!/bin/bash
# The paper's RQ3 (impact of content) and RQ6 (sensitivity) figures for TikTok, from the saved runs of issue 17
# (benchmarks/gtc_after_grid.sh and the equal-budget grid), into docs/results/figures/tiktok-rq3 and -rq6.
# Runs with no finished seed and grids with no chosen point (RQ6) or no final seeds (RQ3) are left out and named on
# stderr; a run with some of its seeds finished enters with those (report.md gives each bar's seed count).
# Needs gtcrec[plot]. usage: bash benchmarks/tiktok_figures.sh
set -u
cd "$(dirname "$0")/.."
gtcrec=.venv/bin/gtcrec  # the README's set-up; else the one on PATH
[ -x "$gtcrec" ] || gtcrec=gtcrec
python=.venv/bin/python
[ -x "$python" ] || python=python3
grid_has() {  # GRID_DIR FIELD: the grid.json exists and FIELD is set (chosen, final)
  [ -f "$1/grid.json" ] && "$python" -c 'import json, sys; sys.exit(not json.load(open(sys.argv[1])).get(sys.argv[2]))' \
    "$1/grid.json" "$2"
}
ablate=runs/ablate-tiktok
rq3=()
for spec in "interaction only=$ablate/modalities-none/gtc" "image only=$ablate/modalities-image/gtc" \
            "audio only=$ablate/modalities-audio/gtc" "pairwise, no TC=$ablate/table3/gtc-wo-tc" \
            "full=runs/eq-tiktok/gtc"; do
  folder=${spec#*=}
  if compgen -G "$folder/seed*/metrics.json" > /dev/null || grid_has "$folder" final; then
    rq3+=("$spec")
  else
    echo "RQ3: nothing finished in $folder yet; left out" >&2
  fi
done
rq6=()
# lambda_tc (with the TC logit scaling and the depth) from the equal-budget grid; T and lambda_diff one axis each
for grid in runs/eq-tiktok/gtc runs/sens-tiktok/T runs/sens-tiktok/lambda_diff; do
  if grid_has "$grid" chosen; then rq6+=("$grid"); else echo "RQ6: no finished grid in $grid yet; left out" >&2; fi
done
status=0
if [ ${#rq3[@]} -gt 0 ]; then "$gtcrec" report "${rq3[@]}" --out docs/results/figures/tiktok-rq3 || status=$?; fi
if [ ${#rq6[@]} -gt 0 ]; then "$gtcrec" report "${rq6[@]}" --out docs/results/figures/tiktok-rq6 || status=$?; fi
exit $status
