import numpy as np
import pytest
import scipy.sparse as sp
import torch

# models/__init__.py does not import these yet: importing them registers "dragon" and "freedom".
import gtcrec.models.dragon
import gtcrec.models.freedom  # noqa: F401
from gtcrec.config import build_config
from gtcrec.data import InteractionData, SyntheticConfig, make_synthetic
from gtcrec.evaluation import Evaluator
from gtcrec.graph.knn import (
    fused_item_knn_graph,
    modality_graph_weights,
    normalize_graph,
)
from gtcrec.models import ModelInputs, build_model
from gtcrec.models.dragon import (
    copy_weighted_softmax,
    padded_user_graph,
    softmax_user_graph,
)
from gtcrec.models.freedom import directed_propagate
from gtcrec.train import train

# --- shared graph construction ------------------------------------------------------------------


def dense_knn(feats: np.ndarray, k: int) -> np.ndarray:
    """Binary top-k cosine graph (self included), brute force."""
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sim = unit @ unit.T
    adj = np.zeros_like(sim)
    for i in range(len(sim)):
        adj[i, np.argsort(-sim[i])[:k]] = 1.0
    return adj


def dense_normalise(adj: np.ndarray, symmetrise: bool) -> np.ndarray:
    if symmetrise:
        adj = np.maximum(adj, adj.T)
    deg = adj.sum(1)
    inv = np.where(deg > 0, deg, 1.0) ** -0.5 * (deg > 0)
    return inv[:, None] * adj * inv[None, :]


def test_normalize_graph_sym_directed_does_not_symmetrise():
    mat = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=np.float32)
    out = normalize_graph(sp.csr_matrix(mat), "sym_directed").toarray()
    assert out[0, 1] == pytest.approx(1 / np.sqrt(2 * 1))
    assert out[0, 2] == pytest.approx(1 / np.sqrt(2 * 1))
    assert out[2, 3] == 0.0  # node 3 has no out-edge: its column is zeroed (never so in a kNN graph)
    assert out[2, 0] == 0 and out[3].sum() == 0  # no edge added, isolated row stays zero
    assert np.isfinite(out).all() and not np.allclose(out, out.T)
    np.testing.assert_allclose(out, dense_normalise(mat, symmetrise=False), atol=1e-6)
    # the existing modes are unchanged
    np.testing.assert_allclose(normalize_graph(sp.csr_matrix(mat), "sym").toarray(),
                               dense_normalise(mat, symmetrise=True), atol=1e-6)
    with pytest.raises(ValueError, match="sym_directed"):
        normalize_graph(sp.csr_matrix(mat), "bogus")


def test_modality_graph_weights():
    assert modality_graph_weights(["image", "text"], 0.1) == pytest.approx({"image": 0.1, "text": 0.9})
    assert modality_graph_weights(["audio", "image"], 0.1) == pytest.approx({"audio": 0.9, "image": 0.1})
    assert modality_graph_weights(["textual", "visual"], 0.3) == pytest.approx({"textual": 0.7, "visual": 0.3})
    assert modality_graph_weights(["text"], 0.1) == {"text": 1.0}
    assert modality_graph_weights(["image"], 0.1) == {"image": 1.0}
    three = modality_graph_weights(["v", "a", "t"], 0.1)
    assert three == pytest.approx({"v": 0.1, "a": 0.45, "t": 0.45})
    assert modality_graph_weights(["a", "b"], 0.1) == pytest.approx({"a": 0.5, "b": 0.5})
    with pytest.raises(ValueError):
        modality_graph_weights([], 0.1)


@pytest.mark.parametrize("how", ["sym_directed", "sym"])
def test_fused_item_knn_graph_matches_dense_reference(how):
    rng = np.random.default_rng(0)
    feats = {"image": rng.normal(size=(23, 6)).astype(np.float32),
             "text": rng.normal(size=(23, 5)).astype(np.float32)}
    k = 4
    graph = fused_item_knn_graph(feats, k, 0.1, how=how, chunk_size=5)
    assert sp.issparse(graph) and graph.dtype == np.float32
    sym = how == "sym"
    img = dense_normalise(dense_knn(feats["image"], k), sym)
    txt = dense_normalise(dense_knn(feats["text"], k), sym)
    np.testing.assert_allclose(graph.toarray(), 0.1 * img + 0.9 * txt, atol=1e-6)
    if not sym:
        # every row has k distinct neighbours: each edge of one modality weighs w_m / k
        only_img = (img > 0) & (txt == 0)
        np.testing.assert_allclose(graph.toarray()[only_img], 0.1 / k, atol=1e-6)
        np.testing.assert_allclose(graph.sum(1), 1.0, atol=1e-5)  # row sums: 0.1 * 1 + 0.9 * 1
        assert (graph.diagonal() > 0).all()  # self included


