"""Approximate top-k by inner product through faiss (``pip install 'gtcrec[ann]'``).

An HNSW graph over the item representations, searched for each user's representation. Training items are
removed after the search, which therefore asks for k plus the batch's largest number of seen items.
"""

from __future__ import annotations

import numpy as np

from ..data.errors import DataError
from ..evaluation.ranking import CSRRows


def _faiss():
    try:
        import faiss
    except ImportError:
        raise DataError("approximate retrieval needs faiss: pip install 'gtcrec[ann]'") from None
    return faiss


class AnnIndex:
    """An inner-product HNSW index over ``item_reps`` (float32, (n_items, d))."""

    def __init__(self, item_reps: np.ndarray, *, m: int = 32, ef_construction: int = 200, ef_search: int = 128):
        faiss = _faiss()
        items = np.ascontiguousarray(item_reps, dtype=np.float32)
        self.n_items, dim = items.shape
        self.index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.index.hnsw.efSearch = ef_search
        self.index.add(items)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, items) of shape (n, k), best first; -inf / -1 where fewer than k were found."""
        k = min(k, self.n_items)
        self.index.hnsw.efSearch = max(self.index.hnsw.efSearch, k)  # HNSW returns at most efSearch results
        scores, items = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        scores[items < 0] = -np.inf
        return scores, items

    def top_k(self, queries: np.ndarray, users: np.ndarray, k: int, exclude: CSRRows | None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (items, scores) per query, with each user's ``exclude`` row removed."""
        k = min(k, self.n_items)
        if exclude is None:
            scores, items = self.search(queries, k)
            return items, scores
        counts = (exclude.row_lengths(_tensor(users))).numpy()
        extra = int(counts.max()) if len(counts) else 0
        scores, items = self.search(queries, k + extra)
        out_items = np.full((len(users), k), -1, dtype=np.int64)
        out_scores = np.full((len(users), k), -np.inf, dtype=np.float32)
        indptr, indices = exclude.indptr.numpy(), exclude.indices.numpy()
        for row, user in enumerate(users):  # one small set difference per user, after the search
            seen = indices[indptr[user]:indptr[user + 1]]
            keep = (items[row] >= 0) & ~np.isin(items[row], seen)
            kept = items[row][keep][:k]
            out_items[row, :len(kept)] = kept
            out_scores[row, :len(kept)] = scores[row][keep][:k]
        return out_items, out_scores


def _tensor(values: np.ndarray):
    import torch

    return torch.from_numpy(np.asarray(values, dtype=np.int64))
