"""LATTICE: item-item structures learned from multimodal features, on top of a LightGCN backbone.

Jinghao Zhang, Yanqiao Zhu, Qiang Liu, Shu Wu, Shuhui Wang and Liang Wang. "Mining Latent Structures for
Multimedia Recommendation." ACM Multimedia 2021 (arXiv 2104.09036). This is our own implementation from
the paper's description; MMRec's ``lattice.py`` was read for its defaults.

* **Original structures.** Per modality, the top-``knn_k`` cosine neighbours of every item in the raw
  feature space (self included, edges weighted by the similarity), normalised D^-1/2 A D^-1/2 with D the
  row sums. Fixed.
* **Learned structures.** Per modality, the features go through a linear layer; each item's top-``knn_k``
  cosine neighbours in that learned space, edges weighted by the (learned) similarity and normalised the
  same way. A modality's graph is ``(1 - lambda_coeff)`` learned + ``lambda_coeff`` original; the
  modalities' graphs are mixed with learned softmax weights.
* **Forward.** The item ID embeddings propagated ``n_layers`` times over the mixed graph, L2-normalised,
  are added to the items' LightGCN output (``n_ui_layers``, mean of the layers) over [user IDs; item IDs].
* **Loss.** BPR plus ``reg_weight`` times the L2 norm of the batch's final representations (as MMRec).

Defaults (MMRec's LATTICE.yaml): d = 64, projection 64, k = 10, lambda_coeff = 0.9, 1 item-graph layer,
2 LightGCN layers; the preset takes lr 5e-4 and reg_weight 1e-4, middle values of MMRec's grids.

Deviations from the paper / MMRec:

* **Nothing dense in n x n.** MMRec builds the n x n similarity matrix of all items at every rebuild. Here the
  neighbours are searched in chunks (O(chunk x n) memory) and the graphs are sparse (n x k edges).
* **When the structure learns.** Which items are neighbours in the learned space is found again after every
  epoch (:meth:`refresh`; MMRec: at the first batch of each epoch). The edge weights, the cosine similarities
  of those pairs, are computed in every forward pass from the current projections, so every batch trains
  the projections (MMRec: only the first batch of an epoch carries a gradient to them; the others reuse a
  detached graph).
* **Negative similarities** are clipped at 0 in both the original and the learned graphs, so that row sums,
  and the normalisation, stay defined (MMRec would take the square root of a negative row sum).
* MMRec's learning-rate decay (x0.96 every 50 epochs) is not applied: our trainer has none for any model.
* **Where the normalisation sits.** Each modality's learned graph is normalised on its own and the modalities
  are then mixed (the paper's per-modality form); MMRec normalises the weighted sum of the learned graphs
  once. The modality weights start equal; with one modality there is no weight to learn.
* **Frozen features.** The raw feature tables are fixed inputs; MMRec wraps them in trainable embeddings
  (``from_pretrained(freeze=False)``), so it also fine-tunes the feature values that the learned graphs are
  built from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..graph import directed_propagate, lightgcn_propagate, to_torch_sparse
from ..graph.knn import item_knn_graph, normalize_graph
from .base import (
    ModelInputs,
    Recommender,
    batch_rows,
    bpr_loss,
    check_modality_names,
    content_features,
    l2_penalty,
    register_model,
)


@dataclass
class LATTICEConfig:
    embedding_dim: int = 64
    feat_embed_dim: int = 64  # dimension of the learned feature space that the structures are found in
    knn_k: int = 10  # neighbours per item (self included) in every item-item graph
    lambda_coeff: float = 0.9  # share of the original (raw-feature) graph in each modality's graph
    n_layers: int = 1  # propagation steps over the item-item graph
    n_ui_layers: int = 2  # LightGCN layers over the user-item graph
    reg_weight: float = 1e-4  # L2 on the batch's final representations (paper grid {0, 1e-5, ..., 1e-1})
    chunk_size: int = 2048  # items per block when searching neighbours

    def __post_init__(self):
        if not 0.0 <= self.lambda_coeff <= 1.0:
            raise ValueError(f"LATTICE option lambda_coeff={self.lambda_coeff}: expected a value in [0, 1]")
        for name in ("knn_k", "chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"LATTICE option {name}={getattr(self, name)}: expected >= 1")


def top_neighbours(z: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    """(n, k) indices of each row's k most cosine-similar rows of ``z`` (itself included), found in chunks."""
    z = F.normalize(z, dim=1)
    k = min(k, z.shape[0])
    return torch.cat([torch.topk(z[s:s + chunk_size] @ z.T, k, dim=1).indices
                      for s in range(0, z.shape[0], chunk_size)])


