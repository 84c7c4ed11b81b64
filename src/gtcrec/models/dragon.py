"""DRAGON: dual representations from the user-item graph plus user-user and item-item homogeneous graphs.

Hongyu Zhou, Xin Zhou, Lingzi Zhang and Zhiqi Shen. "Enhancing Dyadic Relations with Homogeneous
Graphs for Multimodal Recommendation." ECAI 2023 (arXiv 2301.12097). Reference code: DRAGON in MMRec
(https://github.com/enoche/MMRec, ``src/models/dragon.py``); this is our own implementation of it.

* **Per-modality heterogeneous graph learning.** For each modality m, a learned user preference matrix
  P_m (xavier normal) and an item MLP ``Linear(dim_m, 4d) -> leaky_relu -> Linear(4d, d)`` on the raw
  features; x = row-L2-normalised [P_m; MLP(f_m)], propagated over the symmetric-normalised user-item
  graph (no self loops): rep_m = x + A x + A^2 x (``n_ui_layers`` = 2 steps).
* **Attentive concatenation** (MMRec's ``construction='cat'``): items concatenate their rep_m; users
  concatenate softmax_m(weight_u)[u, m] * rep_m[u], with weight_u a learned (n_users, n_modalities)
  matrix (absent with a single modality, as in MMRec).
* **Item homogeneous graph**: the frozen fused kNN graph of FREEDOM (k = 10, image weight 0.1,
  :func:`gtcrec.graph.knn.fused_item_knn_graph`); items += A_ii^{n_layers} items.
* **User homogeneous graph**: each user's ``user_topk`` (40) users with the most shared training items,
  weighted by a softmax over those shared-item counts; users += A_uu users.
* **Loss**: BPR + ``reg_weight`` * (sum over m of mean(P_m[batch users]^2) + mean(weight_u^2)).

Defaults follow MMRec's DRAGON (d = 64, k = 10, 40 user neighbours, image weight 0.1, one item-graph
layer). MMRec tunes ``reg_weight`` in {1e-1, ..., 1e-5} and publishes no TikTok setting; the default is
1e-4. The recommended learning rate is DRAGON's 1e-4 (see ``presets/dragon.yaml``).

Deviations from the paper / MMRec:

* BPR uses the natural log (:func:`gtcrec.models.base.bpr_loss`); MMRec's DRAGON uses log2, i.e. its
  BPR term is 1/ln 2 ~ 1.44 times ours (a rescaling of the learning rate and of ``reg_weight``);
* ``user_weights="softmax"`` (default) normalises the user weights in every forward pass (a convex
  combination, as in the paper's attentive concatenation). MMRec applies the softmax once to the
  initial values and then trains the raw weights unconstrained (``user_weights="raw"``), which also
  lets them scale the user representations;
* the user-user softmax runs over each user's stored neighbours only (users with fewer than
  ``user_topk`` co-interacting users get fewer neighbours; users with none get none). MMRec pads such
  users to exactly 40 neighbours by re-drawing random duplicates every epoch, which re-weights the
  duplicated neighbours; ours is deterministic and built once. Ties in the shared-item counts at the
  ``user_topk``-th place are broken arbitrarily (as by MMRec's topk);
* the user-user graph is built from the training interactions here (MMRec reads a precomputed
  ``user_graph_dict.npy``, also built from training interactions, keeping at most 200 neighbours);
* the item kNN graphs are computed chunked and sparse instead of MMRec's dense n x n similarity; the
  default ``knn_norm="sym_directed"`` is MMRec's normalisation of its directed kNN graph;
* any number (>= 1) of modalities with any names (MMRec: image and/or text); the image modality
  (``image``/``visual``/``v``) gets ``image_weight`` in the item graph;
* MMRec's unused pieces are left out: ``weight_i``, ``MLP_user``, the per-modality item dropping
  (computed but never used in its forward pass) and the trainable copies of the features (never read).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from ..graph import directed_propagate, propagate, to_torch_sparse
from ..graph.knn import NORMALIZATIONS, fused_item_knn_graph, user_cooccurrence_graph
from .base import (
    ModelInputs,
    Recommender,
    bpr_loss,
    check_modality_names,
    register_model,
)


def softmax_user_graph(train: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """DRAGON's user-user graph: each user's top-``k`` co-interacting users, weights softmax(shared counts).

    The softmax runs over each row's stored entries only, so rows with neighbours sum to 1 and users
    sharing no item with anyone keep an empty row. No self loops. Vectorised; never dense n x n.
    """
    graph = user_cooccurrence_graph(train, k).tocsr()
    counts = graph.data.astype(np.float64)
    n = graph.shape[0]
    rows = np.repeat(np.arange(n), np.diff(graph.indptr))
    row_max = np.full(n, -np.inf)
    np.maximum.at(row_max, rows, counts)
    expd = np.exp(counts - row_max[rows])
    sums = np.bincount(rows, weights=expd, minlength=n)
    out = sp.csr_matrix(((expd / sums[rows]).astype(np.float32), graph.indices.copy(), graph.indptr.copy()),
                        shape=graph.shape)
    out.sort_indices()
    return out


@dataclass
class DRAGONConfig:
    embedding_dim: int = 64
    knn_k: int = 10  # neighbours per item in each modality's kNN graph (self included)
    image_weight: float = 0.1  # MMRec's mm_image_weight
    knn_norm: str = "sym_directed"  # MMRec: directed kNN graph, out-degree normalisation | sym
    n_layers: int = 1  # propagation steps over the item-item graph (MMRec's n_mm_layers)
    n_ui_layers: int = 2  # propagation steps over the user-item graph (MMRec: 2, fixed)
    user_topk: int = 40  # neighbours per user in the user-user graph
    reg_weight: float = 1e-4  # MMRec grid {1e-1, 1e-2, 1e-3, 1e-4, 1e-5}
    # softmax: convex modality weights in every pass | raw: MMRec (softmax once at init, then free weights)
    user_weights: str = "softmax"

    def __post_init__(self):
        if self.user_weights not in ("softmax", "raw"):
            raise ValueError(f"DRAGON option user_weights={self.user_weights!r}: expected 'softmax' or 'raw'")
        if self.knn_norm not in NORMALIZATIONS:
            raise ValueError(f"DRAGON option knn_norm={self.knn_norm!r}: expected one of {NORMALIZATIONS}")
        if not 0.0 <= self.image_weight <= 1.0:
            raise ValueError(f"DRAGON option image_weight={self.image_weight}: expected a value in [0, 1]")
        for name in ("embedding_dim", "knn_k", "user_topk"):
            if getattr(self, name) < 1:
                raise ValueError(f"DRAGON option {name}={getattr(self, name)}: expected >= 1")
        for name in ("n_layers", "n_ui_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"DRAGON option {name}={getattr(self, name)}: expected >= 0")


@register_model
class DRAGON(Recommender):
    name = "dragon"
    config_class = DRAGONConfig

    def __init__(self, inputs: ModelInputs, config: DRAGONConfig):
        super().__init__(inputs, config)
        self.modalities = list(inputs.features)
        if not self.modalities:
            raise ValueError("DRAGON needs at least one item feature modality; the data has none "
                             "(use lightgcn or freedom for interaction-only data)")
        check_modality_names(self.modalities, "DRAGON")
        d = config.embedding_dim
        self.preference = nn.ParameterDict({
            m: nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_users, d))) for m in self.modalities})
        self.mlp = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(inputs.features[m].shape[1], 4 * d), nn.LeakyReLU(), nn.Linear(4 * d, d))
            for m in self.modalities})
        if len(self.modalities) > 1:
            weight_u = nn.init.xavier_normal_(torch.empty(self.n_users, len(self.modalities)))
            if config.user_weights == "raw":  # MMRec: start from the softmax, then train the weights freely
                weight_u = torch.softmax(weight_u, dim=1)
            self.weight_u = nn.Parameter(weight_u)
        for i, m in enumerate(self.modalities):
            self.register_buffer(f"_feat{i}", torch.as_tensor(np.asarray(inputs.features[m]), dtype=torch.float32),
                                 persistent=False)

        # Graphs: data, not state (move with .to(), not saved in checkpoints).
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        item_graph = fused_item_knn_graph(dict(inputs.features), config.knn_k, config.image_weight,
                                          how=config.knn_norm)
        self.register_buffer("item_graph", to_torch_sparse(item_graph), persistent=False)
        self.register_buffer("item_graph_t", None if config.knn_norm == "sym" else
                             to_torch_sparse(item_graph.T.tocsr()), persistent=False)
        user_graph = softmax_user_graph(inputs.train_csr, config.user_topk)
        self.register_buffer("user_graph", to_torch_sparse(user_graph), persistent=False)
        self.register_buffer("user_graph_t", to_torch_sparse(user_graph.T.tocsr()), persistent=False)

    def modality_reps(self, m: str) -> torch.Tensor:
        """rep_m = x + A x + ... + A^L x over the user-item graph, x = normalised [P_m; MLP(f_m)]."""
        items = self.mlp[m](getattr(self, f"_feat{self.modalities.index(m)}"))
        x = F.normalize(torch.cat([self.preference[m], items], dim=0), dim=1)
        rep, h = x, x
        for _ in range(self.config.n_ui_layers):
            h = propagate(self.adjacency, h)
            rep = rep + h
        return rep

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        reps = [self.modality_reps(m) for m in self.modalities]
        items = torch.cat([r[self.n_users:] for r in reps], dim=1)
        if len(reps) == 1:
            users = reps[0][: self.n_users]
        else:
            alpha = torch.softmax(self.weight_u, dim=1) if self.config.user_weights == "softmax" else self.weight_u
            users = torch.cat([alpha[:, j:j + 1] * r[: self.n_users] for j, r in enumerate(reps)], dim=1)
        h = items
        for _ in range(self.config.n_layers):
            h = directed_propagate(self.item_graph, self.item_graph_t, h)
        items = items + h
        users = users + directed_propagate(self.user_graph, self.user_graph_t, users)
        return users, items

    def loss(self, users, pos, neg):
        user_reps, item_reps = self.forward()
        u = user_reps[users]
        bpr = bpr_loss((u * item_reps[pos]).sum(-1), (u * item_reps[neg]).sum(-1))
        reg = sum(self.preference[m][users].pow(2).mean() for m in self.modalities)
        if len(self.modalities) > 1:
            reg = reg + self.weight_u.pow(2).mean()
        reg = self.config.reg_weight * reg
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}
