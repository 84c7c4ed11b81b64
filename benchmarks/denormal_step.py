"""Seconds per training step with and without flushing subnormal floats to zero, for a fresh model and for the
weights of a saved checkpoint (why ``train.flush_denormal`` is on by default).

    python benchmarks/denormal_step.py runs/bench-ml-100k-mm/slmrec/seed1/last.safetensors [--steps 10]

The model, its options and its data are those of the checkpoint's seed folder (its config.yaml). Batches of 2,048
random training pairs with uniform negatives, the same for every variant; each variant is warmed up with one
step and the two flush settings are timed in turn, twice, so that neither always goes first. One torch thread:
the flush mode is per thread, and switching it back and forth would not reach threads already started.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from gtcrec.config import RunConfig, from_dict, load_yaml_config
from gtcrec.models import ModelInputs, build_model
from gtcrec.train.run import run_data


def seconds_per_step(model, pairs: torch.Tensor, n_items: int, steps: int) -> float:
    g = torch.Generator().manual_seed(0)

    def step():
        idx = torch.randint(len(pairs), (2048,), generator=g)
        out = model.loss(pairs[idx, 0], pairs[idx, 1], torch.randint(n_items, (2048,), generator=g))
        model.zero_grad()
        out["loss"].backward()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a seed folder's last.safetensors or best.safetensors")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = Path(args.checkpoint)
    config = from_dict(RunConfig, load_yaml_config(str(checkpoint.parent / "config.yaml")), "config")
    data = run_data(config.data)
    inputs = ModelInputs.from_data(data)
    fresh = build_model(config.model, inputs, config.model_params)
    trained = build_model(config.model, inputs, config.model_params)
    tensors = load_file(str(checkpoint))
    prefix = "model." if any(k.startswith("model.") for k in tensors) else ""  # last.* holds more than the model
    state = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
    trained.load_state_dict(state, strict=True)
    pairs = torch.as_tensor(data.train)
    times: dict[tuple[str, bool], list[float]] = {}
    for flush in (False, True, True, False):
        torch.set_flush_denormal(flush)
        for name, model in (("fresh", fresh), ("checkpoint", trained)):
            times.setdefault((name, flush), []).append(seconds_per_step(model, pairs, data.n_items, args.steps))
    print(f"{config.model} on {config.data.dataset}, {args.steps} steps per timing, one thread")
    for name in ("fresh", "checkpoint"):
        off, on = (min(times[(name, flush)]) for flush in (False, True))
        print(f"{name}: flush off {off:.3f} s/step, flush on {on:.3f} s/step")


if __name__ == "__main__":
    main()
