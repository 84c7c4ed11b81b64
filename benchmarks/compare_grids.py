"""One table from several `gtcrec grid` folders: each model's validation-chosen point on its final seeds.

Usage: python benchmarks/compare_grids.py --reference gtc LABEL=runs/grid-D-M [LABEL=...] [--csv out.csv]

For every LABEL it reads grid.json (the chosen point and its final run folder) and every final seed's
metrics.json. Rows give mean ± sample std over the final seeds of validation R@20 and the test metrics;
the reference row (GTC) is compared with each other row by Welch's t-test (unequal variances, two-sided)
on test Recall@20 and NDCG@20. Grid points and the choice among them used validation only.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

from scipy import stats

from gtcrec.report import final_run_dir

COLUMNS = ["recall@10", "ndcg@10", "recall@20", "ndcg@20", "recall@50", "ndcg@50"]


def final_seed_metrics(grid_dir: Path) -> tuple[dict, list[dict]]:
    report = json.loads((grid_dir / "grid.json").read_text())
    if "final" not in report:
        raise SystemExit(f"{grid_dir}: the grid has no final seeds (run it with --final-seeds)")
    run_dir = final_run_dir(grid_dir, report["final"])
    wanted = set(report["final"]["seeds"])
    metrics = [json.loads(p.read_text()) for p in sorted(run_dir.glob("seed*/metrics.json"))]
    metrics = [m for m in metrics if m["seed"] in wanted]
    if len(metrics) != len(wanted):
        raise SystemExit(f"{run_dir}: expected seeds {sorted(wanted)}, found {sorted(m['seed'] for m in metrics)}")
    return report, metrics


def fmt(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def welch_p(a: list[float], b: list[float]) -> float:
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="+", metavar="LABEL=GRID_DIR")
    parser.add_argument("--reference", required=True, help="the LABEL compared with every other row")
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    rows = {}
    for text in args.rows:
        label, folder = text.split("=", 1)
        rows[label] = final_seed_metrics(Path(folder))
    if args.reference not in rows:
        raise SystemExit(f"--reference {args.reference!r} is not one of {list(rows)}")
    ref = rows[args.reference][1]
    ref_values = {m: [s["test"][m] for s in ref] for m in ("recall@20", "ndcg@20")}
    header = ["model", "chosen point", "final seeds", "valid R@20"] + [c.replace("recall", "R").replace("ndcg", "N")
                                                                      for c in COLUMNS]
    header += [f"p vs {args.reference} (R@20)", f"p vs {args.reference} (N@20)"]
    table, csv_rows = [], []
    for label, (report, metrics) in rows.items():
        cells = [label, ", ".join(f"{k}={v}" for k, v in report["chosen"].items()),
                 ",".join(str(m["seed"]) for m in metrics), fmt([m["valid"]["recall@20"] for m in metrics])]
        cells += [fmt([m["test"][c] for m in metrics]) for c in COLUMNS]
        for metric in ("recall@20", "ndcg@20"):
            cells.append("–" if label == args.reference else f"{welch_p(ref_values[metric], [m['test'][metric] for m in metrics]):.3f}")
        table.append(cells)
        csv_rows.append({"model": label, "chosen": json.dumps(report["chosen"]),
                         "seeds": [m["seed"] for m in metrics],
                         **{f"valid_recall@20_seed{m['seed']}": m["valid"]["recall@20"] for m in metrics},
                         **{f"test_{c}_seed{m['seed']}": m["test"][c] for c in COLUMNS for m in metrics}})
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for cells in table:
        print("| " + " | ".join(cells) + " |")
    if args.csv:
        keys = sorted({k for r in csv_rows for k in r}, key=lambda k: (k not in ("model", "chosen", "seeds"), k))
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(csv_rows)


if __name__ == "__main__":
    main()
