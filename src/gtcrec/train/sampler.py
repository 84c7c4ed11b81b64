"""Vectorised uniform negative sampling that never returns a training positive."""

from __future__ import annotations

import numpy as np
import torch


class NegativeSampler:
    """Draws, for each user in a batch, an item the user has not interacted with in training.

    Membership is checked by binary search over the sorted keys ``user * n_items + item``;
    collisions are redrawn together until none remain (no per-user Python loop).
    """

    def __init__(self, train_pairs: np.ndarray, n_users: int, n_items: int, device: torch.device | str = "cpu"):
        pairs = torch.as_tensor(np.asarray(train_pairs), dtype=torch.long)
        degree = torch.bincount(pairs[:, 0], minlength=n_users)
        if n_users and int(degree.max()) >= n_items:
            user = int(degree.argmax())
            raise ValueError(f"user {user} interacted with all {n_items} items in training: no negative exists")
        self.n_items = n_items
        self.keys = torch.unique(pairs[:, 0] * n_items + pairs[:, 1]).to(device)  # sorted

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users * self.n_items + items
        idx = torch.searchsorted(self.keys, keys).clamp_(max=len(self.keys) - 1)
        return self.keys[idx] == keys

    def sample(self, users: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        device = users.device
        neg = torch.randint(0, self.n_items, users.shape, device=device, generator=generator)
        bad = self.is_positive(users, neg)
        while bool(bad.any()):
            idx = bad.nonzero().squeeze(1)
            neg[idx] = torch.randint(0, self.n_items, idx.shape, device=device, generator=generator)
            bad[idx] = self.is_positive(users[idx], neg[idx])
        return neg
