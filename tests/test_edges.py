"""Edge dot products and edge-weighted aggregation: same values and gradients as gathered references."""

import numpy as np
import pytest
import torch

from gtcrec.graph import edges as edge_ops
from gtcrec.graph.edges import BipartiteEdges, edge_aggregate, edge_dot


@pytest.fixture(params=["sampled", "gathered"])
def graph(request, monkeypatch):
    if request.param == "gathered":  # the fallback where sampled products are not implemented, in several chunks
        def unavailable(*args, **kwargs):
            raise NotImplementedError

        monkeypatch.setattr(torch.sparse, "sampled_addmm", unavailable)
        monkeypatch.setattr(edge_ops, "EDGE_CHUNK", 7)
    rng = np.random.default_rng(0)
    pairs = np.stack([rng.integers(0, 9, 60), rng.integers(0, 11, 60)], 1)  # duplicates, unsorted
    return BipartiteEdges(pairs, 9, 11)


def _leaf(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64, requires_grad=True)


def test_edges_are_deduplicated_and_both_layouts_agree(graph):
    keys = graph.rows * 11 + graph.cols
    assert torch.equal(keys, torch.unique(keys))
    values = torch.arange(len(graph), dtype=torch.float64)
    torch.testing.assert_close(graph.matrix_t(values).to_dense(), graph.matrix(values).to_dense().T)


def test_edge_dot_and_gradients_equal_the_gathered_reference(graph):
    a, b, w = _leaf(9, 4, seed=1), _leaf(11, 4, seed=2), torch.randn(len(graph), dtype=torch.float64)
    (edge_dot(graph, a, b) * w).sum().backward()
    ga, gb = a.grad, b.grad
    a2, b2 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    reference = (a2[graph.rows] * b2[graph.cols]).sum(1)
    torch.testing.assert_close(edge_dot(graph, a.detach(), b.detach()), reference.detach())
    (reference * w).sum().backward()
    torch.testing.assert_close(ga, a2.grad)
    torch.testing.assert_close(gb, b2.grad)


@pytest.mark.parametrize("into_rows", [True, False])
def test_edge_aggregate_and_gradients_equal_index_add(graph, into_rows):
    values = _leaf(len(graph), seed=3)
    x = _leaf(11 if into_rows else 9, 5, seed=4)
    target, source = (graph.rows, graph.cols) if into_rows else (graph.cols, graph.rows)
    n_out = 9 if into_rows else 11
    w = torch.randn(n_out, 5, dtype=torch.float64)
    (edge_aggregate(graph, values, x, into_rows=into_rows) * w).sum().backward()
    v2, x2 = values.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    reference = torch.zeros(n_out, 5, dtype=torch.float64).index_add(0, target, v2.unsqueeze(1) * x2[source])
    (reference * w).sum().backward()
    torch.testing.assert_close(edge_aggregate(graph, values.detach(), x.detach(), into_rows=into_rows),
                               reference.detach())
    torch.testing.assert_close(values.grad, v2.grad)
    torch.testing.assert_close(x.grad, x2.grad)
