"""Continue finished runs with a longer patience, from their last checkpoints, in a copy of their folders.

Patience only decides when a run stops, so a seed stopped early by patience P and continued from its last
checkpoint with patience Q > P is the run patience Q would have given from the start (the checkpoint holds the
weights, optimizer, RNG states and the count of evaluations without improvement; tests/test_extend_patience.py
checks the equality). A seed that improves again trains on; one that does not stops after Q - P more epochs
with the same numbers.

    python benchmarks/extend_patience.py --patience 20 --out runs/ablate-ml-100k-mm-p20 \
        runs/ablate-ml-100k-mm/table3/gtc-base runs/ablate-ml-100k-mm/table3/gtc-base-tc

Each run folder is copied to OUT/<its path below the common parent of the given folders>; the original is left
as it was. One run after another (give each process its own list to use several cores). Needs the seeds'
last.safetensors (kept by every run). Re-running resumes what an interruption left.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

import yaml

from gtcrec.config import saved_run_config
from gtcrec.errors import UserError
from gtcrec.train import train
from gtcrec.train.run import read_seed_metrics, saved_config_path
from gtcrec.train.trainer import has_checkpoint


def _saved_patience(config_path: Path) -> int:
    return yaml.safe_load(config_path.read_text())["train"]["patience"]


def extended_copy(run: Path, target: Path, patience: int) -> list[str]:
    """Copy ``run`` to ``target`` (once) with ``patience``; reopen the seeds patience stopped. Returns them."""
    old = _saved_patience(saved_config_path(run))
    if old > patience:  # before anything is copied
        raise UserError(f"{run}: patience {old} is above {patience}; expected a longer one")
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(run, partial, ignore=shutil.ignore_patterns(".lock"))
        os.replace(partial, target)  # a half-made copy is never taken for a run
    reopened = []
    for done in sorted(target.glob("seed*/metrics.json")):
        seed_config = done.parent / "config.yaml"  # what the seed trained with (a re-run finds the longer one)
        shorter = seed_config.exists() and _saved_patience(seed_config) < patience
        if shorter and read_seed_metrics(done).get("stopped_early") and has_checkpoint(done.parent):
            done.unlink()  # the seed trains on from its last checkpoint
            reopened.append(done.parent.name)
    for config_path in [saved_config_path(target), *sorted(target.glob("seed*/config.yaml"))]:
        config = yaml.safe_load(config_path.read_text())
        config["train"]["patience"] = patience
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return reopened


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (config.yaml, seed*/)")
    parser.add_argument("--patience", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.getLogger("gtcrec").setLevel(logging.INFO)  # each seed's train.log takes its epochs, as under the CLI
    runs = [r.resolve() for r in args.runs]
    for run in runs:
        if not saved_config_path(run).exists():
            print(f"extend_patience: {run}: no config.yaml; expected a run folder", file=sys.stderr)
            return 2
    base = Path(os.path.commonpath([r.parent for r in runs]))
    try:
        for run in runs:
            target = args.out / run.relative_to(base)
            reopened = extended_copy(run, target, args.patience)
            print(f"{target}: continuing {', '.join(reopened) or 'nothing'} with patience {args.patience}",
                  flush=True)
            config = saved_run_config(yaml.safe_load(saved_config_path(target).read_text()))
            train(config, resume_dir=target)
    except UserError as exc:
        print(f"extend_patience: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
