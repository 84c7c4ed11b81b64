"""MGCN and LGMRec: structure, gradients, modality handling, determinism, and learning on planted data."""

import dataclasses

import numpy as np
import pytest
import torch
import yaml

from gtcrec.config import PRESETS_DIR, build_config, load_yaml_config
from gtcrec.data import SyntheticConfig, make_synthetic
from gtcrec.evaluation import Evaluator
from gtcrec.models import ModelInputs, build_model
from gtcrec.models.lgmrec import LGMRecConfig  # importing registers "lgmrec"
from gtcrec.models.mgcn import MGCNConfig, mgcn_knn_graph  # registers "mgcn"
from gtcrec.train import train

MODELS = ["mgcn", "lgmrec"]


def inputs_with(data, n_modalities: int, seed: int = 0) -> ModelInputs:
    """The data's interactions with ``n_modalities`` random modalities of odd names and sizes."""
    rng = np.random.default_rng(seed)
    names = ["img.v", "audio track", "t-3"][:n_modalities]
    feats = {name: rng.normal(size=(data.n_items, 8 + 5 * k)).astype(np.float32) for k, name in enumerate(names)}
    return ModelInputs(data.n_users, data.n_items, data.train, feats)


def batch(n_items=200):
    users = torch.arange(32)
    return users, users % n_items, (users + 7) % n_items


def assert_all_parameters_get_gradients(model):
    terms = model.loss(*batch())
    assert terms["loss"].ndim == 0 and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("n_modalities", [1, 2, 3])
def test_shapes_and_gradients_for_any_number_of_modalities(name, n_modalities, small_synthetic):
    torch.manual_seed(0)
    model = build_model(name, inputs_with(small_synthetic, n_modalities), {"embedding_dim": 16})
    users, items = model.representations()
    assert users.shape == (small_synthetic.n_users, 16) and items.shape == (small_synthetic.n_items, 16)
    assert torch.isfinite(users).all() and torch.isfinite(items).all()
    assert_all_parameters_get_gradients(model)


@pytest.mark.parametrize("name", MODELS)
def test_zero_modalities_is_a_clear_error(name, small_synthetic):
    inputs = ModelInputs(small_synthetic.n_users, small_synthetic.n_items, small_synthetic.train, {})
    with pytest.raises(ValueError, match=f"(?i){name}.*modalit"):
        build_model(name, inputs)


@pytest.mark.parametrize("name", MODELS)
def test_preset_lists_every_default_and_builds(name, small_synthetic):
    preset = load_yaml_config(name)
    cls = {"mgcn": MGCNConfig, "lgmrec": LGMRecConfig}[name]
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    assert preset["model"] == name
    assert preset["model_params"] == defaults
    cfg = build_config(yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text()))
    assert cfg.train.batch_size == 2048 and cfg.train.valid_metric == "recall@20"
    build_model(cfg.model, ModelInputs.from_data(small_synthetic), cfg.model_params)


# --- MGCN ------------------------------------------------------------------------------------

def mmrec_knn_reference(features: np.ndarray, k: int) -> np.ndarray:
    """Dense re-statement of MMRec's build_sim + build_knn_normalized_graph(norm_type='sym')."""
    x = features / np.linalg.norm(features, axis=1, keepdims=True)
    sim = x @ x.T
    idx = np.argsort(-sim, axis=1)[:, :k]
    adj = np.zeros_like(sim)
    np.put_along_axis(adj, idx, np.take_along_axis(sim, idx, axis=1), axis=1)
    deg = adj.sum(axis=1)
    return adj / np.sqrt(deg)[:, None] / np.sqrt(deg)[None, :]


def test_mgcn_knn_graph_matches_mmrec_and_is_sparse():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(120, 10)).astype(np.float32) + 2.0  # positive-leaning: top-k sims > 0
    graph = mgcn_knn_graph(feats, 5)
    nnz_per_row = np.diff(graph.indptr)
    assert (nnz_per_row == 5).all()  # directed: exactly k neighbours, self included
    assert (graph.diagonal() > 0).all()
    assert np.allclose(graph.toarray(), mmrec_knn_reference(feats, 5), atol=1e-5)
    binary_sym = mgcn_knn_graph(feats, 5, weighted=False, symmetrize=True)
    dense = binary_sym.toarray()
    assert np.allclose(dense, dense.T, atol=1e-6)
    assert (np.diff(binary_sym.indptr) >= 5).all() and binary_sym.nnz <= 2 * 5 * 120


