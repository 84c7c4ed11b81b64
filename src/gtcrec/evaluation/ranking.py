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
