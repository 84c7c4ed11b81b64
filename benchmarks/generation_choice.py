"""Validation score of a trained GTC under each generation method (Eq. 5 ancestral, DDIM, partial).

Usage: python benchmarks/generation_choice.py runs/<run>/seed1 [runs/<run>/seed2 ...]

For each checkpoint, the generated content is recomputed with each method, and the validation split
only is evaluated. The weights are not retrained: this measures how sensitive a trained model is to
the sampler. It is cheap evidence for the default, not a per-method training run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gtcrec.evaluation import Evaluator
from gtcrec.train.run import load_trained_run

METHODS = [("ancestral", {}), ("ddim", {"generation_steps": 10}), ("ddim", {"generation_steps": 50}),
           ("ddim", {"generation_steps": 200}), ("partial", {"partial_t": 100}), ("partial", {"partial_t": 300})]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoints", nargs="+", type=Path)
    args = parser.parse_args()
    for run in args.checkpoints:
        _, _, data, model = load_trained_run(run, device="cpu")
        evaluator = Evaluator(data, "valid", ks=[20])
        trained_with = {"generation": model.config.generation, "generation_steps": model.config.generation_steps}
        for method, options in METHODS:
            model.config.generation = method
            for key, value in options.items():
                setattr(model.config, key, value)
            start = time.perf_counter()
            model.refresh()  # generated content is explicit state: regenerate it with this sampler
            with torch.no_grad():
                metrics = evaluator.evaluate(model).metrics
            print(json.dumps({"checkpoint": str(run), "trained_with": trained_with, "method": method, **options,
                              "valid_recall@20": round(metrics["recall@20"], 4),
                              "valid_ndcg@20": round(metrics["ndcg@20"], 4),
                              "eval_seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
