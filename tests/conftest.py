import warnings

import numpy as np
import pytest

from gtcrec.data import InteractionData, SyntheticConfig, make_synthetic


@pytest.fixture(autouse=True)
def _quiet_torch_sparse_beta():
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")


@pytest.fixture
def small_synthetic() -> InteractionData:
    return make_synthetic(SyntheticConfig(n_users=300, n_items=200, seed=3))


def random_data(n_users=40, n_items=30, density=0.3, seed=0) -> InteractionData:
    """Random split data where every user has train, some users lack valid/test."""
    rng = np.random.default_rng(seed)
    pairs = np.argwhere(rng.random((n_users, n_items)) < density)
    labels = rng.choice(3, size=len(pairs), p=[0.6, 0.2, 0.2])
    return InteractionData("random", n_users, n_items, pairs[labels == 0], pairs[labels == 1], pairs[labels == 2])
