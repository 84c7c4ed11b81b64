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
