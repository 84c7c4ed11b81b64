"""Seconds and bytes of one resumable checkpoint (written after every epoch by default), per model.

Usage: python benchmarks/checkpoint_cost.py --dataset tiktok --models lightgcn gtc [--repeats 5]
Builds each model with its preset on the dataset, then times Trainer's checkpoint write (weights, optimizer
state, RNG states and the training history, in one safetensors file, the previous one kept).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from gtcrec.config import build_config, load_yaml_config
from gtcrec.machine import cpu_model
from gtcrec.models import ModelInputs, build_model
from gtcrec.train.run import run_data
from gtcrec.train.trainer import LAST_FILE, Trainer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="tiktok")
    parser.add_argument("--models", nargs="+", default=["lightgcn", "gtc"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{args.dataset}, {cpu_model()}, 1 torch thread")
    print("| model | parameters | checkpoint MiB | seconds per checkpoint (median) |")
    print("|---|---|---|---|")
    for name in args.models:
        config = build_config(load_yaml_config(name), {"data": {"dataset": args.dataset}})
        data = run_data(config.data)
        model = build_model(config.model, ModelInputs.from_data(data), config.model_params)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(model, data, config.train, seed=0, device=torch.device("cpu"), run_dir=Path(tmp))
            users, pos, neg = (torch.zeros(4, dtype=torch.long),) * 3  # one step fills the optimizer state
            trainer.optimizer.zero_grad()
            model.loss(users, pos, neg)["loss"].backward()
            trainer.optimizer.step()
            history = [{"epoch": e, "loss": 0.5, "valid": {"recall@20": 0.1}} for e in range(100)]
            trainer._save_best(50)  # the checkpoint carries the best weights too
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                trainer._save_last(100, 50, 0.1, 3, {"recall@20": 0.1}, history)
                times.append(time.perf_counter() - start)
            size = (Path(tmp) / LAST_FILE).stat().st_size / 2**20
        n_params = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {n_params:,} | {size:.1f} | {sorted(times)[len(times) // 2]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
