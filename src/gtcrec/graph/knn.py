"""Homogeneous graphs built in chunks into sparse matrices: never a dense n x n tensor.

* :func:`item_knn_graph`: top-k cosine neighbours of every item in a content feature space
  (as in LATTICE/FREEDOM/DRAGON), computed ``chunk_size`` rows at a time.
* :func:`user_cooccurrence_graph`: top-k users by number of shared training items (DRAGON's
  user-user graph), from sparse row products ranked on their non-zeros, in chunks of bounded size.
* :func:`fused_item_knn_graph`: FREEDOM's and DRAGON's frozen item-item graph, one normalised kNN
  graph per modality summed with MMRec's ``mm_image_weight`` weighting.

Peak memory is O(chunk_size x n) for the item similarities, a bounded chunk of candidate pairs for the user
graph, plus O(n x k) for the result.
"""

from __future__ import annotations

import typing
from typing import Literal

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


KnnNorm = Literal["sym", "row", "sym_directed"]
NORMALIZATIONS = typing.get_args(KnnNorm)


def normalize_graph(mat: sp.csr_matrix, how: KnnNorm = "sym") -> sp.csr_matrix:
    """Normalise a graph's adjacency. Zero-degree rows stay zero.

    * ``sym``: D^-1/2 A D^-1/2 with A symmetrised first (max(A, A^T)); the result is symmetric.
    * ``row``: D^-1 A.
    * ``sym_directed``: D^-1/2 A D^-1/2 on A as given (not symmetrised), D its row sums (out-degrees):
      MMRec's ``compute_normalized_laplacian`` for the directed kNN graphs of FREEDOM/DRAGON. Entry
      (i, j) is A_ij / sqrt(d_i d_j); the result is in general not symmetric.
    """
    if how not in NORMALIZATIONS:
        raise ValueError(f"normalisation must be one of {NORMALIZATIONS}, got {how!r}")
    if how == "sym":
        mat = mat.maximum(mat.T).tocsr()
    deg = np.asarray(mat.sum(axis=1)).ravel()
    inv = np.zeros_like(deg)
    nz = deg > 0
    if how in ("sym", "sym_directed"):
        inv[nz] = deg[nz] ** -0.5
        out = sp.diags(inv) @ mat @ sp.diags(inv)
    else:
        inv[nz] = 1.0 / deg[nz]
        out = sp.diags(inv) @ mat
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


def _pair_hash(rows: torch.Tensor, cols: torch.Tensor, seed: int) -> torch.Tensor:
    """A pseudo-random integer in [0, 2^32) per (row, column) pair; it does not depend on how rows are chunked."""
    h = (rows.to(torch.int64) * 2654435761 + cols.to(torch.int64) * 40503 + seed * 97531) % 4294967296
    for _ in range(2):
        h = ((h ^ (h >> 16)) * 73244475) % 4294967296
    return h ^ (h >> 16)


COUNT_BUCKETS = 64  # shared counts above this are one bucket when finding each user's k-th count


def _kth_count_lower_bound(local_rows: np.ndarray, counts: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """Per row, a count t such that the row has at least k entries >= t (0 where it has fewer than k entries).

    No entry below t can be among the row's top k, so ranking can skip them: on power-law data most shared
    counts are 1 or 2 and most candidate pairs fall away before the hash and the sort. A histogram of counts
    per row (capped at COUNT_BUCKETS), read from the top.
    """
    capped = np.minimum(counts, COUNT_BUCKETS).astype(np.int64)
    width = COUNT_BUCKETS + 1
    hist = np.bincount(local_rows * width + capped, minlength=n_rows * width).reshape(n_rows, width)
    at_least = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]  # at_least[u, t]: entries of row u with count >= t
    enough = at_least >= k  # True up to the largest such t, then False
    return np.where(enough.any(axis=1), COUNT_BUCKETS - np.argmax(enough[:, ::-1], axis=1), 0)


def _rank_order(local_rows: np.ndarray, counts: np.ndarray, tie_key: np.ndarray) -> np.ndarray:
    """Positions ordered by row, then count descending, then ``tie_key`` (in [0, 2^32)) descending; equal
    triples keep their input order. One stable sort of a packed int64 key (a 4-key ``np.lexsort`` was 4-10x
    slower), or the lexsort when the counts do not fit beside the row and the key."""
    if len(local_rows) == 0:
        return np.zeros(0, dtype=np.int64)
    row_bits = max(int(local_rows.max()).bit_length(), 1)
    count_bits = 63 - 32 - row_bits
    top = int(counts.max())
    if count_bits < 1 or top >= 1 << count_bits:
        return np.lexsort((np.arange(len(local_rows)), -tie_key, -counts, local_rows))
    key = (local_rows << (32 + count_bits)) | ((top - counts) << 32) | (0xFFFFFFFF - tie_key)
    return torch.sort(torch.from_numpy(key), stable=True).indices.numpy()


