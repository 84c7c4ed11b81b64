"""Full-ranking evaluation: every item is scored for every evaluated user, training items masked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..data.dataset import InteractionData
from .metrics import topk_metrics
from .names import METRICS
from .ranking import CSRRows, block_topk, mask_rows


@dataclass
class TopKBatch:
    """One batch of evaluated users with their top-k items (training items masked) and which are hits."""

    users: torch.Tensor  # (b,)
    items: torch.Tensor  # (b, k), best first
    hits: torch.Tensor  # (b, k) bool: the item is one of the user's targets in the split


@dataclass
class EvalResult:
    metrics: dict[str, float]
    n_users: int
    per_user: dict[str, torch.Tensor] | None = None


class Evaluator:
    """Evaluates one split of ``data``.

    Evaluated users: those with at least one interaction in the split *and* at least one
    training interaction (MMRec's policy; a user with no history cannot be ranked for).
    Masked: the user's training items; with ``mask_valid`` also validation items (test only).
    """

    def __init__(self, data: InteractionData, split: str, *, ks: list[int] | tuple[int, ...] = (5, 10, 20, 50),
                 batch_size: int = 4096, device: torch.device | str = "cpu", mask_valid: bool = False):
        if split not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        self.split = split
        self.ks = sorted({int(k) for k in ks})
        self.max_k = min(max(self.ks), data.n_items)
        self.ks = [k for k in self.ks if k <= self.max_k] or [self.max_k]
        self.batch_size = batch_size
        self.device = torch.device(device)
        target = data.csr(split)
        exclude = data.csr("train")
        if split == "test" and mask_valid:
            exclude = ((exclude + data.csr("valid")) > 0).astype(np.float32).tocsr()
        has_target = np.diff(target.indptr) > 0
        users = np.flatnonzero(has_target & data.users_with_train())
        self.users = torch.from_numpy(users).to(self.device)
        self.target = CSRRows(target, self.device)
        # Sorted user * n_items + item keys of the split's pairs: hit look-up by binary search.
        self.target_keys = torch.from_numpy(np.sort(data.pairs(split) @ np.array([data.n_items, 1]))).to(self.device)
        self.exclude = CSRRows(exclude, self.device)
        self.n_items = data.n_items
        self.sharded = False

    def shard(self, rows: slice) -> Evaluator:
        """Evaluate only these rows of the user list (this rank's share, from ``train.distributed.share``);
        :meth:`evaluate` then adds up all ranks' sums (every rank must call it). Used by data-parallel training."""
        self.users = self.users[rows]
        self.sharded = True
        return self

    def _is_target(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users * self.n_items + items
        idx = torch.searchsorted(self.target_keys, keys).clamp_(max=len(self.target_keys) - 1)
        return self.target_keys[idx] == keys

    @torch.no_grad()
    def evaluate(self, model, *, per_user: bool = False) -> EvalResult:
        return self.evaluate_scores(model_scorer(model), per_user=per_user)

    @torch.no_grad()
    def evaluate_scores(self, score_fn: Callable[[torch.Tensor], torch.Tensor], *, per_user: bool = False
                        ) -> EvalResult:
        """``score_fn(users) -> (len(users), n_items)`` scores, a fresh tensor (it is masked in place)."""
        sums: dict[str, torch.Tensor] = {}
        chunks: dict[str, list[torch.Tensor]] = {}
        for batch in self.top_k_batches(score_fn):
            values_by_metric = topk_metrics(batch.hits, self.target.row_lengths(batch.users), self.ks)
            for name, values in values_by_metric.items():
                sums[name] = sums.get(name, 0.0) + values.sum()
                if per_user:
                    chunks.setdefault(name, []).append(values.cpu())
        n = len(self.users)
        if self.sharded:  # every rank's sums and user count, added up (a rank's share may be empty)
            names = [f"{m}@{k}" for m in METRICS for k in self.ks]
            totals = torch.tensor([float(sums.get(name, 0.0)) for name in names] + [float(n)], dtype=torch.float64,
                                  device=self.device)  # NCCL reduces device tensors only
            torch.distributed.all_reduce(totals)
            sums, n = dict(zip(names, totals[:-1].tolist())), int(totals[-1])
        metrics = {name: float(total) / max(n, 1) for name, total in sums.items()}
        per = {name: torch.cat(vals) for name, vals in chunks.items()} if per_user else None
        return EvalResult(metrics, n, per)

    @torch.no_grad()
    def top_k_batches(self, score_fn: Callable[[torch.Tensor], torch.Tensor], k: int | None = None
                      ) -> Iterator[TopKBatch]:
        """Every evaluated user's top ``k`` (default: the largest metric cutoff) items, batch by batch.

        ``score_fn`` as in :meth:`evaluate_scores`; for a model, ``model_scorer(model)``.
        """
        k = self.max_k if k is None else min(int(k), self.n_items)
        for start in range(0, len(self.users), self.batch_size):
            users = self.users[start:start + self.batch_size]
            scores = score_fn(users).float()
            mask_rows(scores, users, self.exclude)
            top = block_topk(scores, k)[1]
            yield TopKBatch(users, top, self._is_target(users.unsqueeze(1), top))


def model_scorer(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """``score_fn`` for a model: its representations computed once, then scored per batch of users."""
    with torch.no_grad():
        user_reps, item_reps = model.representations()
    return lambda users: model.score(user_reps[users], item_reps)
