"""Vectorised helpers to read CSR rows for a batch of users, on any device."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


class CSRRows:
    """A binary user x item CSR matrix held as torch tensors, for batched row look-ups."""

    def __init__(self, mat: sp.csr_matrix, device: torch.device | str = "cpu"):
        mat = mat.tocsr()
        mat.sort_indices()
        self.shape = mat.shape
        self.indptr = torch.from_numpy(mat.indptr.astype(np.int64)).to(device)
        self.indices = torch.from_numpy(mat.indices.astype(np.int64)).to(device)

    def row_lengths(self, rows: torch.Tensor) -> torch.Tensor:
        return self.indptr[rows + 1] - self.indptr[rows]

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch position, column) of every stored entry of ``rows``; no Python loop over rows."""
        starts = self.indptr[rows]
        counts = self.indptr[rows + 1] - starts
        batch_pos = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts)
        first = torch.cumsum(counts, 0) - counts
        offsets = torch.arange(int(counts.sum()), device=rows.device) - first[batch_pos] + starts[batch_pos]
        return batch_pos, self.indices[offsets]


def mask_rows(scores: torch.Tensor, users: torch.Tensor, exclude: sp.csr_matrix | CSRRows) -> None:
    """Set ``scores[b, i] = -inf`` for every item ``i`` in row ``users[b]`` of ``exclude`` (in place)."""
    if not isinstance(exclude, CSRRows):
        exclude = CSRRows(exclude, scores.device)
    pos, cols = exclude.gather(users.to(exclude.indptr.device))
    scores[pos, cols] = float("-inf")



def block_topk(scores: torch.Tensor, k: int, block: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(scores, k, dim=1)`` (values and indices, best first), found through block maxima.

    Exact: an item among a row's top k lies in a block whose maximum is among the row's k largest block
    maxima (fewer than k items beat it, so fewer than k blocks can have a larger maximum). So each row's k
    best blocks by maximum are gathered (k x block scores, plus the columns after the last whole block) and
    ranked: on CPU about twice as fast as a topk over long rows (measured ad hoc: 4,096 x 63,000 scores, k 50,
    0.40-0.52 s against 0.72-0.84 s on one thread, two other jobs on the machine). Rows shorter than 16 k blocks, and other devices,
    use ``torch.topk``. Items with
    exactly equal scores may come in another order than ``torch.topk``'s.
    """
    rows, n = scores.shape
    k = min(k, n)
    n_blocks = n // block
    if n_blocks < 16 * k or scores.device.type != "cpu":  # (at 18,000 items and k 50 it does not pay)
        return torch.topk(scores, k, dim=1)
    whole = n_blocks * block
    blocks = scores[:, :whole].unflatten(1, (n_blocks, block))  # a view: no copy of the scores
    best = torch.topk(blocks.amax(dim=2), k, dim=1).indices  # (rows, k)
    candidates = blocks[torch.arange(rows, device=scores.device).unsqueeze(1), best].reshape(rows, k * block)
    if whole < n:  # the columns after the last whole block are always candidates
        candidates = torch.cat([candidates, scores[:, whole:]], dim=1)
    values, where = torch.topk(candidates, k, dim=1)
    in_blocks = where < k * block
    slot = torch.where(in_blocks, where, 0)
    items = torch.where(in_blocks, best.gather(1, slot // block) * block + slot % block, where - k * block + whole)
    return values, items
