import numpy as np
import pytest
import torch

from gtcrec.graph import (
    lightgcn_propagate,
    normalized_bipartite_adjacency,
    to_torch_sparse,
)
from gtcrec.models import MODELS, ModelInputs, build_model
from gtcrec.train.checkpoint import load_tensors, save_tensors


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameter_gets_a_gradient(name, small_synthetic):
    torch.manual_seed(0)
    model = build_model(name, ModelInputs.from_data(small_synthetic))
    users = torch.arange(32)
    terms = model.loss(users, torch.arange(32) % 200, (torch.arange(32) + 7) % 200)
    assert "loss" in terms and terms["loss"].ndim == 0
    terms["loss"].backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", sorted(MODELS))
def test_representations_shapes_and_determinism(name, small_synthetic):
    model = build_model(name, ModelInputs.from_data(small_synthetic))
    u1, i1 = model.representations()
    u2, i2 = model.representations()
    assert u1.shape[0] == small_synthetic.n_users and i1.shape[0] == small_synthetic.n_items
    assert torch.equal(u1, u2) and torch.equal(i1, i2)
    assert model.score(u1[:5], i1).shape == (5, small_synthetic.n_items)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_dict_round_trips_through_safetensors(name, small_synthetic, tmp_path):
    inputs = ModelInputs.from_data(small_synthetic)
    torch.manual_seed(0)
    a = build_model(name, inputs)
    torch.manual_seed(1)
    b = build_model(name, inputs)
    save_tensors(tmp_path / "m.safetensors", a.state_dict())
    b.load_state_dict(load_tensors(tmp_path / "m.safetensors"))
    assert all(torch.equal(x, y) for x, y in zip(a.representations(), b.representations()))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_never_changes_the_datasets_features(name, small_synthetic):
    """Models share one dataset across seeds and models (bench, grid): it must stay as loaded."""
    before = {m: np.array(f, copy=True) for m, f in small_synthetic.features.items()}
    torch.manual_seed(0)
    model = build_model(name, ModelInputs.from_data(small_synthetic))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model.train()
    model.on_epoch_start(1)
    users = torch.arange(32)
    model.loss(users, torch.arange(32) % 200, (torch.arange(32) + 7) % 200)["loss"].backward()
    optimizer.step()
    for m, f in small_synthetic.features.items():
        np.testing.assert_array_equal(np.asarray(f), before[m], err_msg=f"{name} changed the {m!r} features")


def test_recommend_excludes_items_and_is_sorted(small_synthetic):
    model = build_model("lightgcn", ModelInputs.from_data(small_synthetic))
    train = small_synthetic.csr("train")
    users = torch.arange(10)
    scores, items = model.recommend(users, 15, exclude=train)
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    for row, user in enumerate(users.tolist()):
        assert not set(items[row].tolist()) & set(train[user].indices.tolist())


def test_normalized_adjacency_is_symmetric_and_normalised():
    pairs = np.array([[0, 0], [0, 1], [1, 1], [2, 2]])
    adj = normalized_bipartite_adjacency(3, 4, pairs).toarray()
    assert np.allclose(adj, adj.T)
    # user 0 (deg 2) - item 1 (node 4, deg 2): 1/sqrt(2*2)
    assert adj[0, 4] == pytest.approx(0.5)
    assert adj[6].sum() == 0  # item 3 has no edges: zero row, no NaN
    assert np.isfinite(adj).all()


def test_lightgcn_propagation_and_gradient_match_dense_reference():
    rng = np.random.default_rng(0)
    pairs = np.argwhere(rng.random((6, 5)) < 0.5)
    adj = normalized_bipartite_adjacency(6, 5, pairs)
    dense = torch.tensor(adj.toarray())
    x = torch.randn(11, 4, dtype=torch.float32, requires_grad=True)
    out = lightgcn_propagate(to_torch_sparse(adj), x, 3)
    x_ref = x.detach().clone().requires_grad_(True)
    layers = [x_ref]
    for _ in range(3):
        layers.append(dense.float() @ layers[-1])
    ref = torch.stack(layers).mean(0)
    assert torch.allclose(out, ref, atol=1e-6)
    weights = torch.randn(11, 4)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-6)


