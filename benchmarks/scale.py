"""How cost grows with data: set-up, train seconds per epoch, a full validation pass and peak memory, per model,
on power-law synthetic datasets in MMRec format (issue 20).

Usage:
  python benchmarks/scale.py --sizes tiktok sports elec --models lightgcn freedom gtc [--max-batches 20]
  python benchmarks/scale.py --sizes tiny --models lightgcn gtc                       # seconds, for a try
Sizes (users / items / interactions): tiny 1k/500/10k, tiktok 10k/7k/70k, sports 35k/18k/300k,
clothing 39k/23k/279k, elec 190k/63k/1.7M, microlens 1M/90k/9.1M. Two content modalities (128-d, 384-d).

Each (size, model) runs in its own process (so that peak RSS is its own), with one torch thread unless
--threads says otherwise. With --max-batches N, an epoch is timed on its first N batches after one warm-up
batch and projected to the whole epoch (marked "projected"), plus the once-per-epoch work (GTC's content
generation, FREEDOM's pruning). Datasets are generated once into --data-dir (default runs/scale-data).
Prints a Markdown table and the fitted growth exponent of seconds per epoch against interactions per
model; with --plot FILE (needs matplotlib) a log-log plot.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = {"tiny": (1_000, 500, 10_000), "tiktok": (10_000, 7_000, 70_000), "sports": (35_000, 18_000, 300_000),
         "clothing": (39_000, 23_000, 279_000), "elec": (190_000, 63_000, 1_700_000),
         "microlens": (1_000_000, 90_000, 9_100_000)}
FEATURE_DIMS = {"image": 128, "text": 384}


def power_law_dataset(name: str, n_users: int, n_items: int, n_interactions: int, folder: Path, seed: int = 0) -> Path:
    """Users' degrees and items' popularity both heavy-tailed; every user has at least 5 interactions."""
    from gtcrec.data import InteractionData, write_mmrec
    from gtcrec.data.split import mmrec_split

    if (folder / "dataset.yaml").exists():
        return folder
    rng = np.random.default_rng(seed)
    degrees = np.minimum(5 + rng.zipf(2.0, n_users), max(6, n_items // 20)).astype(np.float64)
    degrees = np.maximum(5, np.round(degrees * n_interactions / degrees.sum())).astype(np.int64)
    popularity = (np.arange(n_items) + 10.0) ** -0.8
    items = rng.choice(n_items, size=int(degrees.sum()), p=popularity / popularity.sum())
    users = np.repeat(np.arange(n_users), degrees)
    pairs = np.unique(np.column_stack([users, rng.permutation(n_items)[items]]), axis=0)  # no repeated pair
    labels = mmrec_split(pairs[:, 0], seed)
    features = {m: rng.standard_normal((n_items, d), dtype=np.float32) for m, d in FEATURE_DIMS.items()}
    data = InteractionData(name, n_users, n_items, pairs[labels == 0], pairs[labels == 1], pairs[labels == 2],
                           features)
    return write_mmrec(data, folder)


def measure_one(size: str, model_name: str, data_dir: Path, max_batches: int | None, threads: int) -> dict:
    """Runs in a child process: one model on one size."""
    import torch

    from gtcrec.config import TrainConfig, load_yaml_config
    from gtcrec.data import load_dataset
    from gtcrec.models import ModelInputs, build_model
    from gtcrec.train import Trainer

    torch.set_num_threads(threads)
    n_users, n_items, n_inter = SIZES[size]
    start = time.perf_counter()
    folder = power_law_dataset(size, n_users, n_items, n_inter, data_dir / size)
    generated = time.perf_counter() - start
    start = time.perf_counter()
    data = load_dataset(str(folder))
    preset = load_yaml_config(model_name)
    model = build_model(preset.get("model", model_name), ModelInputs.from_data(data), preset.get("model_params"))
    trainer = Trainer(model, data, TrainConfig(**{**preset.get("train", {}), "progress": False}), seed=0,
                      device=torch.device("cpu"))
    setup = time.perf_counter() - start
    n_batches = math.ceil(len(data.train) / trainer.cfg.batch_size)
    timed = n_batches if max_batches is None else min(n_batches, max_batches)
    model.train()
    start = time.perf_counter()
    model.on_epoch_start(1)
    per_epoch_work = time.perf_counter() - start
    pairs = trainer.train_pairs[torch.randperm(len(trainer.train_pairs), generator=trainer.generator)]
    size_b = trainer.cfg.batch_size
    negatives = trainer.sampler.sample(pairs[: min(timed, n_batches) * size_b, 0], trainer.generator)
    batch_seconds = []
    for b in range(timed + 1):  # a warm-up batch (the epoch's first, timed again at the end), then `timed`
        window = slice((b % timed) * size_b, (b % timed + 1) * size_b)
        users, pos = pairs[window].T
        neg = negatives[window]
        start = time.perf_counter()
        loss = model.loss(users, pos, neg)["loss"]
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        batch_seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    model.refresh()
    per_epoch_work += time.perf_counter() - start
    per_batch = float(np.mean(batch_seconds[1:]))
    start = time.perf_counter()
    trainer.valid_evaluator.evaluate(model)
    validation = time.perf_counter() - start
    return {"size": size, "model": model_name, "users": data.n_users, "items": data.n_items,
            "interactions": int(len(data.train) + len(data.valid) + len(data.test)),
            "generate_s": generated, "setup_s": setup, "batches": n_batches, "timed_batches": timed,
            "epoch_s": per_epoch_work + per_batch * n_batches, "projected": timed < n_batches,
            "validation_s": validation, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": threads}


def growth_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(seconds) against log(interactions)."""
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["tiktok", "sports"], choices=list(SIZES))
    parser.add_argument("--models", nargs="+", default=["lightgcn", "freedom", "gtc"])
    parser.add_argument("--max-batches", type=int, help="time this many batches per epoch and project")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default="runs/scale-data")
    parser.add_argument("--plot", help="write a log-log plot of s/epoch against interactions here (matplotlib)")
    parser.add_argument("--one", nargs=2, metavar=("SIZE", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    if args.one:
        print(json.dumps(measure_one(*args.one, data_dir, args.max_batches, args.threads)))
        return
    rows = []
    print("| size | users | items | interactions | model | set-up s | train s/epoch | validation s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for model in args.models:
            argv = [sys.executable, __file__, "--one", size, model, "--threads", str(args.threads), "--data-dir",
                    str(data_dir)] + (["--max-batches", str(args.max_batches)] if args.max_batches else [])
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"| {size} | | | | {model} | failed: {done.stderr.strip().splitlines()[-1:]} | | | |")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            mark = f" (projected from {row['timed_batches']} of {row['batches']} batches)" if row["projected"] else ""
            print(f"| {size} | {row['users']:,} | {row['items']:,} | {row['interactions']:,} | {model} | "
                  f"{row['setup_s']:.1f} | {row['epoch_s']:.1f}{mark} | {row['validation_s']:.1f} | "
                  f"{row['peak_rss_mib']:.0f} |", flush=True)
    for model in args.models:
        slope = growth_exponent([(r["interactions"], r["epoch_s"]) for r in rows if r["model"] == model])
        if slope is not None:
            print(f"growth exponent of train s/epoch against interactions, {model}: {slope:.2f}")
    if args.plot and rows:
        try:
            import matplotlib
        except ImportError:
            sys.exit("--plot needs matplotlib: pip install 'gtcrec[plot]'")

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 4))
        for model in args.models:
            pts = sorted((r["interactions"], r["epoch_s"]) for r in rows if r["model"] == model)
            if pts:
                ax.loglog(*zip(*pts), marker="o", label=model)
        ax.set_xlabel("interactions")
        ax.set_ylabel("train seconds per epoch")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