def test_fused_item_knn_graph_single_modality_is_that_graph():
    feats = np.random.default_rng(1).normal(size=(15, 4)).astype(np.float32)
    graph = fused_item_knn_graph({"audio": feats}, 3, 0.1, chunk_size=4)
    np.testing.assert_allclose(graph.toarray(), dense_normalise(dense_knn(feats, 3), False), atol=1e-6)


# --- FREEDOM ------------------------------------------------------------------------------------


def freedom(data_or_inputs, **params):
    inputs = data_or_inputs if isinstance(data_or_inputs, ModelInputs) else ModelInputs.from_data(data_or_inputs)
    return build_model("freedom", inputs, params)


def edge_set(adj: torch.Tensor, n_users: int) -> set[tuple[int, int]]:
    coo = adj.to_sparse_coo().coalesce()
    rows, cols = coo.indices()
    keep = rows < n_users
    return set(zip(rows[keep].tolist(), (cols[keep] - n_users).tolist()))


def test_freedom_pruning_keeps_the_expected_training_edges(small_synthetic):
    torch.manual_seed(0)
    model = freedom(small_synthetic)
    train_pairs = {tuple(p) for p in np.unique(small_synthetic.train, axis=0).tolist()}
    n_edges = len(train_pairs)
    expected = int(n_edges * (1 - 0.8))
    assert abs(expected - 0.2 * n_edges) <= 1
    model.on_epoch_start(1)
    adj = model.pruned_adjacency
    nu = small_synthetic.n_users
    kept = edge_set(adj, nu)
    assert len(kept) == expected and adj.values().numel() == 2 * expected
    assert kept <= train_pairs
    dense = adj.to_dense()
    assert torch.allclose(dense, dense.T)
    # re-normalised on the pruned graph: 1 / sqrt(d_u d_i) with the kept degrees
    u, i = map(np.array, zip(*kept))
    du, di = np.bincount(u, minlength=nu), np.bincount(i, minlength=small_synthetic.n_items)
    np.testing.assert_allclose(dense[u, i + nu].numpy(), 1 / np.sqrt(du[u] * di[i]), rtol=1e-5)
    model.on_epoch_start(2)
    assert edge_set(model.pruned_adjacency, nu) != kept  # a fresh sample each epoch


def test_freedom_pruning_samples_proportionally_to_inverse_sqrt_degree():
    # user 0 - items 0..3 (d_u = 4, d_i = 1: w = 1/2 each); user 1 - item 4 (w = 1): P(first) = 1/3.
    pairs = np.array([[0, 0], [0, 1], [0, 2], [0, 3], [1, 4]])
    model = freedom(ModelInputs(2, 5, pairs, {}))
    assert model.n_kept_edges() == 1
    torch.manual_seed(0)
    draws = torch.stack([model.sample_kept_edges() for _ in range(4000)]).flatten()
    is_light = (model.edge_users[draws] == 1).float().mean().item()
    assert is_light == pytest.approx(1 / 3, abs=0.03)  # uniform would give 1/5


def test_freedom_pruning_prefers_low_degree_edges(small_synthetic):
    model = freedom(small_synthetic)
    torch.manual_seed(0)
    all_w = model.edge_log_weight.mean()
    kept_w = torch.stack([model.edge_log_weight[model.sample_kept_edges()].mean() for _ in range(20)])
    assert (kept_w > all_w).all()  # kept edges have larger 1/sqrt(d_u d_i): lower degrees
    keys = [model.sample_kept_edges() for _ in range(2)]
    assert len(set(keys[0].tolist()) & set(keys[1].tolist())) < len(keys[0])


