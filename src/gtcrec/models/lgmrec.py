"""LGMRec: local and global graph learning for multimodal recommendation.

Guo, Li, Li, Wang, Liu. "LGMRec: Local and Global Graph Learning for Multimodal Recommendation".
AAAI 2024. Official code: github.com/georgeguo-cn/LGMRec; reference re-implementation: MMRec
(github.com/enoche/MMRec, ``src/models/lgmrec.py``).

* **Local, collaborative (CGE)**: LightGCN (``n_ui_layers``, mean over layers) over
  ``[user ID; item ID]`` gives ``cge``.
* **Local, modality (MGE)**, for each modality m: ``item_m = x_m W_m`` (a learned ``dim_m x d``
  matrix, xavier-initialised, raw features frozen); ``user_m`` is the mean of the user's training
  items' ``item_m`` (row-normalised R). ``[user_m; item_m]`` is then propagated ``n_mm_layers``
  times over the symmetric-normalised bipartite graph (the last layer is kept, with no mean) to
  give ``mge_m``. ``lge = cge + sum_m normalize(mge_m)``.
* **Global, hypergraph (GHE)**, for each modality m: a learned hyperedge matrix
  ``H_m`` (``dim_m x n_hyper``). Item-hyperedge logits are ``x_m H_m``; user-hyperedge logits are
  ``R_bin (x_m H_m)``, the *sum* over the user's training items with the unnormalised binary R,
  as MMRec does (``torch.mm(self.adj, iv_hyper)``). In training both go through
  ``gumbel_softmax(tau, hard=False)`` and dropout (keep ``keep_rate``). One HGNN layer (repeated
  ``n_hyper_layers`` times) gives ``lat = I_h^T cge_items``, ``item_h = I_h lat`` and
  ``user_h = U_h lat``. ``ghe = sum_m [user_h_m; item_h_m]``.
* Final: ``lge + alpha * normalize(ghe)``, scored by dot product.

Loss: BPR on the final embeddings, ``+ reg_weight * (|u| + |i| + |j|) / batch``, the unsquared
Frobenius norms of the final batch embeddings as in MMRec's ``reg_loss``. Added to that:
``cl_weight *`` a hypergraph contrastive loss. For every pair of modalities (a, b), a < b, each
batch user's ``user_h_a`` is pulled to its ``user_h_b`` and each positive item's ``item_h_a`` to
its ``item_h_b``. Cosine, temperature ``tau``. By default the negatives are **all** users (all
items) of modality b's table, as in MMRec's ``ssl_triple_loss``, and the terms are summed over the
batch (not averaged) as there. ``cl_negatives: batch`` uses only the batch's rows as negatives:
on CPU, TikTok's all-table logits (2048 x 9308 and 2048 x 6710 per batch) take most of an epoch.

Deviations from the paper / MMRec:

* **Deterministic evaluation**: MMRec applies gumbel noise in ``forward`` at evaluation too, so its
  scores change from call to call. Here, in eval mode, the hyperedge assignments are the
  deterministic ``softmax(logits / tau)`` (the noise-free gumbel-softmax) with no dropout. In
  training mode they are gumbel-softmax plus dropout, as in MMRec.
* **Any M >= 1 modalities** instead of exactly (image, text). The contrastive loss averages its
  per-pair terms over the M(M-1)/2 modality pairs (for M = 2 this is MMRec's loss exactly); with
  M = 1 there is no pair and the contrastive term is 0. MMRec falls back to plain LightGCN unless
  both modalities are present, and in that case its return statement crashes.
* **Regulariser**: MMRec's, on the final batch embeddings with unsquared norms divided by the
  batch size. It is not the paper's ``lambda ||Theta||^2``, and not an L2 on layer-0 ID
  embeddings. At ``reg_weight = 1e-6`` the choice is immaterial.
* **Official-code bug not reproduced**: the official repository assigns the text user-hyperedge
  gumbel-softmax to ``uv_hyper`` (so the visual users get text assignments, and the text users get
  raw logits). MMRec fixed this, and so do we.
* **Defaults**: ``alpha = 0.2``. MMRec's shipped LGMRec.yaml uses Baby's setting
  (``alpha 0.3, keep_rate 0.5, hyper_num 4, n_hyper_layer 1``); its commented-out rows are Sports
  (``alpha 0.6, keep_rate 0.4``) and Clothing (``alpha 0.2, keep_rate 0.2, hyper_num 64,
  n_hyper_layer 2``). The other defaults (embedding 64, n_ui_layers 2, n_mm_layers 2,
  cl_weight 1e-4, reg_weight 1e-6, tau 0.2, lr 1e-3, batch 2048) match that config. ``tau`` is
  hard-coded to 0.2 in MMRec and is an option here.
* **Contrastive loss computed with log-sum-exp** (``-(pos - logsumexp(all))``): the same value as
  MMRec's ``-log(exp(pos) / sum(exp))``, without overflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from ..config import check_choices
from ..graph import lightgcn_propagate, propagate, to_torch_sparse
from . import mgcn
from .base import (
    ModelInputs,
    Recommender,
    batch_rows,
    bpr_loss,
    content_features,
    register_model,
)
from .sparse_ops import register_sparse, sparse_product


@dataclass
class LGMRecConfig:
    embedding_dim: int = 64  # also MMRec's feat_embed_dim: the MGE and CGE embeddings are added
    n_ui_layers: int = 2  # LightGCN layers of the collaborative graph embedding
    n_mm_layers: int = 2  # propagation steps of the modality graph embedding
    n_hyper: int = 4  # hyperedges per modality (MMRec: hyper_num)
    n_hyper_layers: int = 1  # HGNN layers (MMRec: n_hyper_layer)
    keep_rate: float = 0.5  # dropout keep probability on the hyperedge assignments (training only)
    alpha: float = 0.2  # weight of the global hypergraph embedding
    tau: float = 0.2  # gumbel-softmax and contrastive temperature
    cl_weight: float = 1e-4
    reg_weight: float = 1e-6
    # all: every user/item of the table (MMRec) | batch: the batch's rows only (cheaper)
    cl_negatives: Literal["all", "batch"] = "all"

    def __post_init__(self):
        check_choices(self, "LGMRec")
        for name in ("embedding_dim", "n_ui_layers", "n_hyper", "n_hyper_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"LGMRec option {name}={getattr(self, name)}: expected >= 1")
        if self.n_mm_layers < 0:
            raise ValueError(f"LGMRec option n_mm_layers={self.n_mm_layers}: expected >= 0")
        if not 0 < self.keep_rate <= 1:
            raise ValueError(f"LGMRec option keep_rate={self.keep_rate}: expected 0 < keep_rate <= 1")
        if self.tau <= 0:
            raise ValueError(f"LGMRec option tau={self.tau}: expected > 0")


def hypergraph_contrastive(anchor: torch.Tensor, positive: torch.Tensor, table: torch.Tensor,
                           tau: float) -> torch.Tensor:
    """MMRec's ``ssl_triple_loss``: summed InfoNCE of ``anchor`` rows against ``positive`` rows.

    Every row of ``table`` is a negative; as in MMRec, the positive row is normally one of them. When ``table`` is
    ``positive`` itself (in-batch negatives), a batch above IN_BATCH_MAX_ROWS is split into groups, as for
    MGCN's InfoNCE; a whole table (``cl_negatives: all``) costs batch x table whatever the batch.
    """
    if table is positive and len(anchor) > mgcn.IN_BATCH_MAX_ROWS:
        return sum(hypergraph_contrastive(a, p, p, tau) for a, p in mgcn.in_batch_groups(anchor, positive))
    a = F.normalize(anchor, dim=1) / tau  # scale the (batch, d) side, not the (batch, table) logits
    pos = (a * F.normalize(positive, dim=1)).sum(dim=1)
    return -(pos - torch.logsumexp(a @ F.normalize(table, dim=1).T, dim=1)).sum()


@register_model
class LGMRec(Recommender):
    name = "lgmrec"
    config_class = LGMRecConfig

    def __init__(self, inputs: ModelInputs, config: LGMRecConfig):
        super().__init__(inputs, config)
        feats = content_features(inputs, "LGMRec")
        d = config.embedding_dim
        self.modalities = list(inputs.features)

        self.user_embedding = nn.Embedding(self.n_users, d)
        self.item_embedding = nn.Embedding(self.n_items, d)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)

        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        binary = (inputs.train_csr > 0).astype(np.float32).tocsr()
        deg = np.asarray(binary.sum(axis=1)).ravel()
        inv = np.zeros_like(deg)
        inv[deg > 0] = 1.0 / deg[deg > 0]
        register_sparse(self, "user_item_sum", binary)  # user-hyperedge logits: sum over the user's items
        register_sparse(self, "user_item_mean", sp.diags(inv) @ binary)  # MGE user init: mean of the items
        for idx, f in enumerate(feats):
            self.register_buffer(f"feature_{idx}", torch.from_numpy(f), persistent=False)

        self.transform = nn.ParameterList(
            [nn.Parameter(nn.init.xavier_uniform_(torch.empty(f.shape[1], d))) for f in feats])
        self.hyperedges = nn.ParameterList(
            [nn.Parameter(nn.init.xavier_uniform_(torch.empty(f.shape[1], config.n_hyper))) for f in feats])

    def hyperedge_assignments(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(item x hyperedge, user x hyperedge) soft assignments of modality ``idx``.

        Training: gumbel-softmax then dropout (stochastic). Eval: ``softmax(logits / tau)`` (deterministic).
        """
        cfg = self.config
        item_logits = getattr(self, f"feature_{idx}") @ self.hyperedges[idx]
        user_logits = sparse_product(self, "user_item_sum", item_logits)
        if self.training:
            drop = 1.0 - cfg.keep_rate
            item_h = F.dropout(F.gumbel_softmax(item_logits, tau=cfg.tau, hard=False, dim=1), drop)
            user_h = F.dropout(F.gumbel_softmax(user_logits, tau=cfg.tau, hard=False, dim=1), drop)
        else:
            item_h = torch.softmax(item_logits / cfg.tau, dim=1)
            user_h = torch.softmax(user_logits / cfg.tau, dim=1)
        return item_h, user_h

    def encode(self) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``final``, ``cge``, ``lge`` over all nodes; per-modality ``hyper_users`` / ``hyper_items``."""
        cfg = self.config
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        cge = lightgcn_propagate(self.adjacency, ego, cfg.n_ui_layers)
        cge_items = cge[self.n_users:]
        lge = cge
        hyper_users, hyper_items = [], []
        for idx in range(len(self.modalities)):
            item_m = getattr(self, f"feature_{idx}") @ self.transform[idx]
            user_m = sparse_product(self, "user_item_mean", item_m)
            mge = torch.cat([user_m, item_m])
            for _ in range(cfg.n_mm_layers):
                mge = propagate(self.adjacency, mge)
            lge = lge + F.normalize(mge, dim=1)

            item_h, user_h = self.hyperedge_assignments(idx)
            item_out = cge_items
            for _ in range(cfg.n_hyper_layers):
                lat = item_h.T @ item_out
                item_out = item_h @ lat
                user_out = user_h @ lat
            hyper_users.append(user_out)
            hyper_items.append(item_out)
        ghe = torch.cat([sum(hyper_users), sum(hyper_items)])
        final = lge + cfg.alpha * F.normalize(ghe, dim=1)
        return {"final": final, "cge": cge, "lge": lge, "hyper_users": hyper_users, "hyper_items": hyper_items}

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        final = self.encode()["final"]
        return final[: self.n_users], final[self.n_users:]

    def loss(self, users, pos, neg):
        cfg = self.config
        enc = self.encode()
        final = enc["final"]
        user_final, item_final = final[: self.n_users], final[self.n_users:]
        u, i, j = batch_rows(user_final, item_final, users, pos, neg)
        bpr = bpr_loss((u * i).sum(-1), (u * j).sum(-1))
        reg = cfg.reg_weight * (u.norm() + i.norm() + j.norm()) / len(users)
        hu, hi = enc["hyper_users"], enc["hyper_items"]
        pairs = list(combinations(range(len(self.modalities)), 2)) if cfg.cl_weight else []
        cl = final.new_zeros(())
        for a, b in pairs:
            ub, ib = hu[b].index_select(0, users), hi[b].index_select(0, pos)
            all_negatives = cfg.cl_negatives == "all"
            cl = cl + hypergraph_contrastive(hu[a].index_select(0, users), ub, hu[b] if all_negatives else ub, cfg.tau)
            cl = cl + hypergraph_contrastive(hi[a].index_select(0, pos), ib, hi[b] if all_negatives else ib, cfg.tau)
        if pairs:
            cl = cl / len(pairs)
        cl = cfg.cl_weight * cl
        return {"loss": bpr + reg + cl, "bpr": bpr, "reg": reg, "cl": cl}
