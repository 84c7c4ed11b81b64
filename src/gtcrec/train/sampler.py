"""Vectorised uniform negative sampling that never returns a training positive."""

from __future__ import annotations

import numpy as np
import torch

from ..config import NEGATIVE_POOLS, NegativePool


class NegativeSampler:
    """Draws, for each user in a batch, an item the user has not interacted with in training.

    ``pool="all"`` draws from every item; ``pool="train"`` only from items that occur in the training
    interactions, as MMRec does. The difference matters for items with no training interaction (cold
    items): under ``"all"`` they are only ever negatives, so a model learns to rank them last.
    Membership is checked by binary search over the sorted keys ``user * n_items + item``;
    collisions are redrawn together until none remain (no per-user Python loop).
    """

    def __init__(self, train_pairs: np.ndarray, n_users: int, n_items: int, device: torch.device | str = "cpu",
                 pool: NegativePool = "all"):
        if pool not in NEGATIVE_POOLS:
            raise ValueError(f"negative pool {pool!r}: expected one of {NEGATIVE_POOLS}")
        pairs = torch.as_tensor(np.asarray(train_pairs), dtype=torch.long).reshape(-1, 2)
        self.n_items = n_items
        # None: every item id is a candidate (no look-up needed)
        self.candidates = torch.unique(pairs[:, 1]).to(device) if pool == "train" else None
        n_candidates = n_items if self.candidates is None else len(self.candidates)
        degree = torch.bincount(pairs[:, 0], minlength=n_users)
        if n_users and len(pairs) and int(degree.max()) >= n_candidates:
            user = int(degree.argmax())
            what = f"all {n_items} items" if pool == "all" else f"all {n_candidates} items seen in training"
            raise ValueError(f"user {user} interacted with {what}: no negative exists")
        self.keys = torch.unique(pairs[:, 0] * n_items + pairs[:, 1]).to(device)  # sorted

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users * self.n_items + items
        idx = torch.searchsorted(self.keys, keys).clamp_(max=len(self.keys) - 1)
        return self.keys[idx] == keys

    def _draw(self, shape: torch.Size, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
        if self.candidates is None:
            return torch.randint(0, self.n_items, shape, device=device, generator=generator)
        return self.candidates[torch.randint(0, len(self.candidates), shape, device=device, generator=generator)]

    def sample(self, users: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        device = users.device
        neg = self._draw(users.shape, device, generator)
        bad = self.is_positive(users, neg)
        while bool(bad.any()):
            idx = bad.nonzero().squeeze(1)
            neg[idx] = self._draw(idx.shape, device, generator)
            bad[idx] = self.is_positive(users[idx], neg[idx])
        return neg
