"""A synthetic multimodal dataset with planted, user-conditional content structure.

Each item has a visual cluster and a textual cluster, drawn independently; its features are
its clusters' centres plus noise. Users come in three kinds:

* visual followers like every item of one visual cluster,
* textual followers like every item of one textual cluster,
* "agreement" users like only items whose visual *and* textual clusters match their pair.

A user's interactions are drawn from the liked set, with a small share of random items as
noise, then split with MMRec's rule. Collaborative signal (users of one taste share items)
lets graph models beat a random ranker; content signal lets multimodal models do better,
and only a user-aware model can tell which modality matters to whom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import InteractionData
from .split import mmrec_split

USER_KINDS = ("visual", "textual", "agreement")


@dataclass
class SyntheticConfig:
    n_users: int = 600
    n_items: int = 400
    n_clusters: int = 5
    visual_dim: int = 32
    textual_dim: int = 24
    feature_noise: float = 0.5
    min_interactions: int = 8
    max_interactions: int = 24
    noise_share: float = 0.1
    seed: int = 0


@dataclass
class SyntheticTruth:
    user_kind: np.ndarray  # index into USER_KINDS
    user_visual: np.ndarray
    user_textual: np.ndarray
    item_visual: np.ndarray
    item_textual: np.ndarray


def make_synthetic(config: SyntheticConfig | None = None, *, name: str = "synthetic",
                   return_truth: bool = False) -> InteractionData | tuple[InteractionData, SyntheticTruth]:
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    c = cfg.n_clusters
    item_visual = rng.integers(0, c, cfg.n_items)
    item_textual = rng.integers(0, c, cfg.n_items)
    visual_centres = rng.normal(size=(c, cfg.visual_dim))
    textual_centres = rng.normal(size=(c, cfg.textual_dim))
    visual = visual_centres[item_visual] + cfg.feature_noise * rng.normal(size=(cfg.n_items, cfg.visual_dim))
    textual = textual_centres[item_textual] + cfg.feature_noise * rng.normal(size=(cfg.n_items, cfg.textual_dim))

    user_kind = rng.integers(0, len(USER_KINDS), cfg.n_users)
    user_visual = rng.integers(0, c, cfg.n_users)
    user_textual = rng.integers(0, c, cfg.n_users)
    users, items = [], []
    for u in range(cfg.n_users):  # generation only; sizes are tiny
        if USER_KINDS[user_kind[u]] == "visual":
            liked = np.flatnonzero(item_visual == user_visual[u])
        elif USER_KINDS[user_kind[u]] == "textual":
            liked = np.flatnonzero(item_textual == user_textual[u])
        else:
            liked = np.flatnonzero((item_visual == user_visual[u]) & (item_textual == user_textual[u]))
        n = int(rng.integers(cfg.min_interactions, cfg.max_interactions + 1))
        n_noise = max(1, round(cfg.noise_share * n))
        chosen = rng.choice(liked, size=min(n - n_noise, len(liked)), replace=False)
        others = np.setdiff1d(np.arange(cfg.n_items), chosen)
        noise = rng.choice(others, size=max(n_noise, 3 - len(chosen)), replace=False)
        picked = np.concatenate([chosen, noise])
        users.append(np.full(len(picked), u))
        items.append(picked)
    users = np.concatenate(users).astype(np.int64)
    items = np.concatenate(items).astype(np.int64)
    labels = mmrec_split(users, cfg.seed)
    pairs = np.stack([users, items], axis=1)
    data = InteractionData(
        name, cfg.n_users, cfg.n_items, pairs[labels == 0], pairs[labels == 1], pairs[labels == 2],
        {"visual": visual.astype(np.float32), "textual": textual.astype(np.float32)}, source="synthetic",
    )
    if return_truth:
        return data, SyntheticTruth(user_kind, user_visual, user_textual, item_visual, item_textual)
    return data
