"""Top-k lists: the one type every retrieval path returns (numpy and pandas only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class TopK:
    """Top-k items per user, best first. ``scores`` is -inf where fewer than k items were left to rank."""

    users: np.ndarray  # (n,) original user ids
    items: np.ndarray  # (n, k) original item ids
    scores: np.ndarray  # (n, k) float32

    def to_frame(self) -> pd.DataFrame:
        """Long form: one row per (user, rank) with columns user, rank (1 = best), item, score."""
        n, k = self.items.shape
        frame = pd.DataFrame({"user": np.repeat(self.users, k), "rank": np.tile(np.arange(1, k + 1), n),
                              "item": self.items.reshape(-1), "score": self.scores.reshape(-1)})
        return frame[np.isfinite(frame["score"].to_numpy())].reset_index(drop=True)

    @staticmethod
    def empty_frame() -> pd.DataFrame:
        return pd.DataFrame({"user": [], "rank": [], "item": [], "score": []})

    def for_user(self, user) -> list[tuple[str, float]]:
        row = int(np.flatnonzero(self.users == str(user))[0])
        return [(i, float(s)) for i, s in zip(self.items[row], self.scores[row]) if np.isfinite(s)]
