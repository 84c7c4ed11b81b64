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
  users to exactly 40 neighbours by re-drawing random duplicates every epoch (a Polya urn over the
  user's list), and its softmax then counts each copy, so a neighbour with m copies weighs
  m * exp(count) / sum. ``user_padding="mmrec"`` does the same in training, one fresh draw per epoch;
  evaluation uses the unpadded graph, so scores stay deterministic (MMRec evaluates with the last
  epoch's draw). Ties in the shared-item counts at the ``user_topk``-th place are broken
  pseudo-randomly with a fixed seed (:func:`gtcrec.graph.knn.user_cooccurrence_graph`); MMRec's
  dense ``torch.topk`` breaks them in no documented order. Up to commit 06a0828 ours broke them by
  lowest user id, which on TikTok linked users to neighbours of mean training degree 247 instead of
  158 (MMRec's graph: 156; ``benchmarks/mmrec_dragon_equivalence.py``);
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
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from ..config import check_choices
from ..data.errors import DataError
from ..evaluation.analysis import ModalityViews, place_in_block
from ..graph import directed_propagate, propagate, to_torch_sparse
from ..graph.knn import KnnNorm, fused_item_knn_graph, user_cooccurrence_graph
from .base import (
    ModelInputs,
    Recommender,
    bpr_loss,
    check_modality_names,
    register_model,
)


def copy_weighted_softmax(counts: sp.csr_matrix, copies: np.ndarray | None = None) -> sp.csr_matrix:
    """Row-wise softmax over the stored shared counts, entry j weighted by its number of ``copies``.

    Entry j of a row gets m_j exp(c_j) / sum_l m_l exp(c_l) (m = 1 without ``copies``), so rows with
    neighbours sum to 1 and empty rows stay empty. Vectorised; never dense n x n.
    """
    counts = counts.tocsr()
    n = counts.shape[0]
    rows = np.repeat(np.arange(n), np.diff(counts.indptr))
    values = counts.data.astype(np.float64)
    row_max = np.full(n, -np.inf)
    np.maximum.at(row_max, rows, values)
    weighted = np.exp(values - row_max[rows])
    if copies is not None:
        weighted = weighted * copies
    sums = np.bincount(rows, weights=weighted, minlength=n)
    out = sp.csr_matrix(((weighted / sums[rows]).astype(np.float32), counts.indices.copy(), counts.indptr.copy()),
                        shape=counts.shape)
    out.sort_indices()
    return out


def softmax_user_graph(train: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """DRAGON's user-user graph: each user's top-``k`` co-interacting users, weights softmax(shared counts).

    The softmax runs over each row's stored entries only, so users sharing no item with anyone keep an
    empty row. No self loops.
    """
    return copy_weighted_softmax(user_cooccurrence_graph(train, k))


def padded_user_graph(counts: sp.csr_matrix, k: int, rng: np.random.Generator) -> sp.csr_matrix:
    """One draw of MMRec's padded user graph from the top-``k`` shared-count graph ``counts``.

    A user with 0 < n < k neighbours is padded to k entries by a Polya urn (each extra entry copies a
    uniformly drawn entry of the growing list), and the softmax runs over all k entries, copies
    included. The urn's copy counts are Dirichlet-multinomial with unit concentrations, which is how
    they are drawn here.
    """
    counts = counts.tocsr()
    lengths = np.diff(counts.indptr)
    copies = np.ones(counts.nnz)
    for user in np.flatnonzero((lengths > 0) & (lengths < k)):
        start, n = counts.indptr[user], lengths[user]
        copies[start:start + n] += rng.multinomial(k - n, rng.dirichlet(np.ones(n)))
    return copy_weighted_softmax(counts, copies)


@dataclass
class DRAGONConfig:
    embedding_dim: int = 64
    knn_k: int = 10  # neighbours per item in each modality's kNN graph (self included)
    image_weight: float = 0.1  # MMRec's mm_image_weight
    knn_norm: KnnNorm = "sym_directed"  # MMRec: directed kNN graph, out-degree normalisation | sym
    n_layers: int = 1  # propagation steps over the item-item graph (MMRec's n_mm_layers)
    n_ui_layers: int = 2  # propagation steps over the user-item graph (MMRec: 2, fixed)
    user_topk: int = 40  # neighbours per user in the user-user graph
    reg_weight: float = 1e-4  # MMRec grid {1e-1, 1e-2, 1e-3, 1e-4, 1e-5}
    # softmax: convex modality weights in every pass | raw: MMRec (softmax once at init, then free weights)
    user_weights: Literal["softmax", "raw"] = "softmax"
    # none: each user's stored neighbours only | mmrec: MMRec's per-epoch random padding to user_topk (training)
    user_padding: Literal["none", "mmrec"] = "none"

    def __post_init__(self):
        check_choices(self, "DRAGON")
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
            raise DataError("DRAGON needs at least one item feature modality; the data has none "
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
        user_counts = user_cooccurrence_graph(inputs.train_csr, config.user_topk)
        user_graph = copy_weighted_softmax(user_counts)
        self.register_buffer("user_graph", to_torch_sparse(user_graph), persistent=False)
        self.register_buffer("user_graph_t", to_torch_sparse(user_graph.T.tocsr()), persistent=False)
        # MMRec's padding: the shared counts are kept to redraw the training graph every epoch.
        self._user_counts = user_counts if config.user_padding == "mmrec" else None
        self._padded_user_graph: tuple[torch.Tensor, torch.Tensor] | None = None

    def on_epoch_start(self, epoch: int) -> None:
        """``user_padding="mmrec"``: this epoch's random padding of the user graph (seeded from torch's RNG)."""
        if self._user_counts is None:
            return
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
        graph = padded_user_graph(self._user_counts, self.config.user_topk, rng)
        device = self.user_graph.device
        self._padded_user_graph = (to_torch_sparse(graph).to(device), to_torch_sparse(graph.T.tocsr()).to(device))

    def user_graphs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(graph, transpose): the epoch's padded draw in training with ``user_padding="mmrec"``, else the fixed one."""
        if self.training and self._user_counts is not None:
            if self._padded_user_graph is None or self._padded_user_graph[0].device != self.user_graph.device:
                self.on_epoch_start(0)  # loss before any on_epoch_start, or the model moved since
            return self._padded_user_graph
        return self.user_graph, self.user_graph_t

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
        return self.encode()[1:]

    def modality_views(self) -> ModalityViews:
        # Users and items concatenate one block per modality: each modality's user part is its representation
        # before the fusion, its item part the item's final block (the parts' scores sum to the score).
        reps, users, items = self.encode()
        d, m = reps[0].shape[1], len(reps)
        return ModalityViews(users, {name: place_in_block(r[: self.n_users], j, m)
                                     for j, (name, r) in enumerate(zip(self.modalities, reps))},
                             {name: place_in_block(items[:, j * d:(j + 1) * d], j, m)
                              for j, name in enumerate(self.modalities)})

    def encode(self) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """(each modality's representation over all nodes, final users, final items)."""
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
        users = users + directed_propagate(*self.user_graphs(), users)
        return reps, users, items

    def loss(self, users, pos, neg):
        user_reps, item_reps = self.forward()
        u = user_reps.index_select(0, users)
        bpr = bpr_loss((u * item_reps.index_select(0, pos)).sum(-1), (u * item_reps.index_select(0, neg)).sum(-1))
        reg = sum(self.preference[m].index_select(0, users).pow(2).mean() for m in self.modalities)
        if len(self.modalities) > 1:
            reg = reg + self.weight_u.pow(2).mean()
        reg = self.config.reg_weight * reg
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}
