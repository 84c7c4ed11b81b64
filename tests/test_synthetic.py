from collections import Counter

import numpy as np
import pytest

from gtcrec.data import (
    InteractionData,
    SyntheticConfig,
    make_synthetic,
    mmrec_split_sizes,
)
from gtcrec.data.synthetic import USER_KINDS

CFG = SyntheticConfig(n_users=300, n_items=200, seed=3)


@pytest.fixture(scope="module")
def synth():
    return make_synthetic(CFG, return_truth=True)


def all_pairs(data: InteractionData) -> np.ndarray:
    return np.concatenate([data.train, data.valid, data.test])


def kind_mask(truth, pairs, kind):
    return truth.user_kind[pairs[:, 0]] == USER_KINDS.index(kind)


def test_shapes_dtypes_and_ranges(synth):
    data, truth = synth
    assert isinstance(data, InteractionData)
    assert (data.n_users, data.n_items) == (CFG.n_users, CFG.n_items)
    assert sorted(data.modalities) == ["textual", "visual"]
    assert data.features["visual"].shape == (CFG.n_items, CFG.visual_dim)
    assert data.features["textual"].shape == (CFG.n_items, CFG.textual_dim)
    for feat in data.features.values():
        assert feat.dtype == np.float32
        assert np.isfinite(feat).all()
    pairs = all_pairs(data)
    assert pairs[:, 0].min() >= 0 and pairs[:, 0].max() < CFG.n_users
    assert pairs[:, 1].min() >= 0 and pairs[:, 1].max() < CFG.n_items
    assert truth.user_kind.shape == (CFG.n_users,)
    assert truth.item_visual.shape == (CFG.n_items,) and truth.item_textual.shape == (CFG.n_items,)
    assert set(np.unique(truth.user_kind).tolist()) == {0, 1, 2}
    assert truth.item_visual.max() < CFG.n_clusters and truth.item_textual.max() < CFG.n_clusters


def test_return_truth_false_gives_data_only():
    data = make_synthetic(SyntheticConfig(n_users=40, n_items=60, seed=1), name="tiny")
    assert isinstance(data, InteractionData)
    assert data.name == "tiny"


def test_no_duplicate_pairs_across_or_within_splits(synth):
    data, _ = synth
    pairs = all_pairs(data)
    assert len({tuple(p) for p in pairs.tolist()}) == len(pairs)


def test_every_user_has_at_least_three_interactions_and_at_most_max(synth):
    data, _ = synth
    counts = np.bincount(all_pairs(data)[:, 0], minlength=CFG.n_users)
    assert counts.min() >= 3
    assert counts.max() <= CFG.max_interactions


def test_splits_follow_mmrec_rule_per_user(synth):
    data, _ = synth
    total = Counter(all_pairs(data)[:, 0].tolist())
    valid = Counter(data.valid[:, 0].tolist())
    test = Counter(data.test[:, 0].tolist())
    for u, n in total.items():
        v, t = mmrec_split_sizes(np.array([n]))
        assert valid[u] == v[0] and test[u] == t[0], (u, n)
    assert data.users_with_train().all()


def test_agreement_users_train_items_mostly_match_both_clusters(synth):
    data, truth = synth
    train = data.train[kind_mask(truth, data.train, "agreement")]
    u, i = train[:, 0], train[:, 1]
    both = (truth.item_visual[i] == truth.user_visual[u]) & (truth.item_textual[i] == truth.user_textual[u])
    assert len(train) > 100
    assert both.mean() > 0.7
    chance = 1.0 / CFG.n_clusters ** 2
    assert both.mean() > 10 * chance


@pytest.mark.parametrize("kind,own,other", [("visual", "visual", "textual"), ("textual", "textual", "visual")])
def test_single_modality_followers_match_their_cluster_only(synth, kind, own, other):
    data, truth = synth
    train = data.train[kind_mask(truth, data.train, kind)]
    u, i = train[:, 0], train[:, 1]
    own_match = getattr(truth, f"item_{own}")[i] == getattr(truth, f"user_{own}")[u]
    other_match = getattr(truth, f"item_{other}")[i] == getattr(truth, f"user_{other}")[u]
    assert own_match.mean() > 0.8
    assert other_match.mean() < 0.4


def test_users_of_one_taste_share_items(synth):
    data, truth = synth
    visual_users = np.flatnonzero(truth.user_kind == USER_KINDS.index("visual"))
    same = visual_users[truth.user_visual[visual_users] == truth.user_visual[visual_users[0]]]
    items = {u: set(data.train[data.train[:, 0] == u, 1].tolist()) for u in same[:10]}
    overlaps = [len(items[a] & items[b]) for a in items for b in items if a < b]
    assert np.mean(overlaps) >= 1


@pytest.mark.parametrize("modality", ["visual", "textual"])
def test_features_cluster_by_item_cluster(synth, modality):
    data, truth = synth
    feat = data.features[modality]
    labels = getattr(truth, f"item_{modality}")
    centres = np.stack([feat[labels == c].mean(axis=0) for c in range(CFG.n_clusters)])
    dist = ((feat[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
    assert (dist.argmin(axis=1) == labels).mean() > 0.95
    own = dist[np.arange(len(labels)), labels]
    assert own.mean() < 0.5 * dist.mean()


def test_same_seed_is_deterministic():
    cfg = SyntheticConfig(n_users=80, n_items=70, seed=11)
    (a, ta), (b, tb) = make_synthetic(cfg, return_truth=True), make_synthetic(cfg, return_truth=True)
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(a.pairs(split), b.pairs(split))
    for m in a.features:
        np.testing.assert_array_equal(a.features[m], b.features[m])
    for field in ("user_kind", "user_visual", "user_textual", "item_visual", "item_textual"):
        np.testing.assert_array_equal(getattr(ta, field), getattr(tb, field))


def test_different_seed_differs():
    a = make_synthetic(SyntheticConfig(n_users=80, n_items=70, seed=11))
    b = make_synthetic(SyntheticConfig(n_users=80, n_items=70, seed=12))
    assert not np.array_equal(a.features["visual"], b.features["visual"])
    assert {tuple(p) for p in a.train.tolist()} != {tuple(p) for p in b.train.tolist()}


def test_config_sizes_respected():
    cfg = SyntheticConfig(n_users=50, n_items=90, n_clusters=3, visual_dim=5, textual_dim=7,
                          min_interactions=10, max_interactions=12, seed=2)
    data, truth = make_synthetic(cfg, return_truth=True)
    assert data.features["visual"].shape == (90, 5)
    assert data.features["textual"].shape == (90, 7)
    assert truth.item_visual.max() < 3
    counts = np.bincount(all_pairs(data)[:, 0], minlength=50)
    assert counts.max() <= 12
    single = truth.user_kind != USER_KINDS.index("agreement")
    assert counts[single].min() >= 10