def test_freedom_pruning_uses_the_global_rng(small_synthetic):
    model = freedom(small_synthetic)
    torch.manual_seed(7)
    a = model.sample_kept_edges().sort().values
    torch.manual_seed(7)
    b = model.sample_kept_edges().sort().values
    assert torch.equal(a, b)


def test_freedom_evaluation_uses_the_full_graph(small_synthetic):
    torch.manual_seed(0)
    model = freedom(small_synthetic)
    before = model.representations()
    model.on_epoch_start(1)
    after = model.representations()
    assert all(torch.equal(x, y) for x, y in zip(before, after))
    # the same weights without pruning give the same evaluation representations
    unpruned = freedom(small_synthetic, dropout=0.0)
    unpruned.load_state_dict(model.state_dict())
    assert all(torch.equal(x, y) for x, y in zip(before, unpruned.representations()))
    # ... while the training forward pass does use the pruned graph
    model.train()
    train_users, _ = model.forward()
    assert not torch.allclose(train_users, before[0])
    assert "pruned_adjacency" not in model.state_dict()


def test_freedom_evaluation_forward_matches_a_dense_reference(small_synthetic):
    torch.manual_seed(0)
    inputs = ModelInputs.from_data(small_synthetic)
    model = freedom(inputs, embedding_dim=8)
    users, items = model.representations()
    adj = torch.tensor(inputs.norm_adjacency.toarray())
    item_graph = torch.tensor(fused_item_knn_graph(dict(inputs.features), 10, 0.1).toarray())
    with torch.no_grad():
        ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
        mean = (ego + adj @ ego + adj @ (adj @ ego)) / 3
        h = item_graph @ model.item_embedding.weight
    nu = inputs.n_users
    assert torch.allclose(users, mean[:nu], atol=1e-5)
    assert torch.allclose(items, mean[nu:] + h, atol=1e-5)


def test_freedom_loss_before_any_epoch_start_samples_a_graph(small_synthetic):
    model = freedom(small_synthetic)
    assert model.pruned_adjacency is None
    users = torch.arange(16)
    model.loss(users, users % 200, (users + 3) % 200)["loss"].backward()
    assert model.pruned_adjacency is not None


def with_features(data: InteractionData, n_modalities: int) -> InteractionData:
    rng = np.random.default_rng(0)
    names = ["visual", "textual", "audio"][:n_modalities]
    feats = {m: data.features[m] if m in data.features else rng.normal(size=(data.n_items, 7)).astype(np.float32)
             for m in names}
    return InteractionData(data.name, data.n_users, data.n_items, data.train, data.valid, data.test, feats)


def assert_all_parameters_get_gradients(model):
    users = torch.arange(32)
    terms = model.loss(users, users % 200, (users + 7) % 200)
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("n_modalities", [0, 1, 3])
def test_freedom_any_number_of_modalities(small_synthetic, n_modalities):
    torch.manual_seed(0)
    data = with_features(small_synthetic, n_modalities)
    model = freedom(data)
    assert_all_parameters_get_gradients(model)
    users, items = model.representations()
    assert users.shape == (data.n_users, 64) and items.shape == (data.n_items, 64)
    assert len(model.project) == n_modalities
    if n_modalities == 0:  # LightGCN with pruning: no item graph, no auxiliary loss
        assert not hasattr(model, "item_graph")
        assert model.loss(torch.arange(4), torch.arange(4), torch.arange(4) + 1)["modal"] == 0


def test_freedom_finetune_features_and_sym_graph(small_synthetic):
    torch.manual_seed(0)
    model = freedom(small_synthetic, finetune_features=True, knn_norm="sym")
    assert model.item_graph_t is None
    assert_all_parameters_get_gradients(model)
    assert {"features.visual", "features.textual"} <= set(dict(model.named_parameters()))


def test_freedom_rejects_bad_options(small_synthetic):
    with pytest.raises(ValueError, match="dropout"):
        freedom(small_synthetic, dropout=1.0)
    with pytest.raises(ValueError, match="knn_norm"):
        freedom(small_synthetic, knn_norm="nope")


# --- DRAGON -------------------------------------------------------------------------------------


