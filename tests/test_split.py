from collections import Counter

import numpy as np
import pytest

from gtcrec.data import kcore_filter, mmrec_split, mmrec_split_sizes


def reference_sizes(n: int) -> tuple[int, int]:
    if n < 10:
        return 1, 1
    held = int(0.2 * n)
    valid = held // 2
    return valid, held - valid


def random_users(seed: int, n_users: int = 60, max_n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_n, n_users)
    users = np.repeat(np.arange(n_users), counts)
    return users[rng.permutation(len(users))]


def test_split_sizes_match_mmrec_rule():
    ns = np.arange(3, 200)
    valid, test = mmrec_split_sizes(ns)
    for n, v, t in zip(ns.tolist(), valid.tolist(), test.tolist()):
        assert (v, t) == reference_sizes(n), n


def test_split_sizes_scalar_input():
    valid, test = mmrec_split_sizes(57)
    assert (int(valid), int(test)) == reference_sizes(57)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_split_sizes_tiny_users_hold_nothing_out(n):
    valid, test = mmrec_split_sizes(np.array([n]))
    assert valid.tolist() == [0] and test.tolist() == [0]


def test_split_gives_rule_counts_per_user():
    users = random_users(0)
    labels = mmrec_split(users, seed=1)
    assert labels.shape == users.shape
    assert set(np.unique(labels).tolist()) <= {0, 1, 2}
    counts = Counter(users.tolist())
    for u, n in counts.items():
        mine = labels[users == u]
        v, t = reference_sizes(n) if n >= 3 else (0, 0)
        assert (mine == 1).sum() == v, (u, n)
        assert (mine == 2).sum() == t, (u, n)
        assert (mine == 0).sum() == n - v - t, (u, n)


def test_split_reproducible_for_same_seed():
    users = random_users(2)
    np.testing.assert_array_equal(mmrec_split(users, seed=7), mmrec_split(users.copy(), seed=7))


def test_split_differs_for_another_seed():
    users = random_users(2)
    assert not np.array_equal(mmrec_split(users, seed=7), mmrec_split(users, seed=8))


def test_split_users_with_fewer_than_three_keep_all_in_train():
    users = np.array([0, 1, 1, 2, 2, 2, 3, 4, 4])
    labels = mmrec_split(users, seed=0)
    for u in (0, 1, 3, 4):
        assert (labels[users == u] == 0).all()
    assert sorted(labels[users == 2].tolist()) == [0, 1, 2]


def test_split_is_random_within_user():
    users = np.zeros(50, dtype=np.int64)
    firsts = {tuple(np.flatnonzero(mmrec_split(users, seed=s) != 0).tolist()) for s in range(10)}
    assert len(firsts) > 1


def test_split_handles_non_contiguous_user_ids():
    users = np.array([5] * 12 + [100] * 4 + [7] * 2)
    labels = mmrec_split(users, seed=3)
    assert (labels[users == 5] == 1).sum() == 1 and (labels[users == 5] == 2).sum() == 1
    assert (labels[users == 100] == 1).sum() == 1 and (labels[users == 100] == 2).sum() == 1
    assert (labels[users == 7] == 0).all()


def reference_kcore(users, items, k):
    alive = set(range(len(users)))
    while True:
        udeg = Counter(users[j] for j in alive)
        ideg = Counter(items[j] for j in alive)
        drop = {j for j in alive if udeg[users[j]] < k or ideg[items[j]] < k}
        if not drop:
            break
        alive -= drop
    mask = np.zeros(len(users), dtype=bool)
    mask[sorted(alive)] = True
    return mask


def random_log(seed, n_users=40, n_items=35, density=0.12):
    rng = np.random.default_rng(seed)
    pairs = np.argwhere(rng.random((n_users, n_items)) < density)
    pairs = pairs[rng.permutation(len(pairs))]
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [2, 3, 5])
def test_kcore_matches_brute_force_reference(seed, k):
    users, items = random_log(seed)
    mask = kcore_filter(users, items, k)
    expected = reference_kcore(users.tolist(), items.tolist(), k)
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("seed", range(4))
def test_kcore_survivors_have_at_least_k(seed):
    users, items = random_log(seed, density=0.2)
    k = 4
    mask = kcore_filter(users, items, k)
    assert mask.any()
    assert (~mask).any()
    assert min(Counter(users[mask].tolist()).values()) >= k
    assert min(Counter(items[mask].tolist()).values()) >= k


def test_kcore_needs_more_than_one_pass():
    users = np.array([0, 0, 1, 1, 2, 2, 2, 3])
    items = np.array([0, 1, 0, 1, 0, 1, 2, 2])
    mask = kcore_filter(users, items, 2)
    assert mask.tolist() == [True, True, True, True, True, True, False, False]


@pytest.mark.parametrize("k", [-1, 0, 1])
def test_kcore_k_at_most_one_keeps_all(k):
    users, items = random_log(0)
    mask = kcore_filter(users, items, k)
    assert mask.dtype == bool
    assert mask.all() and len(mask) == len(users)


def test_kcore_can_remove_everything():
    users = np.array([0, 1, 2])
    items = np.array([0, 1, 2])
    assert not kcore_filter(users, items, 2).any()


def test_kcore_empty_input_returns_empty_mask():
    empty = np.array([], dtype=np.int64)
    assert kcore_filter(empty, empty, 3).tolist() == []