def test_mgcn_item_graph_buffers_are_sparse(small_synthetic):
    model = build_model("mgcn", ModelInputs.from_data(small_synthetic), {"knn_k": 4})
    for idx in range(2):
        g = getattr(model, f"item_graph_{idx}")
        assert g.layout == torch.sparse_csr
        assert (g.crow_indices().diff() <= 4).all()
    assert not any(k.startswith("item_graph") for k in model.state_dict())


def test_mgcn_attention_weights_sum_to_one_per_node(small_synthetic):
    torch.manual_seed(0)
    model = build_model("mgcn", inputs_with(small_synthetic, 3))
    with torch.no_grad():
        enc = model.encode()
    w = enc["weights"]
    n_nodes = small_synthetic.n_users + small_synthetic.n_items
    assert w.shape == (n_nodes, 3)
    assert torch.allclose(w.sum(dim=1), torch.ones(n_nodes), atol=1e-6)
    assert (w > 0).all() and (w < 1).all()
    # and the weights differ across nodes (per-node attention, not one global mixture)
    assert w.std(dim=0).max() > 1e-4


def test_mgcn_single_modality_side_is_half_the_view(small_synthetic):
    torch.manual_seed(0)
    model = build_model("mgcn", inputs_with(small_synthetic, 1))
    with torch.no_grad():
        enc = model.encode()
        users, items = model.representations()
    assert torch.allclose(enc["side"], enc["views"][0] / 2)
    assert torch.allclose(torch.cat([users, items]), enc["content"] + enc["views"][0] / 2)


def test_mgcn_frozen_features_are_not_parameters(small_synthetic):
    model = build_model("mgcn", ModelInputs.from_data(small_synthetic), {"trainable_features": False})
    assert not any("features" in n for n, _ in model.named_parameters())
    assert_all_parameters_get_gradients(model)


def test_mgcn_loss_terms(small_synthetic):
    torch.manual_seed(0)
    model = build_model("mgcn", ModelInputs.from_data(small_synthetic))
    terms = model.loss(*batch())
    assert set(terms) == {"loss", "bpr", "reg", "cl"}
    assert torch.allclose(terms["loss"], terms["bpr"] + terms["reg"] + terms["cl"])
    assert terms["cl"] > 0 and terms["reg"] > 0
    no_cl = build_model("mgcn", ModelInputs.from_data(small_synthetic), {"cl_weight": 0.0})
    assert no_cl.loss(*batch())["cl"] == 0


# --- LGMRec ----------------------------------------------------------------------------------

def test_lgmrec_eval_is_deterministic_and_training_is_stochastic(small_synthetic):
    torch.manual_seed(0)
    model = build_model("lgmrec", ModelInputs.from_data(small_synthetic))
    a, b = model.representations(), model.representations()
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    model.train()
    with torch.no_grad():
        t1, t2 = model.forward(), model.forward()
    assert not torch.equal(t1[1], t2[1])
    assert not torch.equal(t1[1], a[1])
    assert model.training  # representations() restored training mode


def test_lgmrec_hyperedge_assignments(small_synthetic):
    torch.manual_seed(0)
    model = build_model("lgmrec", ModelInputs.from_data(small_synthetic), {"n_hyper": 6})
    model.eval()
    item_h, user_h = model.hyperedge_assignments(0)
    assert item_h.shape == (small_synthetic.n_items, 6) and user_h.shape == (small_synthetic.n_users, 6)
    assert torch.allclose(item_h.sum(1), torch.ones(len(item_h)), atol=1e-5)
    assert torch.allclose(user_h.sum(1), torch.ones(len(user_h)), atol=1e-5)
    # user logits sum the logits of the user's training items (unnormalised R, as MMRec)
    logits = model.feature_0 @ model.hyperedges[0]
    train = torch.tensor(small_synthetic.csr("train").toarray(), dtype=torch.float32)
    assert torch.allclose(user_h, torch.softmax(train @ logits / 0.2, dim=1), atol=1e-5)
    model.train()
    item_t, _ = model.hyperedge_assignments(0)
    kept = item_t[item_t > 0]
    assert 0.3 < (item_t > 0).float().mean() < 0.7  # dropout with keep_rate 0.5
    assert torch.allclose(item_t.sum(1).mean(), torch.tensor(1.0), atol=0.2)  # dropout rescales by 1/keep
    assert kept.numel() > 0