def test_dragon_user_graph_matches_dense_reference():
    rng = np.random.default_rng(2)
    dense = (rng.random((30, 25)) < 0.15).astype(np.float32)
    dense[7] = 0
    dense[7, 24] = 1  # user 7 only has item 24 ...
    dense[:, 24] = 0
    dense[7, 24] = 1  # ... which nobody else has: no co-interacting user
    k = 4
    graph = softmax_user_graph(sp.csr_matrix(dense), k)
    shared = dense @ dense.T
    np.fill_diagonal(shared, 0)
    assert graph.diagonal().sum() == 0
    assert graph[7].nnz == 0
    sums = np.asarray(graph.sum(1)).ravel()
    for u in range(30):
        row = graph[u]
        n_co = int((shared[u] > 0).sum())
        assert row.nnz == min(k, n_co)
        if row.nnz == 0:
            continue
        assert sums[u] == pytest.approx(1.0, abs=1e-6)
        counts = shared[u, row.indices]
        assert np.allclose(np.sort(counts)[::-1], np.sort(shared[u])[::-1][:row.nnz])  # the top-k counts
        expected = np.exp(counts - counts.max()) / np.exp(counts - counts.max()).sum()
        np.testing.assert_allclose(row.data, expected, rtol=1e-5)


def mmrec_urn_weights(counts: list[float], k: int, rng: np.random.Generator) -> np.ndarray:
    """MMRec's topk_sample padding, literally: append copies of random entries of the growing list, softmax."""
    sample, weight = list(range(len(counts))), list(counts)
    while len(sample) < k:
        j = rng.integers(0, len(sample))
        sample.append(sample[j])
        weight.append(weight[j])
    soft = np.exp(np.array(weight) - max(weight))
    soft /= soft.sum()
    return np.bincount(sample, weights=soft, minlength=len(counts))


def test_dragon_mmrec_padding_matches_mmrecs_urn_in_distribution():
    k = 6
    counts = sp.csr_matrix(np.array([[0, 1, 1, 3, 0, 0, 0, 0],  # 3 neighbours: padded to 6
                                     [2, 0, 0, 0, 0, 0, 0, 0],  # 1 neighbour: weight 1 whatever the copies
                                     [0, 0, 0, 0, 0, 0, 0, 0],  # none: stays empty
                                     [1, 1, 2, 0, 1, 1, 1, 0]], dtype=np.float32))  # 6: not padded
    rng = np.random.default_rng(0)
    draws = [padded_user_graph(counts, k, rng) for _ in range(4000)]
    for graph in draws[:20]:
        np.testing.assert_allclose(np.asarray(graph.sum(1)).ravel(), [1, 1, 0, 1], rtol=1e-6)
        assert graph[0].nnz == 3 and graph[2].nnz == 0
        np.testing.assert_allclose(graph[3].toarray(), copy_weighted_softmax(counts)[3].toarray(), rtol=1e-6)
    ours = np.stack([g[0].toarray().ravel()[[1, 2, 3]] for g in draws])
    reference = np.stack([mmrec_urn_weights([1, 1, 3], k, rng) for _ in range(4000)])
    np.testing.assert_allclose(ours.mean(0), reference.mean(0), atol=0.01)
    np.testing.assert_allclose(ours.std(0), reference.std(0), atol=0.01)
    assert ours.std(0).min() > 0.02  # the padding is random, not a fixed re-weighting


def test_dragon_mmrec_padding_redraws_in_training_and_evaluates_deterministically(small_synthetic):
    torch.manual_seed(0)
    inputs = ModelInputs.from_data(small_synthetic)
    plain = build_model("dragon", inputs, {"embedding_dim": 8})
    torch.manual_seed(0)
    padded = build_model("dragon", inputs, {"embedding_dim": 8, "user_padding": "mmrec"})
    padded.load_state_dict(plain.state_dict())
    padded.train()
    padded.on_epoch_start(1)
    first = padded()[0].detach().clone()
    padded.on_epoch_start(2)
    assert not torch.allclose(first, padded()[0])
    plain.eval()
    padded.eval()
    torch.testing.assert_close(padded()[0], plain()[0])  # eval: the unpadded graph
    torch.testing.assert_close(padded()[0], padded()[0])


def test_dragon_needs_a_modality(small_synthetic):
    with pytest.raises(ValueError, match="DRAGON.*modality"):
        build_model("dragon", ModelInputs.from_data(small_synthetic.with_modalities([])))


