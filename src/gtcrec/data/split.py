"""k-core filtering, MMRec's per-user random split, and item-cold splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import SPLITS, InteractionData


def kcore_filter(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the interactions kept by iterative k-core filtering.

    Repeatedly drops users and items with fewer than ``k`` interactions until every
    remaining user and item has at least ``k``. ``k <= 1`` keeps everything.
    """
    keep = np.ones(len(users), dtype=bool)
    if k <= 1 or len(users) == 0:
        return keep
    while True:
        u, i = users[keep], items[keep]
        user_deg = np.bincount(u, minlength=int(users.max()) + 1)
        item_deg = np.bincount(i, minlength=int(items.max()) + 1)
        bad = (user_deg[users] < k) | (item_deg[items] < k)
        new_keep = keep & ~bad
        if new_keep.sum() == keep.sum():
            return keep
        keep = new_keep


def mmrec_split_sizes(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid, test) sizes per user under MMRec's rule.

    n < 10: one valid and one test; otherwise valid = int(0.2 n) // 2 and test = int(0.2 n) - valid.
    Users with fewer than 3 interactions cannot give one to each split: they keep all in train.
    """
    n = np.asarray(n, dtype=np.int64)
    held = (n * 2) // 10  # int(0.2 n) without float rounding surprises
    valid = np.where(n < 10, 1, held // 2)
    test = np.where(n < 10, 1, held - held // 2)
    small = n < 3
    return np.where(small, 0, valid), np.where(small, 0, test)


def mmrec_split(users: np.ndarray, seed: int) -> np.ndarray:
    """Per-user random split labels (0 train, 1 valid, 2 test) for interactions owned by ``users``.

    Within each user the interactions are shuffled with ``seed``; the first ones become train,
    then ``valid`` of them valid, then ``test`` of them test (sizes from :func:`mmrec_split_sizes`).
    """
    users = np.asarray(users, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(users)), users))  # grouped by user, random within
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, counts)
    n = np.repeat(counts, counts)
    valid, test = mmrec_split_sizes(n)
    n_train = n - valid - test
    labels_sorted = np.where(rank < n_train, 0, np.where(rank < n_train + valid, 1, 2)).astype(np.int8)
    labels = np.empty(len(users), dtype=np.int8)
    labels[order] = labels_sorted
    return labels


@dataclass
class ItemColdSplit:
    """A dataset with a share of its items removed entirely, to measure recommending items never trained on.

    ``warm`` keeps every interaction and feature row of the other items (re-indexed densely, in their old
    order; users unchanged, so a user may end with no training interaction). ``cold_items`` and
    ``warm_items`` are the old item indices; ``cold_pairs`` holds every interaction of a cold item, from
    all three splits, as (user, position in ``cold_items``).
    """

    warm: InteractionData
    warm_items: np.ndarray
    cold_items: np.ndarray
    cold_pairs: np.ndarray


def item_cold_split(data: InteractionData, fraction: float, seed: int) -> ItemColdSplit:
    """Hold out ``fraction`` of the items, drawn uniformly with ``seed``, from training, validation and test."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    n_cold = max(1, round(fraction * data.n_items))
    chosen = np.random.default_rng(seed).permutation(data.n_items)[:n_cold]
    is_cold = np.zeros(data.n_items, dtype=bool)
    is_cold[chosen] = True
    cold_items, warm_items = np.flatnonzero(is_cold), np.flatnonzero(~is_cold)
    new_index = np.full(data.n_items, -1, dtype=np.int64)
    new_index[warm_items] = np.arange(len(warm_items))
    cold_index = np.full(data.n_items, -1, dtype=np.int64)
    cold_index[cold_items] = np.arange(len(cold_items))
    splits, cold_parts = {}, []
    for split in SPLITS:
        pairs = data.pairs(split)
        cold_rows = is_cold[pairs[:, 1]]
        splits[split] = np.column_stack([pairs[~cold_rows, 0], new_index[pairs[~cold_rows, 1]]])
        cold_parts.append(np.column_stack([pairs[cold_rows, 0], cold_index[pairs[cold_rows, 1]]]))
    warm = InteractionData(data.name, data.n_users, len(warm_items), splits["train"], splits["valid"],
                           splits["test"], {m: f[warm_items] for m, f in data.features.items()},
                           f"{data.source}; item-cold split: {len(cold_items)} items held out (seed {seed})")
    return ItemColdSplit(warm, warm_items, cold_items, np.concatenate(cold_parts))
