"""Seconds per training step with and without flushing subnormal floats to zero, for a fresh model and for the
weights of a saved checkpoint (why ``train.flush_denormal`` is on by default).

    python benchmarks/denormal_step.py --model slmrec --dataset ml-100k-mm \
        --checkpoint runs/bench-ml-100k-mm/slmrec/seed1/last.safetensors [--steps 10] [--threads 1]

Batches of 2,048 random training pairs with uniform negatives, the same for every variant; one line per setting.
"""

from __future__ import annotations

import argparse
import time

import torch
from safetensors.torch import load_file

from gtcrec.data import load_dataset
from gtcrec.models import ModelInputs, build_model


def seconds_per_step(model, pairs: torch.Tensor, n_items: int, steps: int) -> float:
    g = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(len(pairs), (2048,), generator=g)
        out = model.loss(pairs[idx, 0], pairs[idx, 1], torch.randint(n_items, (2048,), generator=g))
        model.zero_grad()
        out["loss"].backward()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--checkpoint", required=True, help="a run's last.safetensors (its model.* tensors are read)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    inputs = ModelInputs.from_data(data)
    fresh = build_model(args.model, inputs, {})
    trained = build_model(args.model, inputs, {})
    state = {k.removeprefix("model."): v for k, v in load_file(args.checkpoint).items() if k.startswith("model.")}
    trained.load_state_dict(state, strict=False)
    pairs = torch.as_tensor(data.train)
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        print(f"flush_denormal {flush}: fresh {seconds_per_step(fresh, pairs, data.n_items, args.steps):.3f} s/step, "
              f"checkpoint {seconds_per_step(trained, pairs, data.n_items, args.steps):.3f} s/step")


if __name__ == "__main__":
    main()
