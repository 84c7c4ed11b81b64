"""Mean ± std table over the seeds of one or more run folders (e.g. seeds split across two runs).

Usage: python benchmarks/aggregate_runs.py LABEL=runs/a[,runs/b] [LABEL=...] [--per-seed] [--reference LABEL]
Each LABEL gets one row, pooling every seed*/metrics.json under its folders. Validation R@20 is
shown first (the selection metric); test columns follow. With --reference, the last columns give Welch's
t-test (unequal variances, two-sided) of that row against each other row on test Recall@20 and NDCG@20.
A warning on stderr names any interactions or features whose digest (metrics.json's data_fingerprint)
differs between the seeds of the table.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from scipy import stats

from gtcrec.train.bench import data_mismatches

COLUMNS = ["recall@10", "ndcg@10", "recall@20", "ndcg@20", "recall@50", "ndcg@50"]


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="+", metavar="LABEL=RUN[,RUN]")
    parser.add_argument("--per-seed", action="store_true")
    parser.add_argument("--reference", metavar="LABEL", help="compare this row with every other (Welch's t-test)")
    args = parser.parse_args()
    rows = {}
    for row in args.rows:
        label, runs = row.split("=", 1)
        if label in rows:
            raise SystemExit(f"label {label!r} given twice; pool folders as {label}=runs/a,runs/b")
        metrics = []
        for run in runs.split(","):
            for path in sorted(Path(run).glob("seed*/metrics.json")):
                metrics.append(json.loads(path.read_text()))
        if not metrics:
            raise SystemExit(f"no seed*/metrics.json under {runs}")
        rows[label] = metrics
    if args.reference is not None and args.reference not in rows:
        raise SystemExit(f"--reference {args.reference!r} is not one of {list(rows)}")
    tests = ["recall@20", "ndcg@20"] if args.reference else []
    print("| model | seeds | valid R@20 | " + " | ".join(c.replace("recall", "R").replace("ndcg", "N") for c in COLUMNS)
          + " | train s/epoch | best epochs |" + "".join(f" p vs {args.reference} ({m}) |" for m in tests))
    print("|---" * (len(COLUMNS) + 5 + len(tests)) + "|")
    per_seed = []
    for label, metrics in rows.items():
        seeds = sorted(m["seed"] for m in metrics)
        cells = [_fmt([m["valid"]["recall@20"] for m in metrics])]
        cells += [_fmt([m["test"][c] for m in metrics]) for c in COLUMNS]
        cells.append(f"{statistics.mean(m['epoch_seconds'] for m in metrics):.2f}")
        cells.append(", ".join(str(m["best_epoch"]) for m in sorted(metrics, key=lambda m: m["seed"])))
        for metric in tests:
            ref = [m["test"][metric] for m in rows[args.reference]]
            other = [m["test"][metric] for m in metrics]
            p = stats.ttest_ind(ref, other, equal_var=False).pvalue if min(len(ref), len(other)) > 1 else float("nan")
            cells.append("–" if label == args.reference or math.isnan(p) else f"{p:.3f}")  # nan: undefined
        print(f"| {label} | {','.join(map(str, seeds))} | " + " | ".join(cells) + " |")
        per_seed += [(label, m) for m in metrics]
    for line in data_mismatches(rows):
        print(line, file=sys.stderr)
    if args.per_seed:
        print("\n| model | seed | best epoch | epochs run | valid R@20 | test R@20 | test N@20 | commit |")
        print("|---|---|---|---|---|---|---|---|")
        for label, m in sorted(per_seed, key=lambda x: (x[0], x[1]["seed"])):
            print(f"| {label} | {m['seed']} | {m['best_epoch']} | {m['epochs_run']} | {m['valid']['recall@20']:.4f} | "
                  f"{m['test']['recall@20']:.4f} | {m['test']['ndcg@20']:.4f} | {m.get('git_commit', '?')[:7]} |")


if __name__ == "__main__":
    main()