def user_cooccurrence_graph(train: sp.csr_matrix, k: int, *, chunk_size: int = 1024, seed: int = 0,
                            max_entries: int = 1 << 24) -> sp.csr_matrix:
    """Directed graph linking each user to the ``k`` users sharing the most training items.

    Edge weights are the shared-item counts; users sharing nothing are never linked. Ties at the k-th
    place are broken pseudo-randomly (fixed ``seed``), not by user id: on sparse data most users have
    such ties (on TikTok about 72 % at k = 40), and breaking them by id would link everyone to the same
    low-id users.

    Sparse throughout: a chunk of users is multiplied with the item-user matrix and only its non-zero counts
    are ranked, and chunks hold at most ``max_entries`` candidate pairs (a user's row has at most the sum of
    its items' degrees), so memory is bounded whatever the number of users. The cost is the sum over items
    of their squared degree (a dense (chunk, users) block per chunk was 4 GB per 1,024 users at 1 M users);
    only pairs that can still reach a user's top k (see ``_kth_count_lower_bound``) are hashed and sorted.
    """
    train = (train > 0).astype(np.float32).tocsr()
    n = train.shape[0]
    k = min(k, n - 1)
    item_user = train.T.tocsr()
    bound = np.cumsum(train @ item_user.getnnz(axis=1).astype(np.float64))  # candidate pairs, cumulated
    rows, cols, vals = [], [], []
    start = 0
    while start < n:
        before = bound[start - 1] if start else 0.0
        stop = int(np.searchsorted(bound, before + max_entries, side="right"))
        stop = min(max(stop, start + 1), start + chunk_size, n)
        block = (train[start:stop] @ item_user).tocsr()  # shared counts of this chunk's users, non-zeros only
        block.sort_indices()  # by (user, other user): equal sort keys below then keep the other user's order
        block = block.tocoo()
        r, c, counts = block.row.astype(np.int64) + start, block.col.astype(np.int64), block.data
        off_diagonal = r != c
        r, c, counts = r[off_diagonal], c[off_diagonal], counts[off_diagonal]
        keep = counts >= _kth_count_lower_bound(r - start, counts, stop - start, k)[r - start]
        r, c, counts = r[keep], c[keep], counts[keep]
        # equal counts in the pseudo-random order of a hash of the pair, whatever the chunking (an integer key:
        # count + a float jitter, as before, collides in float32 once counts are large, and would then fall back
        # to the user id)
        tie_key = _pair_hash(torch.from_numpy(r), torch.from_numpy(c), seed).numpy()
        order = _rank_order(r - start, counts.astype(np.int64), tie_key)
        r, c, counts = r[order], c[order], counts[order]
        rank = np.arange(len(r)) - np.searchsorted(r, r)  # place within the user's own list
        top = rank < k
        rows.append(r[top])
        cols.append(c[top])
        vals.append(counts[top])
        start = stop
    return _topk_to_csr(rows, cols, vals, n)


IMAGE_MODALITY_NAMES = ("image", "visual", "v")


def modality_graph_weights(names: list[str], image_weight: float) -> dict[str, float]:
    """Weights of the per-modality item graphs in the fused graph (MMRec's ``mm_image_weight``).

    MMRec weighs its image graph ``image_weight`` and its text graph ``1 - image_weight``. Generalised:
    the image modalities (named ``image``, ``visual`` or ``v``, any case) share ``image_weight`` equally
    and the others share ``1 - image_weight`` equally; when either group is empty the other one gets
    all the weight (one modality: weight 1). The weights always sum to 1.
    """
    if not names:
        raise ValueError("modality_graph_weights: no modalities")
    if not 0.0 <= image_weight <= 1.0:
        raise ValueError(f"image_weight must be in [0, 1], got {image_weight}")
    image = [n for n in names if n.lower() in IMAGE_MODALITY_NAMES]
    other = [n for n in names if n.lower() not in IMAGE_MODALITY_NAMES]
    if not image or not other:
        return {n: 1.0 / len(names) for n in names}
    return {n: (image_weight / len(image) if n in image else (1.0 - image_weight) / len(other)) for n in names}


def fused_item_knn_graph(features: dict[str, np.ndarray | torch.Tensor], k: int, image_weight: float = 0.1, *,
                         how: KnnNorm = "sym_directed", include_self: bool = True, chunk_size: int = 2048,
                         device: torch.device | str = "cpu") -> sp.csr_matrix:
    """FREEDOM's/DRAGON's frozen item-item graph: sum over modalities of weight_m * normalise(kNN_m).

    Each kNN_m is the binary top-``k`` cosine graph of the raw features of modality m (self included,
    as in MMRec), normalised by :func:`normalize_graph` ``how`` (default ``sym_directed``: MMRec's);
    the weights come from :func:`modality_graph_weights`. Sparse throughout: never a dense n x n matrix.
    """
    if not features:
        raise ValueError("fused_item_knn_graph: no modalities")
    weights = modality_graph_weights(list(features), image_weight)
    fused = None
    for name, feats in features.items():
        graph = weights[name] * normalize_graph(
            item_knn_graph(feats, k, chunk_size=chunk_size, include_self=include_self, device=device), how)
        fused = graph if fused is None else fused + graph
    fused = fused.astype(np.float32).tocsr()
    fused.eliminate_zeros()
    fused.sort_indices()
    return fused
