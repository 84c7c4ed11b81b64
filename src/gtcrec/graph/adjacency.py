"""User-item bipartite graph in sparse form, and stateless propagation over it."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def normalized_bipartite_adjacency(n_users: int, n_items: int, train_pairs: np.ndarray) -> sp.csr_matrix:
    """Symmetric-normalised adjacency D^-1/2 A D^-1/2 of the (n_users + n_items)-node bipartite graph.

    Items are nodes ``n_users + item``. Nodes without edges get zero rows (no division by zero).
    """
    users = train_pairs[:, 0]
    items = train_pairs[:, 1] + n_users
    n = n_users + n_items
    rows = np.concatenate([users, items])
    cols = np.concatenate([items, users])
    adj = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n))
    adj.sum_duplicates()
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    scale = sp.diags(inv_sqrt.astype(np.float32))
    out = (scale @ adj @ scale).tocsr()
    out.sort_indices()
    return out


def to_torch_sparse(mat: sp.spmatrix, device: torch.device | str | None = None) -> torch.Tensor:
    """scipy matrix -> torch sparse CSR tensor (float32)."""
    mat = mat.tocsr()
    return torch.sparse_csr_tensor(
        torch.from_numpy(mat.indptr.astype(np.int64)),
        torch.from_numpy(mat.indices.astype(np.int64)),
        torch.from_numpy(mat.data.astype(np.float32)),
        size=mat.shape,
        device=device,
    )


class _SymmetricSpMM(torch.autograd.Function):
    """y = A x for a symmetric sparse A; the backward pass reuses A since A^T = A."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return adj @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, ctx.adj @ grad


class _DirectedSpMM(torch.autograd.Function):
    """y = A x for a frozen sparse A that need not be symmetric; the backward pass uses a stored A^T."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj_t = adj_t
        return adj @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, None, ctx.adj_t @ grad


def directed_propagate(adj: torch.Tensor, adj_t: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """``adj @ x`` with a gradient for ``x``; ``adj_t`` is ``adj``'s transpose, or None if ``adj`` is symmetric.

    Storing the transpose once (a directed kNN graph, a user-item block) avoids transposing a CSR
    tensor in every backward pass.
    """
    if adj_t is None:
        return _SymmetricSpMM.apply(adj, x)
    return _DirectedSpMM.apply(adj, adj_t, x)


def propagate(adj: torch.Tensor, x: torch.Tensor, *, symmetric: bool = True) -> torch.Tensor:
    """One propagation step ``adj @ x`` with a gradient for ``x`` (not for ``adj``)."""
    if symmetric:
        return _SymmetricSpMM.apply(adj, x)
    return torch.sparse.mm(adj, x)


def lightgcn_propagate(adj: torch.Tensor, ego: torch.Tensor, n_layers: int) -> torch.Tensor:
    """LightGCN: mean of the layer-0..n_layers embeddings, each layer ``adj @`` the previous."""
    layers = [ego]
    x = ego
    for _ in range(n_layers):
        x = propagate(adj, x)
        layers.append(x)
    return torch.stack(layers, dim=0).mean(dim=0)
