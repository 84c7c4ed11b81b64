"""Top-K metrics from a hit matrix. Definitions follow MMRec/RecBole (full ranking, binary relevance)."""

from __future__ import annotations

import torch

from .names import METRICS  # noqa: F401 -- re-exported: the one list lives in names.py, importable without torch


def topk_metrics(hits: torch.Tensor, n_pos: torch.Tensor, ks: list[int]) -> dict[str, torch.Tensor]:
    """Per-user metrics.

    ``hits``: bool (users, K) — whether the item at rank r (0-based) is relevant, K >= max(ks).
    ``n_pos``: (users,) number of relevant items (> 0).

    * recall@k = hits in top k / n_pos
    * precision@k = hits in top k / k
    * ndcg@k = DCG@k / IDCG@k, gains 1/log2(rank+2), IDCG over min(n_pos, k) hits
    * map@k = sum over hit ranks r < k of precision@(r+1), divided by min(n_pos, k)
    * hit@k = 1 if any hit in top k
    """
    hits = hits.float()
    n_pos = n_pos.float()
    K = hits.shape[1]
    ranks = torch.arange(K, device=hits.device, dtype=torch.float32)
    discounts = 1.0 / torch.log2(ranks + 2.0)
    cum_hits = hits.cumsum(1)
    dcg = (hits * discounts).cumsum(1)
    idcg_table = discounts.cumsum(0)
    prec_at_rank = cum_hits / (ranks + 1.0)
    ap_cum = (prec_at_rank * hits).cumsum(1)
    out = {}
    for k in ks:
        h = cum_hits[:, k - 1]
        ideal = torch.clamp(n_pos, max=k)
        out[f"recall@{k}"] = h / n_pos
        out[f"precision@{k}"] = h / k
        out[f"ndcg@{k}"] = dcg[:, k - 1] / idcg_table[ideal.long() - 1]
        out[f"map@{k}"] = ap_cum[:, k - 1] / ideal
        out[f"hit@{k}"] = (h > 0).float()
    return out
