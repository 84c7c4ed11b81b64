import math

import numpy as np
import pytest
import torch
from conftest import random_data

from gtcrec.data import InteractionData
from gtcrec.evaluation import Evaluator, topk_metrics


def brute_force(scores: np.ndarray, data: InteractionData, split: str, ks, mask_valid=False):
    """Per-definition reference: python loops, explicit sorting."""
    train = {}
    for u, i in data.train:
        train.setdefault(u, set()).add(i)
    masked = {u: set(s) for u, s in train.items()}
    if mask_valid:
        for u, i in data.valid:
            masked.setdefault(u, set()).add(i)
    target = {}
    for u, i in data.pairs(split):
        target.setdefault(u, set()).add(i)
    sums, n = {}, 0
    for u in sorted(target):
        if u not in train:
            continue
        n += 1
        ranking = sorted((i for i in range(data.n_items) if i not in masked.get(u, set())),
                         key=lambda i: -scores[u, i])
        pos = target[u]
        for k in ks:
            top = ranking[:k]
            rel = [1 if i in pos else 0 for i in top]
            hits = sum(rel)
            dcg = sum(r / math.log2(j + 2) for j, r in enumerate(rel))
            idcg = sum(1 / math.log2(j + 2) for j in range(min(len(pos), k)))
            ap = sum(sum(rel[: j + 1]) / (j + 1) for j, r in enumerate(rel) if r) / min(len(pos), k)
            for name, value in {"recall": hits / len(pos), "precision": hits / k, "ndcg": dcg / idcg,
                                "map": ap, "hit": float(hits > 0)}.items():
                sums[f"{name}@{k}"] = sums.get(f"{name}@{k}", 0.0) + value
    return {name: value / n for name, value in sums.items()}, n


@pytest.mark.parametrize("split,mask_valid", [("valid", False), ("test", False), ("test", True)])
def test_evaluator_matches_brute_force(split, mask_valid):
    data = random_data(n_users=50, n_items=40, seed=1)
    scores = np.random.default_rng(7).random((data.n_users, data.n_items)).astype(np.float32)
    ks = [1, 5, 10, 20]
    evaluator = Evaluator(data, split, ks=ks, batch_size=16, mask_valid=mask_valid)
    result = evaluator.evaluate_scores(lambda users: torch.from_numpy(scores)[users].clone())
    expected, n_users = brute_force(scores, data, split, ks, mask_valid)
    assert result.n_users == n_users
    assert set(result.metrics) == set(expected)
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, abs=1e-6), name


def test_masked_training_items_are_never_ranked():
    data = random_data(seed=2)
    rng = np.random.default_rng(0)
    scores = rng.random((data.n_users, data.n_items)).astype(np.float32)
    scores[data.train[:, 0], data.train[:, 1]] += 100.0  # training items would win every slot unmasked
    evaluator = Evaluator(data, "test", ks=[5])
    masked = evaluator.evaluate_scores(lambda u: torch.from_numpy(scores)[u].clone()).metrics["recall@5"]
    expected, _ = brute_force(scores, data, "test", [5])
    assert masked == pytest.approx(expected["recall@5"])
    assert masked > 0


def test_top_k_batches_list_each_users_best_unmasked_items_and_their_hits():
    data = random_data(n_users=50, n_items=40, seed=3)
    scores = np.random.default_rng(5).random((data.n_users, data.n_items)).astype(np.float32)
    train = {(int(u), int(i)) for u, i in data.train}
    test = {(int(u), int(i)) for u, i in data.test}
    evaluator = Evaluator(data, "test", ks=[20], batch_size=16)
    seen = []
    for batch in evaluator.top_k_batches(lambda u: torch.from_numpy(scores)[u].clone(), k=7):
        assert batch.items.shape == batch.hits.shape == (len(batch.users), 7)
        for u, items, hits in zip(batch.users.tolist(), batch.items.tolist(), batch.hits.tolist(), strict=True):
            allowed = sorted((i for i in range(data.n_items) if (u, i) not in train), key=lambda i: -scores[u, i])
            assert items == allowed[:7]
            assert hits == [(u, i) in test for i in items]
            seen.append(u)
    assert seen == evaluator.users.tolist()


def test_users_without_train_are_not_evaluated():
    pairs_train = np.array([[0, 0], [1, 1]])
    data = InteractionData("t", 3, 4, pairs_train, np.array([[0, 2], [2, 3]]), np.array([[1, 3], [2, 2]]))
    evaluator = Evaluator(data, "valid", ks=[2])
    assert evaluator.users.tolist() == [0]


def test_perfect_and_worst_rankers():
    data = random_data(n_items=60, seed=4)
    target = np.zeros((data.n_users, data.n_items), dtype=np.float32)
    target[data.test[:, 0], data.test[:, 1]] = 1.0
    evaluator = Evaluator(data, "test", ks=[50])
    perfect = evaluator.evaluate_scores(lambda u: torch.from_numpy(target)[u].clone()).metrics
    worst = evaluator.evaluate_scores(lambda u: -torch.from_numpy(target)[u]).metrics
    assert perfect["recall@50"] == pytest.approx(1.0)
    assert perfect["ndcg@50"] == pytest.approx(1.0)
    assert perfect["map@50"] == pytest.approx(1.0)
    assert worst["ndcg@50"] < perfect["ndcg@50"]


def test_topk_metrics_hand_computed():
    hits = torch.tensor([[True, False, True, False]])
    out = topk_metrics(hits, torch.tensor([3]), [2, 4])
    assert out["recall@2"].item() == pytest.approx(1 / 3)
    assert out["precision@4"].item() == pytest.approx(0.5)
    assert out["ndcg@4"].item() == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4)))
    assert out["map@4"].item() == pytest.approx((1 + 2 / 3) / 3)
    assert out["hit@2"].item() == 1.0


def test_k_larger_than_catalogue_is_clamped():
    data = random_data(n_items=12, seed=5)
    evaluator = Evaluator(data, "test", ks=[5, 10, 20, 50])
    assert evaluator.ks == [5, 10]


@pytest.mark.parametrize("n_items", [64_000, 64_031])  # whole blocks only, and a tail after the last block
def test_block_topk_equals_topk(n_items):
    from gtcrec.evaluation.ranking import block_topk

    g = torch.Generator().manual_seed(0)
    scores = torch.randn(40, n_items, generator=g)
    scores[:, ::5] = float("-inf")  # masked training items
    scores[0, -3:] = 50.0  # winners in the tail
    scores[1] = float("-inf")  # a row with nothing to rank
    scores[1, 7] = 1.0
    for k in (1, 20, 50):
        values, items = block_topk(scores, k)
        expected = torch.topk(scores, k, dim=1)
        assert torch.equal(values, expected.values)
        assert torch.equal(scores.gather(1, items), values)  # the indices hold those values
        assert all(len(set(row.tolist())) == k for row in items)  # each item once
