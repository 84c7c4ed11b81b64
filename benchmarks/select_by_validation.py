"""Pick the best of several runs by validation only, and show test for the chosen one.

Usage: python benchmarks/select_by_validation.py runs/grid-* [--metric recall@20]
Each argument is a run folder written by `gtcrec train` (with seed*/metrics.json). Runs are ranked
by their mean best-validation metric; test columns are printed but never used for the ranking.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--metric", default="recall@20")
    args = parser.parse_args()
    rows = []
    for run in map(Path, args.runs):
        seeds = sorted(run.glob("seed*/metrics.json"))
        if not seeds:
            continue
        metrics = [json.loads(p.read_text()) for p in seeds]
        config = yaml.safe_load((run / "config.yaml").read_text())
        valid = np.mean([m["valid"][args.metric] for m in metrics])
        test_r = np.mean([m["test"]["recall@20"] for m in metrics])
        test_n = np.mean([m["test"]["ndcg@20"] for m in metrics])
        rows.append((valid, run.name, config.get("model_params", {}), len(metrics), test_r, test_n))
    rows.sort(key=lambda r: -r[0])
    print(f"| run | model_params | seeds | valid {args.metric} | test recall@20 | test ndcg@20 |")
    print("|---|---|---|---|---|---|")
    for i, (valid, name, params, n, test_r, test_n) in enumerate(rows):
        mark = " (selected)" if i == 0 else ""
        print(f"| {name}{mark} | {params} | {n} | {valid:.4f} | {test_r:.4f} | {test_n:.4f} |")


if __name__ == "__main__":
    main()
