"""SMORE, GRCN, PGL and SLMRec: their parts against dense references, their options, and nothing dense in n x n."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from gtcrec.models import ModelInputs, build_model
from gtcrec.models.grcn import segment_softmax
from gtcrec.models.mgcn import mgcn_knn_graph


def _grads_reach_every_parameter(model, n=32):
    torch.manual_seed(0)
    terms = model.loss(torch.arange(n), torch.arange(n) % 200, (torch.arange(n) + 7) % 200)
    terms["loss"].backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing
    return terms


def test_segment_softmax_equals_a_softmax_per_group():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, generator=g)
    segment = torch.randint(0, 7, (40,), generator=g)
    out = segment_softmax(logits, segment, 9)
    for s in range(9):
        rows = segment == s
        if rows.any():
            torch.testing.assert_close(out[rows], torch.softmax(logits[rows], 0))


@pytest.mark.parametrize("weight_mode", ["confidence", "max", "mean"])
@pytest.mark.parametrize("id_aggregation", ["add", "mean"])
def test_grcn_options_train_every_parameter_and_prune_negative_edges(small_synthetic, weight_mode, id_aggregation):
    model = build_model("grcn", ModelInputs.from_data(small_synthetic),
                        {"weight_mode": weight_mode, "id_aggregation": id_aggregation})
    _grads_reach_every_parameter(model)
    _, _, affinities = model.refined_views()
    to_item, to_user = model.edge_weights(affinities)
    assert (to_item >= 0).all() and (to_user >= 0).all()
    if weight_mode == "max":
        torch.testing.assert_close(to_item, torch.stack(affinities, 1).max(1).values.clamp(min=0))
    assert 0 <= model.diagnostics()["pruned_edge_share"] <= 1


def test_grcn_routing_moves_user_preferences_towards_their_items(small_synthetic):
    inputs = ModelInputs.from_data(small_synthetic)
    torch.manual_seed(0)
    still = build_model("grcn", inputs, {"n_routing": 0})
    torch.manual_seed(0)
    routed = build_model("grcn", inputs, {"n_routing": 3})
    p0, z, _ = still.refined_views()
    p3, _, _ = routed.refined_views()
    users, items = still.edges.rows, still.edges.cols
    # Users are refined (MMRec's routing leaves them as initialised), towards the content of their items.
    assert not torch.allclose(p0[0], p3[0])
    assert (p3[0][users] * z[0][items]).sum(1).mean() > (p0[0][users] * z[0][items]).sum(1).mean() + 0.1


def test_smore_fusion_graph_is_the_edgewise_maximum_and_unit_filters_pass_the_projection(small_synthetic):
    inputs = ModelInputs.from_data(small_synthetic)
    model = build_model("smore", inputs)
    graphs = [mgcn_knn_graph(f, 10) for f in inputs.features.values()]
    expected = graphs[0].maximum(graphs[1]).toarray()
    fusion = model.item_graph_2.to_dense().numpy()
    np.testing.assert_allclose(fusion, expected, atol=1e-6)
    with torch.no_grad():
        model.spectral_filter.zero_()
        model.spectral_filter[..., 0] = 1.0  # every bin times 1 + 0i
    signals = model.spectral_signals()
    for idx in range(2):
        torch.testing.assert_close(signals[idx], model.project[idx](model.feature(idx)),
                                   atol=1e-5, rtol=1e-5)


def test_pgl_draws_a_normalised_degree_sensitive_subgraph_and_evaluates_on_the_whole_graph(small_synthetic):
    model = build_model("pgl", ModelInputs.from_data(small_synthetic), {"keep_ratio": 0.3})
    before = model.representations()
    torch.manual_seed(5)
    model.on_epoch_start(1)
    sub = model.subgraph.to_dense()
    n_edges = len(model.edges)
    assert int((sub > 0).sum()) == 2 * round(0.3 * n_edges)
    torch.testing.assert_close(sub, sub.T)
    deg = (sub > 0).sum(1).float()
    rows, cols = (sub > 0).nonzero(as_tuple=True)
    torch.testing.assert_close(sub[rows, cols], (deg[rows] * deg[cols]).rsqrt())
    # Kept edges join lower-degree nodes than edges on average (sampling weight 1/sqrt(d_u d_i)).
    full = model.adjacency.to_dense()
    assert full[rows, cols].mean() > full[full > 0].mean()
    # The same seed draws the same subgraph (a resumed run trains on what it would have).
    torch.manual_seed(5)
    model.on_epoch_start(1)
    assert torch.equal(model.subgraph.to_dense(), sub)
    after = model.representations()
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    model.train()
    assert not torch.allclose(model.forward()[0], before[0])


def test_pgl_self_contrastive_term_trains_every_parameter(small_synthetic):
    model = build_model("pgl", ModelInputs.from_data(small_synthetic), {"cl_weight": 0.5})
    model.train()
    terms = _grads_reach_every_parameter(model)
    assert terms["cl"].item() > 0


@pytest.mark.parametrize("task", ["fac", "fd", "fm"])
def test_slmrec_tasks_train_every_parameter(small_synthetic, task):
    model = build_model("slmrec", ModelInputs.from_data(small_synthetic), {"ssl_task": task})
    model.train()
    terms = _grads_reach_every_parameter(model)
    assert terms["ssl"].item() > 0
    if task == "fac":  # two modalities: a fine level at d and a coarse one at d/2
        assert [lin.out_features for lin in model.joint] == [64, 32]


def test_paper_baselines_never_hold_an_n_by_n_matrix():
    # 30,000 users and items: one dense item-item matrix takes 3.6 GB and the dense user-item graph 14 GB;
    # building each model and one training step stay far below.
    code = """
import resource, numpy as np, torch
from gtcrec.models import ModelInputs, build_model
torch.set_num_threads(1)
rng = np.random.default_rng(0)
n = 30_000
pairs = np.stack([rng.integers(0, n, 150_000), rng.integers(0, n, 150_000)], 1)
feats = {"image": rng.normal(size=(n, 8)).astype(np.float32), "text": rng.normal(size=(n, 6)).astype(np.float32)}
inputs = ModelInputs(n, n, pairs, feats)
for name in ("smore", "grcn", "pgl", "slmrec"):
    model = build_model(name, inputs)
    model.train()
    model.on_epoch_start(1)
    users = torch.arange(512)
    model.loss(users, users, users + 1)["loss"].backward()
    del model
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout.strip()) < 2048, f"peak RSS {done.stdout.strip()} MiB"