def test_lgmrec_modality_user_init_is_mean_of_training_items(small_synthetic):
    model = build_model("lgmrec", ModelInputs.from_data(small_synthetic))
    x = torch.randn(small_synthetic.n_items, 3)
    train = torch.tensor(small_synthetic.csr("train").toarray(), dtype=torch.float32)
    expected = train @ x / train.sum(1, keepdim=True).clamp(min=1)
    from gtcrec.models.sparse_ops import sparse_product
    assert torch.allclose(sparse_product(model, "user_item_mean", x), expected, atol=1e-5)


def test_lgmrec_contrastive_term_needs_two_modalities(small_synthetic):
    torch.manual_seed(0)
    one = build_model("lgmrec", inputs_with(small_synthetic, 1))
    assert one.loss(*batch())["cl"] == 0
    two = build_model("lgmrec", ModelInputs.from_data(small_synthetic))
    terms = two.loss(*batch())
    assert terms["cl"] > 0
    assert torch.allclose(terms["loss"], terms["bpr"] + terms["reg"] + terms["cl"])


# --- learning --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted():
    data = make_synthetic(SyntheticConfig(n_users=300, n_items=200, seed=3))
    rng = torch.Generator().manual_seed(0)
    random = Evaluator(data, "test", ks=[20]).evaluate_scores(
        lambda users: torch.rand(len(users), data.n_items, generator=rng)).metrics
    return data, random["recall@20"]


@pytest.mark.parametrize("name,params", [("mgcn", {}), ("lgmrec", {})])
def test_beats_a_random_ranker_on_planted_data(name, params, planted, tmp_path):
    data, random_recall = planted
    cfg = build_config({"model": name, "model_params": params, "seeds": [0], "output_dir": str(tmp_path),
                        "train": {"epochs": 15, "batch_size": 256, "lr": 0.01, "patience": 15,
                                  "progress": False, "checkpoint_every": 0}})
    result = train(cfg, data=data).seeds[0]
    assert random_recall < 0.15  # about 20 / (items not in train)
    assert result.test["recall@20"] > 2 * random_recall, (result.test, random_recall)


def test_lgmrec_contrastive_matches_mmrec_ssl_triple_loss():
    from gtcrec.models.lgmrec import hypergraph_contrastive
    torch.manual_seed(0)
    table1, table2 = torch.randn(50, 8), torch.randn(50, 8)
    rows = torch.tensor([3, 7, 7, 20])

    def mmrec(emb1, emb2, all_emb, tau=0.2):  # MMRec's ssl_triple_loss, verbatim in formula
        n1, n2, na = (torch.nn.functional.normalize(x) for x in (emb1, emb2, all_emb))
        pos = torch.exp((n1 * n2).sum(dim=1) / tau)
        ttl = torch.exp(n1 @ na.T / tau).sum(dim=1)
        return -torch.log(pos / ttl).sum()

    expected = mmrec(table1[rows], table2[rows], table2)
    assert torch.allclose(hypergraph_contrastive(table1[rows], table2[rows], table2, 0.2), expected, atol=1e-4)


def test_lgmrec_in_batch_negatives_option(small_synthetic):
    torch.manual_seed(0)
    model = build_model("lgmrec", ModelInputs.from_data(small_synthetic), {"cl_negatives": "batch"})
    assert model.loss(*batch())["cl"] > 0
    assert_all_parameters_get_gradients(model)
    with pytest.raises(ValueError, match="cl_negatives"):
        build_model("lgmrec", ModelInputs.from_data(small_synthetic), {"cl_negatives": "some"})