@pytest.mark.parametrize("n_modalities", [1, 2, 3])
def test_dragon_any_number_of_modalities(small_synthetic, n_modalities):
    torch.manual_seed(0)
    data = with_features(small_synthetic, n_modalities)
    model = build_model("dragon", ModelInputs.from_data(data))
    assert_all_parameters_get_gradients(model)
    users, items = model.representations()
    assert users.shape == (data.n_users, 64 * n_modalities) and items.shape == (data.n_items, 64 * n_modalities)
    assert hasattr(model, "weight_u") == (n_modalities > 1)


def test_dragon_forward_matches_a_dense_reference(small_synthetic):
    torch.manual_seed(0)
    inputs = ModelInputs.from_data(small_synthetic)
    model = build_model("dragon", inputs, {"embedding_dim": 8})
    users, items = model.representations()
    adj = torch.tensor(inputs.norm_adjacency.toarray())
    item_graph = torch.tensor(fused_item_knn_graph(dict(inputs.features), 10, 0.1).toarray())
    user_graph = torch.tensor(softmax_user_graph(inputs.train_csr, 40).toarray())
    nu = inputs.n_users
    with torch.no_grad():
        reps = []
        for m in model.modalities:
            x = torch.cat([model.preference[m], model.mlp[m](torch.tensor(inputs.features[m]))])
            x = x / x.norm(dim=1, keepdim=True)
            reps.append(x + adj @ x + adj @ (adj @ x))
        alpha = torch.softmax(model.weight_u, 1)
        u = torch.cat([alpha[:, j:j + 1] * r[:nu] for j, r in enumerate(reps)], 1)
        i = torch.cat([r[nu:] for r in reps], 1)
        ref_items = i + item_graph @ i
        ref_users = u + user_graph @ u
    assert torch.allclose(items, ref_items, atol=1e-5)
    assert torch.allclose(users, ref_users, atol=1e-5)


def test_dragon_user_graph_gradient_flows_through_the_transpose(small_synthetic):
    torch.manual_seed(0)
    model = build_model("dragon", ModelInputs.from_data(small_synthetic), {"embedding_dim": 8})
    dense = model.user_graph.to_dense()
    x = torch.randn(small_synthetic.n_users, 3, requires_grad=True)
    w = torch.randn(small_synthetic.n_users, 3)
    (directed_propagate(model.user_graph, model.user_graph_t, x) * w).sum().backward()
    assert torch.allclose(x.grad, dense.T @ w, atol=1e-5)


# --- end to end ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model,params", [("freedom", {}), ("dragon", {})])
def test_beats_a_random_ranker_on_planted_data(model, params, tmp_path):
    data = make_synthetic(SyntheticConfig(n_users=300, n_items=200, seed=3))
    cfg = build_config({"model": model, "model_params": params, "seeds": [0], "output_dir": str(tmp_path),
                        "train": {"epochs": 10, "batch_size": 512, "lr": 0.01, "patience": 5,
                                  "progress": False, "checkpoint_every": 0}})
    result = train(cfg, data=data).seeds[0]
    rng = torch.Generator().manual_seed(0)
    random_ranker = Evaluator(data, "test", ks=[20]).evaluate_scores(
        lambda users: torch.rand(len(users), data.n_items, generator=rng)).metrics
    assert result.test["recall@20"] > 2 * random_ranker["recall@20"]


def test_dragon_raw_user_weights_start_as_a_softmax_and_train_freely(small_synthetic):
    import torch

    from gtcrec.models import ModelInputs, build_model

    torch.manual_seed(0)
    model = build_model("dragon", ModelInputs.from_data(small_synthetic), {"user_weights": "raw"})
    w = model.weight_u.detach()
    assert torch.allclose(w.sum(dim=1), torch.ones(len(w)))  # initialised as MMRec: softmax of xavier
    model.loss(torch.arange(32), torch.arange(32) % 200, (torch.arange(32) + 7) % 200)["loss"].backward()
    assert model.weight_u.grad[:32].abs().sum() > 0
    with torch.no_grad():
        model.weight_u.mul_(3.0)  # free weights rescale the user side; softmax weights could not
    users_raw, _ = model.representations()
    model.config.user_weights = "softmax"
    users_soft, _ = model.representations()
    assert not torch.allclose(users_raw, users_soft)
