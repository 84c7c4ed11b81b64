"""Can a trained model recommend items that have no training interaction (cold items)?

Usage: python benchmarks/cold_items.py RUN_DIR/seedN [RUN_DIR/seedM ...] [--split test] [--k 20]

For each saved run (its config.yaml and best.safetensors), ranks every item for every evaluated user of
the split, training items masked as in evaluation, and splits the hits by target kind:
- warm / cold hit rate: share of the split's (user, target) pairs whose target is in the user's top k,
  for targets with / without a training interaction (micro-averaged over pairs);
- cold share of top k: share of all top-k slots that hold a cold item (does the model show them at all?).
Prints one markdown row per run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gtcrec.evaluation import Evaluator, model_scorer
from gtcrec.train.run import load_trained_run


def cold_item_row(seed_dir: Path, split: str, k: int) -> str:
    run, config, data, model = load_trained_run(seed_dir, device="cpu")
    evaluator = Evaluator(data, split, ks=[k])
    cold = torch.ones(data.n_items, dtype=torch.bool)
    cold[torch.from_numpy(data.pairs("train")[:, 1])] = False
    hits = {True: 0, False: 0}
    targets = {True: 0, False: 0}
    cold_slots = 0
    for batch in evaluator.top_k_batches(model_scorer(model), k):
        cold_slots += int(cold[batch.items].sum())
        for kind in (True, False):
            hits[kind] += int((batch.hits & cold[batch.items].eq(kind)).sum())
        _, items = evaluator.target.gather(batch.users)
        for kind in (True, False):
            targets[kind] += int(cold[items].eq(kind).sum())
    n_users = len(evaluator.users)
    rate = {kind: hits[kind] / targets[kind] if targets[kind] else float("nan") for kind in (True, False)}
    return (f"| {config.model} | {run} | {split} | {n_users} | {targets[False]} | {rate[False]:.4f} | "
            f"{targets[True]} | {rate[True]:.4f} | {cold_slots / (n_users * k):.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("seed_dirs", nargs="+", type=Path)
    parser.add_argument("--split", default="test", choices=["valid", "test"])
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    print(f"| model | run | split | users | warm targets | warm hit@{args.k} | cold targets | cold hit@{args.k} "
          f"| cold share of top {args.k} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed_dir in args.seed_dirs:
        print(cold_item_row(seed_dir, args.split, args.k), flush=True)


if __name__ == "__main__":
    main()
