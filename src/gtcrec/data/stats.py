"""Summary statistics of a dataset (``gtcrec data stats``)."""

from __future__ import annotations

import numpy as np

from .dataset import SPLITS, InteractionData


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"min": 0, "median": 0, "mean": 0, "max": 0}
    return {"min": int(values.min()), "median": float(np.median(values)), "mean": round(float(values.mean()), 2),
            "max": int(values.max())}


def dataset_stats(data: InteractionData) -> dict:
    all_pairs = np.concatenate([data.pairs(s) for s in SPLITS])
    n = len(all_pairs)
    user_deg = np.bincount(all_pairs[:, 0], minlength=data.n_users)
    item_deg = np.bincount(all_pairs[:, 1], minlength=data.n_items)
    train_items = np.zeros(data.n_items, dtype=bool)
    train_items[data.train[:, 1]] = True
    has_train = data.users_with_train()
    return {
        "name": data.name,
        "users": data.n_users,
        "items": data.n_items,
        "interactions": n,
        "sparsity": round(1.0 - n / (data.n_users * data.n_items), 6),
        "splits": {s: len(data.pairs(s)) for s in SPLITS},
        "users_without_train": int((~has_train).sum()),
        "items_without_train": int((~train_items).sum()),
        "user_degree": _summary(user_deg),
        "item_degree": _summary(item_deg),
        "modalities": {m: list(f.shape) for m, f in data.features.items()},
    }


def format_stats(stats: dict) -> str:
    lines = [f"dataset       {stats['name']}",
             f"users         {stats['users']}",
             f"items         {stats['items']}",
             f"interactions  {stats['interactions']}",
             f"sparsity      {stats['sparsity']:.4%}",
             "splits        " + "  ".join(f"{k} {v}" for k, v in stats["splits"].items()),
             f"no-train      users {stats['users_without_train']}  items {stats['items_without_train']}"]
    for key in ("user_degree", "item_degree"):
        d = stats[key]
        lines.append(f"{key:<13} min {d['min']}  median {d['median']}  mean {d['mean']}  max {d['max']}")
    mods = stats["modalities"]
    lines.append("modalities    " + (", ".join(f"{m} {s[0]}x{s[1]}" for m, s in mods.items()) or "none (ID only)"))
    return "\n".join(lines)
