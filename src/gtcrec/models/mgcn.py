"""MGCN: Multi-View Graph Convolutional Network for multimedia recommendation.

Yu, Li, Zhou, Ma, Wang, Tang. "Multi-View Graph Convolutional Network for Multimedia
Recommendation". ACM MM 2023. Official code: github.com/demonph10/MGCN; reference
re-implementation: MMRec (github.com/enoche/MMRec, ``src/models/mgcn.py``).

Three kinds of view:

* **user-item view**: LightGCN (``n_ui_layers``, mean over layers) over ``[user ID; item ID]``
  gives the behaviour embeddings ``E``;
* **item-item view per modality m**: projected features ``f_m = Linear(dim_m -> d)(x_m)``. A
  behaviour-guided purifier ``item_m = item_ID * sigmoid(Linear(d, d)(f_m))`` filters the
  modality noise out of the item ID embedding. ``item_m`` is propagated ``n_layers`` times over a
  frozen top-``knn_k`` cosine item-item graph built from the raw features (self included), and
  ``user_m = R item_m`` with ``R`` the user-item block of the symmetric-normalised bipartite
  adjacency. The view is ``[user_m; item_m]``;
* **behaviour-aware fuser**: attention weights over modalities come from a shared query
  ``Linear(d, d) -> tanh -> Linear(d, 1, bias=False)``, with a softmax across modalities per node.
  ``common = sum_m w_m view_m``; ``specific_m = (view_m - common) * sigmoid(Linear_m(d, d)(E))``;
  ``side = (sum_m specific_m + common) / (M + 1)``. The final representation is ``E + side``.

Loss: BPR on the final embeddings, ``reg_weight * (|u|^2 + |i|^2 + |j|^2) / (2 * batch)`` on the
final batch embeddings, and ``cl_weight *`` [InfoNCE(side, E) over the batch's positive items +
InfoNCE(side, E) over the batch's users]. Both InfoNCE terms use cosine similarity, temperature
``temperature`` and in-batch negatives.

Works with any number M >= 1 of modalities, with any names. The official code and MMRec hard-code
exactly two modalities, image and text.

Deviations from the paper / MMRec:

* **Any M >= 1 modalities** instead of exactly (image, text): per-modality modules are lists in
  ``features`` order, and the fuser divides by ``M + 1``, where MMRec divides by 3. With M = 1 the
  fuser is the identity in theory (``w = 1``, ``common = view``, ``specific = 0``), so no query or
  preference gate is built and ``side = view / 2``, which is the same value.
* **kNN graph built chunked and sparse** with :func:`gtcrec.graph.item_knn_graph`: MMRec computes a
  dense n x n cosine matrix. By default the graph matches MMRec's ``build_knn_normalized_graph``:
  directed top-k (self included), edges weighted by cosine similarity, normalised
  ``D^-1/2 A D^-1/2`` with the *out*-degrees (no symmetrisation). The one difference is that
  negative similarities among the top k are clamped to 0, where MMRec keeps them. Options:
  ``knn_weighted=false`` gives binary edges, and ``knn_symmetrize=true`` symmetrises
  (``max(A, A^T)``) before a true symmetric normalisation via
  :func:`gtcrec.graph.normalize_graph`, as in FREEDOM-style graphs. The weighted directed graph
  is the default because it is what the MMRec and official numbers were produced with.
* **Attention softmax across modalities**, as in the paper and MMRec. The official repository's
  ``nn.Softmax(dim=0)`` normalises across *nodes*, which is a bug.
* **Raw features are trainable** (``trainable_features``, default true), as in the official code
  and MMRec (``nn.Embedding.from_pretrained(..., freeze=False)``). The kNN graph stays the one
  built from the initial features.
* **Regulariser divided by the actual batch size**: MMRec divides by the configured
  ``train_batch_size``, which differs only for the last, smaller batch.
* **No learning-rate scheduler**: the official and MMRec configs use
  ``learning_rate_scheduler: [0.96, 50]`` (lr * 0.96^(epoch/50)), and our trainer has none.
* **InfoNCE computed as a cross-entropy over logits** (log-sum-exp), which is the same value as
  MMRec's ``-log(exp(pos)/sum(exp))`` but does not overflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from ..evaluation.analysis import INTERACTION, ModalityViews
from ..graph import item_knn_graph, lightgcn_propagate, normalize_graph, to_torch_sparse
from .base import (
    ModelInputs,
    Recommender,
    batch_rows,
    bpr_loss,
    content_features,
    l2_penalty,
    register_model,
)
from .sparse_ops import register_sparse, sparse_product


@dataclass
class MGCNConfig:
    embedding_dim: int = 64
    knn_k: int = 10  # neighbours per item in each modality's item-item graph (self included)
    n_ui_layers: int = 2  # LightGCN layers on the user-item graph
    n_layers: int = 1  # propagation steps on the item-item graphs
    reg_weight: float = 1e-4
    cl_weight: float = 0.01  # MMRec's "cl_loss"
    temperature: float = 0.2
    knn_weighted: bool = True  # MMRec: edges carry the cosine similarity; false: binary
    knn_symmetrize: bool = False  # MMRec: directed kNN, out-degree normalisation; true: max(A, A^T), sym-normalised
    trainable_features: bool = True  # MMRec/official: raw features are fine-tuned (freeze=False)

    def __post_init__(self):
        for name in ("embedding_dim", "knn_k", "n_ui_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"MGCN option {name}={getattr(self, name)}: expected >= 1")
        if self.n_layers < 0:
            raise ValueError(f"MGCN option n_layers={self.n_layers}: expected >= 0")
        if self.temperature <= 0:
            raise ValueError(f"MGCN option temperature={self.temperature}: expected > 0")


def mgcn_knn_graph(features: np.ndarray, k: int, *, weighted: bool = True, symmetrize: bool = False
                   ) -> sp.csr_matrix:
    """Normalised top-``k`` cosine item-item graph (self included), built chunked and sparse.

    Default (MMRec's ``build_knn_normalized_graph(..., norm_type='sym')``): directed edges
    i -> top-k(i) weighted by cosine similarity, ``w_ij = a_ij / sqrt(d_i d_j)`` with ``d`` the
    out-degrees (row sums). ``symmetrize=True`` symmetrises first (``normalize_graph(., 'sym')``).
    """
    graph = item_knn_graph(features, k, include_self=True, weighted=weighted)
    return normalize_graph(graph, "sym" if symmetrize else "sym_directed")


# In-batch contrastive terms compare every row of a batch with every other: memory and time grow with the
# batch squared. With train.batches_per_epoch the batch grows with the data (37 k rows at 1.7 M interactions: a
# 5.5 GB logit matrix per term, and SMORE was killed for memory), so a larger batch is split into near-equal groups
# of at most this many rows, each row's negatives being its own group's. At the usual batch of 2,048 nothing changes.
IN_BATCH_MAX_ROWS = 4096


def in_batch_groups(*views: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """The aligned rows of ``views`` in near-equal groups of at most IN_BATCH_MAX_ROWS (one group: the views)."""
    groups = -(-len(views[0]) // IN_BATCH_MAX_ROWS)
    if groups <= 1:
        return [views]
    return list(zip(*(torch.tensor_split(v, groups) for v in views)))


def in_batch_info_nce(view1: torch.Tensor, view2: torch.Tensor,
                      logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Mean InfoNCE of row i of ``view1`` against row i of ``view2`` (the other rows of ``view2`` in its group of
    at most IN_BATCH_MAX_ROWS are the negatives), with ``logits(a, b)`` the (rows of a, rows of b) scores."""
    groups = in_batch_groups(view1, view2)
    if len(groups) == 1:
        scores = logits(view1, view2)
        return F.cross_entropy(scores, torch.arange(len(scores), device=scores.device))
    total = view1.new_zeros(())
    for a, b in groups:
        scores = logits(a, b)
        total = total + F.cross_entropy(scores, torch.arange(len(a), device=a.device), reduction="sum")
    return total / len(view1)


def info_nce(view1: torch.Tensor, view2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean InfoNCE of row i of ``view1`` against row i of ``view2`` over cosine similarities; the other rows of
    ``view2`` are negatives (within groups of IN_BATCH_MAX_ROWS)."""
    return in_batch_info_nce(view1, view2,
                             lambda a, b: F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature)


@register_model
class MGCN(Recommender):
    name = "mgcn"
    config_class = MGCNConfig

    def __init__(self, inputs: ModelInputs, config: MGCNConfig):
        super().__init__(inputs, config)
        feats = content_features(inputs, "MGCN")
        d = config.embedding_dim
        self.modalities = list(inputs.features)

        self.user_embedding = nn.Embedding(self.n_users, d)
        self.item_embedding = nn.Embedding(self.n_items, d)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)

        # Graphs are data, not state: non-persistent buffers.
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        n_u = self.n_users
        register_sparse(self, "user_item", inputs.norm_adjacency[:n_u, n_u:])
        for idx, f in enumerate(feats):
            graph = mgcn_knn_graph(f, config.knn_k, weighted=config.knn_weighted, symmetrize=config.knn_symmetrize)
            register_sparse(self, f"item_graph_{idx}", graph)

        if config.trainable_features:
            # A copy: a view of the dataset's arrays would let the optimizer rewrite them, and every later
            # seed or model in the same process would start from fine-tuned features.
            self.features = nn.ParameterList([nn.Parameter(torch.tensor(f)) for f in feats])
        else:
            for idx, f in enumerate(feats):
                self.register_buffer(f"feature_{idx}", torch.from_numpy(f), persistent=False)
        self.project = nn.ModuleList([nn.Linear(f.shape[1], d) for f in feats])
        self.purifier = nn.ModuleList([nn.Linear(d, d) for _ in feats])  # behaviour-guided purifier gates
        if len(feats) > 1:  # with one modality the fuser is the identity; see module docstring
            self.query = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 1, bias=False))
            self.prefer = nn.ModuleList([nn.Linear(d, d) for _ in feats])  # behaviour-aware preference gates

    def raw_features(self, idx: int) -> torch.Tensor:
        return self.features[idx] if self.config.trainable_features else getattr(self, f"feature_{idx}")

    def encode(self) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """All views over the ``n_users + n_items`` nodes.

        ``content``: behaviour embeddings E; ``views``: one ``[user_m; item_m]`` per modality;
        ``weights``: (nodes, M) attention over modalities; ``side``: fused multimodal embedding.
        """
        cfg = self.config
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        content = lightgcn_propagate(self.adjacency, ego, cfg.n_ui_layers)
        views = []
        for idx in range(len(self.modalities)):
            projected = self.project[idx](self.raw_features(idx))
            item_m = self.item_embedding.weight * torch.sigmoid(self.purifier[idx](projected))
            for _ in range(cfg.n_layers):
                item_m = sparse_product(self, f"item_graph_{idx}", item_m)
            user_m = sparse_product(self, "user_item", item_m)
            views.append(torch.cat([user_m, item_m]))
        if len(views) == 1:
            weights = torch.ones(len(content), 1, device=content.device)
            side = views[0] / 2
        else:
            stacked = torch.stack(views, dim=1)  # (nodes, M, d)
            weights = torch.softmax(self.query(stacked).squeeze(-1), dim=1)  # (nodes, M)
            common = (weights.unsqueeze(-1) * stacked).sum(dim=1)
            side = common
            for idx, view in enumerate(views):
                side = side + (view - common) * torch.sigmoid(self.prefer[idx](content))
            side = side / (len(views) + 1)
        return {"content": content, "views": views, "weights": weights, "side": side}

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.encode()
        final = enc["content"] + enc["side"]
        return final[: self.n_users], final[self.n_users:]

    def modality_views(self) -> ModalityViews:
        enc = self.encode()
        final, n_u = enc["content"] + enc["side"], self.n_users
        parts = {INTERACTION: enc["content"], **dict(zip(self.modalities, enc["views"]))}
        return ModalityViews(final[:n_u], {m: v[:n_u] for m, v in parts.items()},
                             {m: v[n_u:] for m, v in parts.items()})

    def loss(self, users, pos, neg):
        cfg = self.config
        enc = self.encode()
        content, side = enc["content"], enc["side"]
        final = content + side
        user_final, item_final = final[: self.n_users], final[self.n_users:]
        u, i, j = batch_rows(user_final, item_final, users, pos, neg)
        bpr = bpr_loss((u * i).sum(-1), (u * j).sum(-1))
        reg = cfg.reg_weight * l2_penalty(u, i, j)
        n_u = self.n_users
        cl = (info_nce(side[n_u:].index_select(0, pos), content[n_u:].index_select(0, pos), cfg.temperature)
              + info_nce(side[:n_u].index_select(0, users), content[:n_u].index_select(0, users), cfg.temperature))
        cl = cfg.cl_weight * cl
        return {"loss": bpr + reg + cl, "bpr": bpr, "reg": reg, "cl": cl}