class _RandomRanker(torch.nn.Module):
    """Random user/item vectors: the score matrix is a random ranking (fixed seed)."""

    def __init__(self, n_users, n_items, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.reps = (torch.randn(n_users, 16, generator=g), torch.randn(n_items, 16, generator=g))

    def representations(self):
        return self.reps

    def score(self, user_reps, item_reps):
        return user_reps @ item_reps.T


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_and_beats_a_random_ranker(name, small_synthetic, tmp_path):
    # Same short protocol for every registered model, whatever its preset lr: a new model is covered
    # automatically. Random recall@20 here is about 20 / 190 items.
    from gtcrec.config import build_config
    from gtcrec.evaluation import Evaluator
    from gtcrec.train import train

    config = build_config({"model": name, "seeds": [0], "output_dir": str(tmp_path),
                           "train": {"epochs": 25, "batch_size": 512, "lr": 0.01, "patience": 5,
                                     "progress": False, "checkpoint_every": 0}})
    trained = train(config, data=small_synthetic).seeds[0].test["recall@20"]
    evaluator = Evaluator(small_synthetic, "test", ks=[20])
    random = np.mean([evaluator.evaluate(_RandomRanker(small_synthetic.n_users, small_synthetic.n_items, s))
                      .metrics["recall@20"] for s in range(5)])
    assert trained > 1.5 * random, (trained, random)


@pytest.mark.parametrize("name", ["gtc", "bm3"])
def test_models_that_name_attributes_after_modalities_reject_non_identifier_names(name, small_synthetic):
    inputs = ModelInputs.from_data(small_synthetic)
    inputs.features = {"image-v2": next(iter(inputs.features.values()))}
    with pytest.raises(ValueError, match=r"modality name 'image-v2': expected a Python identifier"):
        build_model(name, inputs)


def test_in_batch_info_nce_splits_a_large_batch_into_groups_and_is_unchanged_below_the_cap(monkeypatch):
    import torch.nn.functional as F

    from gtcrec.models import mgcn

    torch.manual_seed(0)
    a, b = torch.randn(10, 4), torch.randn(10, 4)

    def plain(x, y):
        logits = F.normalize(x, dim=1) @ F.normalize(y, dim=1).T / 0.2
        return F.cross_entropy(logits, torch.arange(len(x)))

    assert torch.equal(mgcn.info_nce(a, b, 0.2), plain(a, b))  # 10 <= 4096 rows: the plain loss, bit for bit
    monkeypatch.setattr(mgcn, "IN_BATCH_MAX_ROWS", 4)  # 10 rows: three groups of 4, 3, 3
    expected = (4 * plain(a[:4], b[:4]) + 3 * plain(a[4:7], b[4:7]) + 3 * plain(a[7:], b[7:])) / 10
    assert torch.allclose(mgcn.info_nce(a, b, 0.2), expected)
    a.requires_grad_(True)
    mgcn.info_nce(a, b, 0.2).backward()
    assert a.grad is not None and torch.isfinite(a.grad).all() and (a.grad.abs().sum(1) > 0).all()


def test_lgmrec_in_batch_contrastive_splits_a_large_batch_into_groups(monkeypatch):
    from gtcrec.models import lgmrec, mgcn

    torch.manual_seed(1)
    a, p, table = torch.randn(10, 4), torch.randn(10, 4), torch.randn(7, 4)
    whole = lgmrec.hypergraph_contrastive(a, p, p, 0.5)
    monkeypatch.setattr(mgcn, "IN_BATCH_MAX_ROWS", 4)
    grouped = sum(lgmrec.hypergraph_contrastive(a[s], p[s], p[s], 0.5)
                  for s in (slice(0, 4), slice(4, 7), slice(7, 10)))
    assert torch.allclose(lgmrec.hypergraph_contrastive(a, p, p, 0.5), grouped)
    assert not torch.allclose(grouped, whole)  # fewer negatives per row: a different value
    # a separate table (cl_negatives: all) is never split
    monkeypatch.setattr(mgcn, "IN_BATCH_MAX_ROWS", 4096)
    big = lgmrec.hypergraph_contrastive(a, p, table, 0.5)
    monkeypatch.setattr(mgcn, "IN_BATCH_MAX_ROWS", 4)
    assert torch.equal(lgmrec.hypergraph_contrastive(a, p, table, 0.5), big)


# Every model's default configuration, plus the options that make more tables trainable.
GRADIENT_CASES = [(name, None) for name in sorted(MODELS)] + [
    ("freedom", {"finetune_features": True}), ("bm3", {"finetune_features": True})]


def _batch(data, size=2048):
    gen = torch.Generator().manual_seed(0)
    return (torch.randint(0, data.n_users, (size,), generator=gen),
            torch.randint(0, data.n_items, (size,), generator=gen),
            torch.randint(0, data.n_items, (size,), generator=gen))


def _backward_node_names(loss: torch.Tensor) -> set[str]:
    seen, stack, names = set(), [loss.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(child for child, _ in node.next_functions)
    return names


@pytest.mark.parametrize("name,params", GRADIENT_CASES)
def test_no_loss_gathers_rows_by_advanced_indexing(name, params, small_synthetic):
    # Advanced indexing's backward (IndexBackward0: index_put_ with accumulate) adds repeated rows with atomic
    # adds across CPU threads, in no fixed order, so seeded multi-thread runs drifted; rows are gathered with
    # index_select, whose backward is ordered.
    torch.manual_seed(0)
    model = build_model(name, ModelInputs.from_data(small_synthetic), params)
    model.train()
    model.on_epoch_start(1)
    assert "IndexBackward0" not in _backward_node_names(model.loss(*_batch(small_synthetic))["loss"])


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name,params", GRADIENT_CASES)
def test_gradients_are_bit_identical_run_to_run_with_two_threads(name, params, small_synthetic, two_threads):
    # End to end, whatever the cause: the same seed gives the same gradients with two threads.
    model = build_model(name, ModelInputs.from_data(small_synthetic), params)
    model.train()
    batch = _batch(small_synthetic)

    def gradients() -> dict[str, torch.Tensor]:
        torch.manual_seed(1)  # the same dropout and diffusion draws each time
        model.zero_grad(set_to_none=True)
        model.on_epoch_start(1)
        model.loss(*batch)["loss"].backward()
        return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}

    first, again = gradients(), gradients()
    differing = [k for k in first if not torch.equal(first[k], again[k])]
    assert not differing, differing
