"""Training: BPR loop, negative sampling, checkpoints, multi-seed runs."""

from .results import RunResult, SeedResult
from .run import train, train_seed
from .sampler import NegativeSampler
from .trainer import FitResult, Trainer

__all__ = ["FitResult", "NegativeSampler", "RunResult", "SeedResult", "Trainer", "train", "train_seed"]
