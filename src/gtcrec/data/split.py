"""k-core filtering and MMRec's per-user random split."""

from __future__ import annotations

import numpy as np


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
