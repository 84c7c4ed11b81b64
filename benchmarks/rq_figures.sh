#!/bin/bash
# The paper's RQ3 (impact of content) and RQ6 (sensitivity) figures for one dataset, from the saved runs of issue 17
# (benchmarks/gtc_after_grid.sh and the equal-budget grid), into docs/results/figures/<dataset>-rq3 and -rq6.
# Runs with no finished seed and grids with no chosen point (RQ6) or no final seeds (RQ3) are left out and named on
# stderr; a run with some of its seeds finished enters with those (report.md gives each bar's seed count).
# "full" is the equal-budget grid's final seeds (runs/eq-DATASET/gtc) where they exist, else the Table 3 run of
# full GTC (<ablate>/table3/gtc; same point).
# GTCREC_ABLATE_DIR replaces runs/ablate-DATASET (e.g. runs/ablate-ml-100k-mm-p20, the patience-20 ablations).
# Needs gtcrec[plot]. usage: bash benchmarks/rq_figures.sh DATASET MODALITY_A MODALITY_B
#   e.g. bash benchmarks/rq_figures.sh tiktok image audio; bash benchmarks/rq_figures.sh ml-100k-mm image text
set -u
cd "$(dirname "$0")/.."
if [ $# -ne 3 ]; then echo "usage: bash benchmarks/rq_figures.sh DATASET MODALITY_A MODALITY_B" >&2; exit 2; fi
ds=$1; ma=$2; mb=$3
if [ -z "$ds" ] || [ -z "$ma" ] || [ -z "$mb" ] || [ "$ma" = "$mb" ]; then
  echo "rq_figures.sh: expected a dataset and two different modality names; got '$ds' '$ma' '$mb'" >&2; exit 2
fi
gtcrec=.venv/bin/gtcrec  # the README's set-up; else the one on PATH
[ -x "$gtcrec" ] || gtcrec=gtcrec
python=.venv/bin/python
[ -x "$python" ] || python=python3
grid_has() {  # GRID_DIR FIELD: the grid.json exists and FIELD is set (chosen, final)
  [ -f "$1/grid.json" ] && "$python" -c 'import json, sys; sys.exit(not json.load(open(sys.argv[1])).get(sys.argv[2]))' \
    "$1/grid.json" "$2"
}
has_seeds() { compgen -G "$1/seed*/metrics.json" > /dev/null; }
ablate=${GTCREC_ABLATE_DIR:-runs/ablate-$ds}
full=runs/eq-$ds/gtc
grid_has "$full" final || full=$ablate/table3/gtc
echo "RQ3: full GTC from $full" >&2
rq3=()
for spec in "interaction only=$ablate/modalities-none/gtc" "$ma only=$ablate/modalities-$ma/gtc" \
            "$mb only=$ablate/modalities-$mb/gtc" "pairwise, no TC=$ablate/table3/gtc-wo-tc" "full=$full"; do
  folder=${spec#*=}
  if has_seeds "$folder" || grid_has "$folder" final; then
    rq3+=("$spec")
  else
    echo "RQ3: nothing finished in $folder yet; left out" >&2
  fi
done
rq6=()
# lambda_tc (with the other axes of the equal-budget grid) from that grid; T and lambda_diff one axis each
for grid in "runs/eq-$ds/gtc" "runs/sens-$ds/T" "runs/sens-$ds/lambda_diff"; do
  if grid_has "$grid" chosen; then rq6+=("$grid"); else echo "RQ6: no finished grid in $grid yet; left out" >&2; fi
done
status=0
if [ ${#rq3[@]} -gt 0 ]; then "$gtcrec" report "${rq3[@]}" --out "docs/results/figures/$ds-rq3" || status=$?; fi
if [ ${#rq6[@]} -gt 0 ]; then "$gtcrec" report "${rq6[@]}" --out "docs/results/figures/$ds-rq6" || status=$?; fi
exit $status
