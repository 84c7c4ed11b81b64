import numpy as np
import pytest
import torch

from gtcrec.train import NegativeSampler


def test_sampled_negatives_are_never_training_positives():
    rng = np.random.default_rng(0)
    n_users, n_items = 50, 20
    dense = rng.random((n_users, n_items)) < 0.5
    dense[0, :-1] = True  # user 0 has exactly one negative: item 19
    dense[0, -1] = False
    pairs = np.argwhere(dense)
    sampler = NegativeSampler(pairs, n_users, n_items)
    users = torch.from_numpy(np.repeat(np.arange(n_users), 200))
    negs = sampler.sample(users, torch.Generator().manual_seed(1))
    assert not dense[users.numpy(), negs.numpy()].any()
    assert set(negs[users == 0].tolist()) == {19}


def test_negatives_cover_all_allowed_items_roughly_uniformly():
    pairs = np.array([[0, 0], [0, 1]])
    sampler = NegativeSampler(pairs, 1, 10)
    negs = sampler.sample(torch.zeros(8000, dtype=torch.long), torch.Generator().manual_seed(0))
    counts = np.bincount(negs.numpy(), minlength=10)
    assert counts[:2].sum() == 0
    assert counts[2:].min() > 800 and counts[2:].max() < 1200  # 1000 expected each


def test_user_with_every_item_is_an_error():
    with pytest.raises(ValueError, match="user 1 interacted with all 3 items"):
        NegativeSampler(np.array([[0, 0], [1, 0], [1, 1], [1, 2]]), 2, 3)


def test_sampling_is_reproducible_with_a_generator():
    pairs = np.array([[0, 0], [1, 1]])
    sampler = NegativeSampler(pairs, 2, 50)
    users = torch.tensor([0, 1] * 100)
    a = sampler.sample(users, torch.Generator().manual_seed(5))
    b = sampler.sample(users, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_train_pool_draws_only_items_seen_in_training():
    # items 5..9 never occur in training: "all" draws them, "train" never does
    pairs = np.array([[0, 0], [1, 1], [1, 2], [2, 3], [2, 4]])
    users = torch.from_numpy(np.repeat(np.arange(3), 2000))
    all_negs = NegativeSampler(pairs, 3, 10, pool="all").sample(users, torch.Generator().manual_seed(0))
    seen_negs = NegativeSampler(pairs, 3, 10, pool="train").sample(users, torch.Generator().manual_seed(0))
    assert (all_negs >= 5).any()
    assert set(seen_negs.tolist()) <= {0, 1, 2, 3, 4}
    dense = np.zeros((3, 10), bool)
    dense[pairs[:, 0], pairs[:, 1]] = True
    assert not dense[users.numpy(), seen_negs.numpy()].any()
    counts = np.bincount(seen_negs[users == 0].numpy(), minlength=5)[1:5]
    assert counts.min() > 400 and counts.max() < 600  # user 0: items 1..4, 500 expected each


def test_train_pool_user_with_every_seen_item_is_an_error():
    with pytest.raises(ValueError, match="all 2 items seen in training"):
        NegativeSampler(np.array([[0, 0], [0, 1], [1, 0]]), 2, 10, pool="train")


def test_unknown_pool_is_rejected():
    with pytest.raises(ValueError, match="negative pool 'seen'"):
        NegativeSampler(np.array([[0, 0]]), 1, 3, pool="seen")
