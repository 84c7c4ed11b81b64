"""Exact top-k retrieval: score products in user and item chunks with a running top-k (bounded memory)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from ..evaluation.ranking import CSRRows

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def dot_scores(user_reps: torch.Tensor, item_reps: torch.Tensor) -> torch.Tensor:
    return user_reps @ item_reps.T


@torch.no_grad()
def exact_top_k(user_reps: torch.Tensor, item_reps: torch.Tensor, users: torch.Tensor, k: int, *,
                exclude: CSRRows | None = None, score: ScoreFn = dot_scores, user_batch: int = 1024,
                item_batch: int = 1 << 16) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For each batch of ``users``: (users, items (b, k'), scores (b, k')), best first, k' = min(k, n_items).

    Items in a user's ``exclude`` row score -inf (they come last, and only when fewer than k' others
    remain). Peak memory is about ``user_batch * (item_batch + 2k)`` scores, whatever the catalogue size.
    With one item chunk this is exactly the evaluator's ranking: one ``topk`` over the masked row.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_items = item_reps.shape[0]
    k = min(k, n_items)
    for start in range(0, len(users), user_batch):
        rows = users[start:start + user_batch]
        u = user_reps[rows]
        if exclude is not None:
            pos, cols = exclude.gather(rows.to(exclude.indptr.device))
            pos, cols = pos.to(u.device), cols.to(u.device)
        best_scores = best_items = None
        for lo in range(0, n_items, item_batch):
            hi = min(lo + item_batch, n_items)
            chunk = score(u, item_reps[lo:hi]).float()
            if exclude is not None:
                inside = (cols >= lo) & (cols < hi)
                chunk[pos[inside], cols[inside] - lo] = float("-inf")
            top = torch.topk(chunk, min(k, hi - lo), dim=1)
            items = top.indices + lo
            if best_scores is None:
                best_scores, best_items = top.values, items
            else:
                merged_scores = torch.cat([best_scores, top.values], dim=1)
                merged_items = torch.cat([best_items, items], dim=1)
                keep = torch.topk(merged_scores, k, dim=1)
                best_scores, best_items = keep.values, merged_items.gather(1, keep.indices)
        yield rows, best_items, best_scores
