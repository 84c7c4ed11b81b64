"""Per-edge weights on a fixed bipartite edge list, with sparse products instead of gathered (edges x d) tensors.

Models that learn a weight per user-item edge (GRCN's refined graph, attention over neighbours) need two
operations: the dot product of the two end nodes' vectors on every edge, and the aggregation of one side's
vectors weighted by edge values. Written with indexing (``a[rows] * b[cols]``, ``index_add``) both hold
(edges x d) tensors for the backward pass. Here both are autograd functions whose forward and backward are
CSR sparse-dense products (or chunked dot products), so memory is O(edges) beyond the node tables.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

EDGE_CHUNK = 1 << 16  # edges per block of the chunked dot products


class BipartiteEdges(nn.Module):
    """The edges ``(rows[e], cols[e])`` of a rows x cols bipartite graph, sorted by (row, col), with both CSR layouts.

    ``pairs`` may hold duplicates and any order; they are deduplicated and sorted. Edge values passed to the
    functions below follow this sorted order (``self.rows``, ``self.cols``). A module holding only
    non-persistent buffers, so that it moves with its model and is never saved.
    """

    def __init__(self, pairs: np.ndarray, n_rows: int, n_cols: int):
        super().__init__()
        pairs = np.unique(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=0)  # sorted by (row, col)
        self.n_rows, self.n_cols = n_rows, n_cols
        rows, cols = torch.from_numpy(pairs[:, 0].copy()), torch.from_numpy(pairs[:, 1].copy())
        # The transposed layout: edges sorted by (col, row); perm maps its positions to edge ids.
        perm = torch.from_numpy(np.lexsort((pairs[:, 0], pairs[:, 1])))
        for name, value in (("rows", rows), ("cols", cols), ("row_ptr", self._pointers(rows, n_rows)),
                            ("perm", perm), ("col_ptr", self._pointers(cols[perm], n_cols))):
            self.register_buffer(name, value, persistent=False)

    @staticmethod
    def _pointers(sorted_index: torch.Tensor, n: int) -> torch.Tensor:
        counts = torch.bincount(sorted_index, minlength=n)
        return torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    def __len__(self) -> int:
        return len(self.rows)

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        """The rows x cols CSR matrix with ``values`` on the edges."""
        return torch.sparse_csr_tensor(self.row_ptr, self.cols, values, (self.n_rows, self.n_cols))

    def matrix_t(self, values: torch.Tensor) -> torch.Tensor:
        """The cols x rows CSR matrix (the transpose) with ``values`` on the edges."""
        return torch.sparse_csr_tensor(self.col_ptr, self.rows[self.perm], values[self.perm],
                                       (self.n_cols, self.n_rows))


def _chunked_dot(edges: BipartiteEdges, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-edge dot products: one sampled dense-dense product at the edges' positions (about 25x faster on CPU
    than gathering both ends), or gathered in chunks where the sampled product is not implemented."""
    try:
        return torch.sparse.sampled_addmm(edges.matrix(a.new_zeros(len(edges))), a, b.T, beta=0).values()
    except (RuntimeError, NotImplementedError):
        pass
    out = a.new_empty(len(edges))
    for s in range(0, len(edges), EDGE_CHUNK):
        out[s:s + EDGE_CHUNK] = (a[edges.rows[s:s + EDGE_CHUNK]] * b[edges.cols[s:s + EDGE_CHUNK]]).sum(1)
    return out


class _EdgeDot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, edges, a, b):
        ctx.edges = edges
        ctx.save_for_backward(a, b)
        return _chunked_dot(edges, a, b)

    @staticmethod
    def backward(ctx, grad):
        edges = ctx.edges
        a, b = ctx.saved_tensors
        grad_a = edges.matrix(grad) @ b if ctx.needs_input_grad[1] else None
        grad_b = edges.matrix_t(grad) @ a if ctx.needs_input_grad[2] else None
        return None, grad_a, grad_b


class _EdgeAggregate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, edges, values, x, into_rows):
        ctx.edges, ctx.into_rows = edges, into_rows
        ctx.save_for_backward(values, x)
        return (edges.matrix(values) if into_rows else edges.matrix_t(values)) @ x

    @staticmethod
    def backward(ctx, grad):
        edges, into_rows = ctx.edges, ctx.into_rows
        values, x = ctx.saved_tensors
        grad_values = grad_x = None
        if ctx.needs_input_grad[1]:  # d out[r] / d value_e = x[c] for edge e = (r, c)
            grad_values = _chunked_dot(edges, grad, x) if into_rows else _chunked_dot(edges, x, grad)
        if ctx.needs_input_grad[2]:
            grad_x = (edges.matrix_t(values) if into_rows else edges.matrix(values)) @ grad
        return None, grad_values, grad_x, None


def edge_dot(edges: BipartiteEdges, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a[rows[e]] * b[cols[e]]).sum()`` for every edge e: a (edges,) tensor, differentiable in ``a`` and ``b``."""
    return _EdgeDot.apply(edges, a, b)


def edge_aggregate(edges: BipartiteEdges, values: torch.Tensor, x: torch.Tensor, *, into_rows: bool) -> torch.Tensor:
    """Weighted sums over edges, differentiable in ``values`` and ``x``.

    ``into_rows``: row r gets the sum over its edges e = (r, c) of ``values[e] * x[c]`` (x indexed by columns);
    otherwise column c gets the sum over its edges of ``values[e] * x[r]`` (x indexed by rows).
    """
    return _EdgeAggregate.apply(edges, values, x, into_rows)
