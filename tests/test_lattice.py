"""LATTICE's sparse, chunked structures against dense references, and nothing dense in n x n."""

import subprocess
import sys

import torch
from torch.nn import functional as F

from gtcrec.models.lattice import (
    normalized_edge_weights,
    propagate_edges,
    top_neighbours,
)


def test_chunked_neighbour_search_equals_one_dense_topk():
    z = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    dense = torch.topk(F.normalize(z, dim=1) @ F.normalize(z, dim=1).T, 5, dim=1).indices
    assert torch.equal(top_neighbours(z, 5, chunk_size=7), dense)


def test_sparse_propagation_equals_the_dense_normalised_graph_and_has_gradients():
    z = torch.randn(30, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    x = torch.randn(30, 3, generator=torch.Generator().manual_seed(2))
    neighbours = top_neighbours(z.detach(), 4, chunk_size=8)
    sparse = propagate_edges(neighbours, normalized_edge_weights(z, neighbours), x)
    unit = F.normalize(z, dim=1)
    sims = (unit @ unit.T).clamp(min=0)
    keep = torch.zeros_like(sims, dtype=torch.bool).scatter_(1, neighbours, True)
    adj = torch.where(keep, sims, torch.zeros_like(sims))
    inv = adj.sum(1).rsqrt()
    dense = (inv[:, None] * adj * inv[None, :]) @ x
    torch.testing.assert_close(sparse, dense)
    sparse.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_the_neighbour_search_never_holds_an_n_by_n_matrix():
    # 60,000 items: a dense similarity matrix would take 14.4 GB; the chunked search stays far below.
    code = """
import resource, torch
from gtcrec.models.lattice import top_neighbours
torch.set_num_threads(1)
z = torch.randn(60_000, 4)
neighbours = top_neighbours(z, 5, chunk_size=1024)
assert neighbours.shape == (60_000, 5)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout.strip()) < 2048, f"peak RSS {done.stdout.strip()} MiB"
