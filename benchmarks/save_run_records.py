"""Keep the record of finished runs in the repository, small, so that their tables outlive the machine.

A session's runs/ folder is lost with its machine. This copies, for every run folder under the given roots,
its config.yaml and each finished seed's config.yaml and metrics.json, the latter without its checkpoints'
worth of detail: the per-epoch history keeps the losses, the seconds and validation Recall@20 / NDCG@20
(what `gtcrec report` draws), not every metric at every k nor the diagnostics (15-20 KB for a seed of 50-150 epochs).

    python benchmarks/save_run_records.py runs/ablate-ml-100k-mm --out docs/results/runs

Copying a saved record back (`cp -r docs/results/runs/ablate-ml-100k-mm runs/`) makes its finished seeds count
as done: `gtcrec bench` / `grid` (and benchmarks/parallel_runs.py) with the same command read them back and train
only the missing seeds; benchmarks/aggregate_runs.py reads the records where they are.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from gtcrec.atomic import atomic_write_bytes
from gtcrec.report import CURVE_METRICS

NESTED_KEPT = {"analysis"}  # small per-epoch dicts `gtcrec report` draws (RQ4/RQ5)


def trimmed(metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json with each epoch's history cut to its scalars, validation at CURVE_METRICS and NESTED_KEPT."""
    def short(value: Any) -> Any:  # 6 significant digits: a curve's, not a table's, precision
        if isinstance(value, float):
            return float(f"{value:.6g}")
        return {k: short(v) for k, v in value.items()} if isinstance(value, dict) else value

    history = []
    for record in metrics.get("history", []):
        kept = {k: v for k, v in record.items() if isinstance(v, (int, float, str)) or k in NESTED_KEPT}
        kept["valid"] = {m: v for m, v in record.get("valid", {}).items() if m in CURVE_METRICS}
        history.append(short(kept))
    return {**metrics, "history": history}  # the best epoch's valid and test metrics stay exact


def save(root: Path, out: Path) -> int:
    """Copy every run folder (one holding config.yaml and seed*/metrics.json) under ``root``; seeds copied."""
    copied = 0
    base = root.parent
    for config in sorted(root.rglob("config.yaml")):
        run = config.parent
        if run.name.startswith("seed") or not list(run.glob("seed*/metrics.json")):
            continue
        target = out / run.relative_to(base)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config, target / "config.yaml")
        for done in sorted(run.glob("seed*/metrics.json")):
            seed_target = target / done.parent.name
            seed_target.mkdir(exist_ok=True)
            if (done.parent / "config.yaml").exists():
                shutil.copyfile(done.parent / "config.yaml", seed_target / "config.yaml")
            record = json.dumps(trimmed(json.loads(done.read_text())), separators=(",", ":"))  # compact: in git
            atomic_write_bytes(seed_target / "metrics.json", record.encode())
            copied += 1
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path, help="run folders, or folders holding run folders")
    parser.add_argument("--out", type=Path, default=Path("docs/results/runs"))
    args = parser.parse_args(argv)
    for root in args.roots:
        if not root.is_dir():
            print(f"save_run_records: {root}: no such folder", file=sys.stderr)
            return 2
        print(f"{root}: {save(root, args.out)} finished seeds saved under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
