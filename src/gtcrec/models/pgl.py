"""PGL: principal graph learning, training on a degree-sensitive subgraph of the user-item graph.

Penghang Yu, Zhiyi Tan, Guanming Lu and Bing-Kun Bao. "Mind Individual Information! Principal Graph
Learning for Multimedia Recommendation." AAAI 2025. Our own implementation from the paper's description;
MMRec's ``pgl.py`` and ``PGL.yaml`` were read for the defaults.

* **Items are their content.** An item is the concatenation over modalities of its L2-normalised projected
  features (``feat_embed_dim`` each); there is no item ID embedding. Users have one learned embedding per
  modality, concatenated the same way.
* **Item-item view.** The items' content propagated ``n_mm_layers`` times over a frozen item graph: the
  binary top-``knn_k`` cosine graph of each modality's raw features, normalised and mixed with FREEDOM's
  modality weights (``image_weight``), as in MMRec.
* **Principal user-item graph.** LightGCN (``n_ui_layers``, mean of layers) over [users; items]. During
  training it runs on a *principal subgraph* drawn at the start of each epoch (local extraction):
  ``keep_ratio`` of the training edges sampled without replacement with probability proportional to
  their normalised weight 1/sqrt(d_u d_i) (edges between low-degree nodes are kept more often), then
  normalised again. Evaluation uses the whole graph. Final item = LightGCN item + item-item view.
* **Loss.** BPR + ``cl_weight`` x the mean of two self-contrastive InfoNCE terms (the batch's users against
  a dropout copy of themselves, the same for positive items; ``dropout``, temperature ``temperature``).

Defaults: MMRec's PGL.yaml (d 64 per modality, k 10, image weight 0.1, 1 item layer, 2 UI layers, dropout
0.2, keep 0.3, lr 1e-3, contrastive weight 0: MMRec's ``reg_weight: [0]`` weighs that term).

Deviations from the paper / MMRec:

* **Only the local (sampled) principal subgraph.** The paper's global extraction keeps the top and bottom
  singular directions of the adjacency; MMRec materialises that as a dense (users + items)^2 matrix, which
  does not fit at any real size. Not provided.
* **The subgraph is drawn by the trainer's epoch hook** (:meth:`on_epoch_start`) from torch's seeded
  generator, so a resumed run draws the same one; before the first draw (a loss called outside the
  trainer) training uses the whole graph.
* **Sparse, chunked item graphs**; frozen raw features (MMRec fine-tunes them); any M >= 1 modalities.
  No learning-rate decay (MMRec: x0.96 every 50 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..graph import fused_item_knn_graph, lightgcn_propagate, to_torch_sparse
from ..graph.edges import BipartiteEdges
from .base import (
    ModelInputs,
    Recommender,
    batch_rows,
    bpr_loss,
    register_model,
)
from .mgcn import info_nce
from .sparse_ops import register_sparse, sparse_product


@dataclass
class PGLConfig:
    feat_embed_dim: int = 64  # per modality; users and items have M x this many dimensions
    knn_k: int = 10
    image_weight: float = 0.1  # share of the image modality in the item graph (MMRec "mm_image_weight")
    n_mm_layers: int = 1
    n_ui_layers: int = 2
    keep_ratio: float = 0.3  # share of training edges in each epoch's principal subgraph
    cl_weight: float = 0.0  # self-contrastive term (MMRec "reg_weight", default [0])
    dropout: float = 0.2  # of the self-contrastive views
    temperature: float = 0.2

    def __post_init__(self):
        for name in ("feat_embed_dim", "knn_k", "n_ui_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"PGL option {name}={getattr(self, name)}: expected >= 1")
        if self.n_mm_layers < 0:
            raise ValueError(f"PGL option n_mm_layers={self.n_mm_layers}: expected >= 0")
        if not 0.0 < self.keep_ratio <= 1.0:
            raise ValueError(f"PGL option keep_ratio={self.keep_ratio}: expected a value in (0, 1]")
        if not 0.0 <= self.image_weight <= 1.0:
            raise ValueError(f"PGL option image_weight={self.image_weight}: expected a value in [0, 1]")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"PGL option dropout={self.dropout}: expected a value in [0, 1)")
        if self.temperature <= 0:
            raise ValueError(f"PGL option temperature={self.temperature}: expected > 0")


def bipartite_edge_weights(users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int) -> torch.Tensor:
    """1 / sqrt(d_u d_i) for every edge, degrees counted over the given edges."""
    deg_u = torch.bincount(users, minlength=n_users).float()
    deg_i = torch.bincount(items, minlength=n_items).float()
    return (deg_u[users] * deg_i[items]).rsqrt()


def bipartite_adjacency(users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int) -> torch.Tensor:
    """Symmetric-normalised (users + items)^2 adjacency of the given edges, as a sparse CSR tensor."""
    values = bipartite_edge_weights(users, items, n_users, n_items)
    rows = torch.cat([users, items + n_users])
    cols = torch.cat([items + n_users, users])
    n = n_users + n_items
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.cat([values, values]), (n, n)
                                   ).coalesce().to_sparse_csr()


@register_model
class PGL(Recommender):
    name = "pgl"
    config_class = PGLConfig

    def __init__(self, inputs: ModelInputs, config: PGLConfig):
        super().__init__(inputs, config)
        feats = self.register_content(inputs, "PGL")
        d = config.feat_embed_dim
        self.edges = BipartiteEdges(inputs.train_pairs, self.n_users, self.n_items)
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        # The epoch's principal subgraph: drawn by on_epoch_start, None until then.
        self.register_buffer("subgraph", None, persistent=False)
        register_sparse(self, "item_graph", fused_item_knn_graph(dict(zip(self.modalities, feats)), config.knn_k,
                                                                 config.image_weight))
        self.user_embedding = nn.ParameterList([nn.Parameter(torch.empty(self.n_users, d)) for _ in feats])
        for table in self.user_embedding:
            nn.init.xavier_uniform_(table)
        self.project = nn.ModuleList([nn.Linear(f.shape[1], d) for f in feats])
        self.dropout = nn.Dropout(config.dropout)

    def on_epoch_start(self, epoch: int) -> None:
        """Draw this epoch's principal subgraph (degree-sensitive edge sampling)."""
        n_edges = len(self.edges)
        keep = max(1, round(self.config.keep_ratio * n_edges))
        if keep >= n_edges:
            self.subgraph = None
            return
        probs = bipartite_edge_weights(self.edges.rows, self.edges.cols, self.n_users, self.n_items)
        chosen = torch.multinomial(probs, keep, replacement=False)
        self.subgraph = bipartite_adjacency(self.edges.rows[chosen], self.edges.cols[chosen], self.n_users,
                                            self.n_items)

    def item_content(self) -> torch.Tensor:
        return torch.cat([F.normalize(project(self.feature(i)), dim=1)
                          for i, project in enumerate(self.project)], dim=1)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = self.item_content()
        h = items
        for _ in range(self.config.n_mm_layers):
            h = sparse_product(self, "item_graph", h)
        graph = self.subgraph if self.training and self.subgraph is not None else self.adjacency
        ego = torch.cat([torch.cat(list(self.user_embedding), dim=1), items])
        out = lightgcn_propagate(graph, ego, self.config.n_ui_layers)
        return out[: self.n_users], out[self.n_users:] + h

    def loss(self, users, pos, neg):
        cfg = self.config
        user_reps, item_reps = self.forward()
        u, i, j = batch_rows(user_reps, item_reps, users, pos, neg)
        bpr = bpr_loss((u * i).sum(-1), (u * j).sum(-1))
        terms = {"bpr": bpr}
        total = bpr
        if cfg.cl_weight > 0:
            cl = cfg.cl_weight * (info_nce(self.dropout(u), self.dropout(u), cfg.temperature)
                                  + info_nce(self.dropout(i), self.dropout(i), cfg.temperature)) / 2
            terms["cl"] = cl
            total = total + cl
        return {"loss": total, **terms}
