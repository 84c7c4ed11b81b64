"""Homogeneous graphs built in chunks into sparse matrices: never a dense n x n tensor.

* :func:`item_knn_graph`: top-k cosine neighbours of every item in a content feature space
  (as in LATTICE/FREEDOM/DRAGON), computed ``chunk_size`` rows at a time.
* :func:`user_cooccurrence_graph`: top-k users by number of shared training items (DRAGON's
  user-user graph), from sparse row products computed ``chunk_size`` users at a time.

Peak memory is O(chunk_size x n) for the similarities plus O(n x k) for the result.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F


def _topk_to_csr(rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray], n: int) -> sp.csr_matrix:
    mat = sp.csr_matrix((np.concatenate(vals).astype(np.float32),
                         (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    mat.eliminate_zeros()
    mat.sort_indices()
    return mat


def normalize_graph(mat: sp.csr_matrix, how: str = "sym") -> sp.csr_matrix:
    """``sym``: D^-1/2 A D^-1/2 (A symmetrised first); ``row``: D^-1 A. Zero-degree rows stay zero."""
    if how == "sym":
        mat = mat.maximum(mat.T).tocsr()
    deg = np.asarray(mat.sum(axis=1)).ravel()
    inv = np.zeros_like(deg)
    nz = deg > 0
    if how == "sym":
        inv[nz] = deg[nz] ** -0.5
        out = sp.diags(inv) @ mat @ sp.diags(inv)
    elif how == "row":
        inv[nz] = 1.0 / deg[nz]
        out = sp.diags(inv) @ mat
    else:
        raise ValueError(f"normalisation must be 'sym' or 'row', got {how!r}")
    out = out.astype(np.float32).tocsr()
    out.sort_indices()
    return out


def item_knn_graph(features: np.ndarray | torch.Tensor, k: int, *, chunk_size: int = 2048,
                   include_self: bool = False, weighted: bool = False,
                   device: torch.device | str = "cpu") -> sp.csr_matrix:
    """Directed top-k cosine-neighbour graph of the rows of ``features`` (unnormalised, binary or weighted)."""
    feats = F.normalize(torch.as_tensor(features, dtype=torch.float32, device=device), dim=1)
    n = feats.shape[0]
    k = min(k, n if include_self else n - 1)
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk_size):
        sim = feats[start:start + chunk_size] @ feats.T
        if not include_self:
            idx = torch.arange(start, start + sim.shape[0], device=sim.device)
            sim[torch.arange(sim.shape[0], device=sim.device), idx] = float("-inf")
        top = torch.topk(sim, k, dim=1)
        rows.append(np.repeat(np.arange(start, start + sim.shape[0]), k))
        cols.append(top.indices.reshape(-1).cpu().numpy())
        vals.append(top.values.reshape(-1).clamp(min=0).cpu().numpy() if weighted else np.ones(sim.shape[0] * k))
    return _topk_to_csr(rows, cols, vals, n)


def user_cooccurrence_graph(train: sp.csr_matrix, k: int, *, chunk_size: int = 1024) -> sp.csr_matrix:
    """Directed graph linking each user to the ``k`` users sharing the most training items.

    Edge weights are the shared-item counts; users sharing nothing are never linked.
    """
    train = (train > 0).astype(np.float32).tocsr()
    n = train.shape[0]
    k = min(k, n - 1)
    item_user = train.T.tocsr()
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        counts = torch.from_numpy((train[start:stop] @ item_user).toarray())  # (chunk, n) shared counts
        counts[torch.arange(stop - start), torch.arange(start, stop)] = 0  # no self-loops
        top = torch.topk(counts, k, dim=1)
        rows.append(np.repeat(np.arange(start, stop), k))
        cols.append(top.indices.reshape(-1).numpy())
        vals.append(top.values.reshape(-1).numpy())
    return _topk_to_csr(rows, cols, vals, n)