def neighbour_rows(x: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """``x[neighbours]`` through index_select: its backward sums in a fixed order (advanced indexing's uses
    atomic adds across CPU threads, so seeded runs would drift)."""
    return x.index_select(0, neighbours.reshape(-1)).view(*neighbours.shape, *x.shape[1:])


def normalized_edge_weights(z: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """(n, k) weights of the edges i -> neighbours[i]: cosine similarity clipped at 0, scaled by
    1 / sqrt(d_i d_j) with d the row sums (differentiable in ``z``)."""
    z = F.normalize(z, dim=1)
    sims = (z.unsqueeze(1) * neighbour_rows(z, neighbours)).sum(-1).clamp(min=0)
    inv = sims.sum(1).clamp(min=1e-12).rsqrt()
    return sims * inv.unsqueeze(1) * neighbour_rows(inv, neighbours)


def propagate_edges(neighbours: torch.Tensor, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Row i of the result: sum over j in neighbours[i] of weight_ij * x_j."""
    return (weights.unsqueeze(-1) * neighbour_rows(x, neighbours)).sum(1)


@register_model
class LATTICE(Recommender):
    name = "lattice"
    config_class = LATTICEConfig

    def __init__(self, inputs: ModelInputs, config: LATTICEConfig):
        super().__init__(inputs, config)
        d = config.embedding_dim
        feats = content_features(inputs, "LATTICE")
        self.modalities = list(inputs.features)
        check_modality_names(self.modalities, "LATTICE")
        self.user_embedding = nn.Embedding(self.n_users, d)
        self.item_embedding = nn.Embedding(self.n_items, d)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)
        self.project = nn.ModuleList([nn.Linear(f.shape[1], config.feat_embed_dim) for f in feats])
        # With one modality there is nothing to weigh (a softmax over one value has no gradient).
        self.modal_weight = nn.Parameter(torch.zeros(len(feats))) if len(feats) > 1 else None
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        for i, f in enumerate(feats):
            self.register_buffer(f"_feat{i}", torch.as_tensor(np.asarray(f), dtype=torch.float32), persistent=False)
            graph = normalize_graph(item_knn_graph(f, config.knn_k, include_self=True, weighted=True,
                                                   chunk_size=config.chunk_size), "sym_directed")
            self.register_buffer(f"_original{i}", to_torch_sparse(graph), persistent=False)
            self.register_buffer(f"_original_t{i}", to_torch_sparse(graph.T.tocsr()), persistent=False)
            # Which items neighbour which in the learned space: derived from the weights by refresh().
            self.register_buffer(f"_learned{i}", None, persistent=False)

    def feature(self, i: int) -> torch.Tensor:
        return getattr(self, f"_feat{i}")

    @torch.no_grad()
    def refresh(self) -> None:
        """Find every item's neighbours in the learned feature spaces again (after each epoch, and at load)."""
        for i, project in enumerate(self.project):
            setattr(self, f"_learned{i}", top_neighbours(project(self.feature(i)), self.config.knn_k,
                                                         self.config.chunk_size))

    def learned_edges(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per modality: (neighbours, normalised edge weights) of the learned graph, from the current weights."""
        if self._learned0 is None:
            self.refresh()
        out = []
        for i, project in enumerate(self.project):
            neighbours = getattr(self, f"_learned{i}")
            out.append((neighbours, normalized_edge_weights(project(self.feature(i)), neighbours)))
        return out

    def item_graph_step(self, x: torch.Tensor, learned: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """One propagation step over the mixed item-item graph."""
        lam = self.config.lambda_coeff
        weights = torch.softmax(self.modal_weight, 0) if self.modal_weight is not None else x.new_ones(1)
        out = 0
        for i, (neighbours, edge_weights) in enumerate(learned):
            original = directed_propagate(getattr(self, f"_original{i}"), getattr(self, f"_original_t{i}"), x)
            out = out + weights[i] * ((1 - lam) * propagate_edges(neighbours, edge_weights, x) + lam * original)
        return out

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        out = lightgcn_propagate(self.adjacency, ego, self.config.n_ui_layers)
        users, items = out[: self.n_users], out[self.n_users:]
        h = self.item_embedding.weight
        learned = self.learned_edges() if self.config.n_layers > 0 else []
        for _ in range(self.config.n_layers):
            h = self.item_graph_step(h, learned)
        return users, items + F.normalize(h, dim=1)

    def loss(self, users, pos, neg):
        user_reps, item_reps = self.forward()
        u, p, n = batch_rows(user_reps, item_reps, users, pos, neg)
        bpr = bpr_loss((u * p).sum(-1), (u * n).sum(-1))
        reg = self.config.reg_weight * l2_penalty(u, p, n)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}

    @torch.no_grad()
    def diagnostics(self) -> dict[str, float]:
        if self.modal_weight is None:
            return {}
        return {f"modal_weight_{m}": float(w) for m, w in zip(self.modalities, torch.softmax(self.modal_weight, 0))}
