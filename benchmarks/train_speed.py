"""Seconds per training epoch, seconds per full evaluation, and peak memory, per model.

Usage:
  python benchmarks/train_speed.py --dataset tiktok --models lightgcn gtc --epochs 3 [--device cuda]
  python benchmarks/train_speed.py --dataset tiktok --models gtc --set generation_steps=20
  python benchmarks/train_speed.py --dataset tiktok --models gtc-concat freedom dragon mgcn --device cuda

Each name is a preset (its model, model_params and train settings) or a model.

The first epoch is a warm-up and is not counted. Prints a Markdown table plus one JSON line per model
(git commit, device name, torch version) for docs/results/.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
import warnings

import torch

from gtcrec.config import TrainConfig, load_yaml_config, parse_override
from gtcrec.data.sources import load_dataset
from gtcrec.machine import cpu_model
from gtcrec.models import ModelInputs, build_model
from gtcrec.train import Trainer
from gtcrec.train.run import _git_commit, apply_cpu_settings
from gtcrec.train.seeding import resolve_device, seed_everything


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="tiktok")
    parser.add_argument("--models", nargs="+", default=["lightgcn", "gtc"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model_params override")
    args = parser.parse_args()
    apply_cpu_settings(TrainConfig())  # as a training run does: subnormal floats flushed to zero
    warnings.filterwarnings("ignore")
    logging.disable(logging.INFO)
    device = resolve_device(args.device)
    data = load_dataset(args.dataset)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    print(f"{args.dataset} on {device_name}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| model | params | s/epoch (train) | s/eval (valid, all users) | peak memory MiB |\n|---|---|---|---|---|")
    for name in args.models:
        seed_everything(0)
        preset = load_yaml_config(name)
        params = dict(preset.get("model_params", {}))
        for text in args.set:
            params.update(parse_override(text))
        train_cfg = TrainConfig(**{**preset.get("train", {}), "progress": False})
        model_name = preset.get("model", name)  # a preset (gtc-concat) names its model
        model_data = data.with_modalities(preset.get("data", {}).get("modalities"))
        model = build_model(model_name, ModelInputs.from_data(model_data), params)
        trainer = Trainer(model, model_data, train_cfg, seed=0, device=device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        epoch_times, eval_times = [], []
        for epoch in range(1, args.epochs + 2):
            _sync(device)
            t0 = time.perf_counter()
            trainer.train_epoch(epoch)
            trainer.model.refresh()  # as Trainer.fit does: GTC's generation is part of the epoch
            _sync(device)
            t1 = time.perf_counter()
            trainer.valid_evaluator.evaluate(trainer.model)
            _sync(device)
            t2 = time.perf_counter()
            if epoch > 1:
                epoch_times.append(t1 - t0)
                eval_times.append(t2 - t1)
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device) / 2**20
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; process-wide
        n_params = sum(p.numel() for p in model.parameters())
        epoch_s, eval_s = sum(epoch_times) / len(epoch_times), sum(eval_times) / len(eval_times)
        print(f"| {name} | {n_params} | {epoch_s:.3f} | {eval_s:.3f} | {peak:.0f} |")
        print(json.dumps({"model": name, "dataset": args.dataset, "device": device_name, "commit": _git_commit(),
                          "torch": torch.__version__, "epochs_timed": len(epoch_times), "s_per_epoch": epoch_s,
                          "s_per_eval": eval_s, "peak_mib": peak, "params": params}))


if __name__ == "__main__":
    main()
