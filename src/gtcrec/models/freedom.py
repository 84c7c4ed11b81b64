"""FREEDOM: a frozen multimodal item-item graph plus degree-sensitive pruning of the user-item graph.

Xin Zhou and Zhiqi Shen. "A Tale of Two Graphs: Freezing and Denoising Graph Structures for
Multimodal Recommendation." ACM Multimedia 2023 (arXiv 2211.06924). Reference code: FREEDOM in MMRec
(https://github.com/enoche/MMRec, ``src/models/freedom.py``); this is our own implementation of it.

* **Frozen item-item graph.** Per modality, the top-``knn_k`` cosine neighbours of every item in the
  raw feature space (self included, binary edges), normalised D^-1/2 A D^-1/2; the modalities' graphs
  are summed with weights ``image_weight`` for the image modality and ``1 - image_weight`` for the
  rest (:func:`gtcrec.graph.knn.fused_item_knn_graph`). Built once, never trained.
* **Degree-sensitive edge pruning.** Before every training epoch a fraction ``1 - dropout`` of the
  training edges is kept, sampled without replacement with probability proportional to
  1 / sqrt(d_u d_i), and the pruned bipartite graph is re-normalised symmetrically. Evaluation uses the
  full, unpruned graph.
* **Forward.** ``h`` = item ID embeddings propagated ``n_mm_layers`` times over the item-item graph;
  LightGCN (``n_ui_layers``, mean of layers 0..L) over [user IDs; item IDs]; users get the LightGCN
  output, items the LightGCN output plus ``h``.
* **Loss.** BPR on those representations plus ``reg_weight`` times, per modality, a BPR loss between the
  users' representations and a linear projection of the raw item features (MMRec's ``mf_v_loss`` /
  ``mf_t_loss``).

Defaults follow MMRec's ``FREEDOM.yaml`` (d = 64, k = 10, image weight 0.1, 1 item-graph layer,
2 LightGCN layers). The paper and MMRec tune ``dropout`` in {0.8, 0.9} and ``reg_weight`` in
{0, 1e-5, 1e-4, 1e-3} per dataset and publish no TikTok setting; the defaults are dropout 0.8 and
reg_weight 1e-4, a middle value of the grid (it must be > 0, or the projections never train).

Deviations from the paper / MMRec:

* the kNN graphs are computed chunked and sparse (:func:`gtcrec.graph.item_knn_graph`) instead of
  MMRec's dense n x n similarity matrix; the result is the same graph up to ties in similarity.
  Items with all-zero features get a zero-similarity row here (MMRec divides by a zero norm: NaN);
* any number of modalities with any names: the image modality (``image``/``visual``/``v``) gets
  ``image_weight``, the others share ``1 - image_weight`` equally, a single modality gets weight 1
  (MMRec: exactly image + text). With no modality at all the model is LightGCN with edge pruning;
* the default normalisation ``knn_norm="sym_directed"`` is MMRec's (the directed kNN graph scaled by
  its out-degrees, no symmetrisation); ``knn_norm="sym"`` symmetrises the graph first;
* edge pruning samples with exponential keys (Gumbel top-k), which draws from the same distribution
  as MMRec's ``torch.multinomial(weights, n, replacement=False)``; it uses torch's global RNG, so a
  checkpoint (which saves that RNG) resumes the same sequence of pruned graphs. At least one edge is
  always kept;
* the raw features are fixed inputs (buffers) of the projections. MMRec wraps them in
  ``nn.Embedding.from_pretrained(freeze=False)``, so its auxiliary loss also fine-tunes the feature
  values themselves (they never enter the item graph or the scores); ``finetune_features=true``
  restores that behaviour;
* the projections have no bias: MMRec's bias cancels in every BPR difference u.(W f+ + b) - u.(W f- + b),
  gets a zero gradient and never changes, so dropping it changes no score and no loss;
* the auxiliary loss projects only the batch's positive and negative items (MMRec projects every item
  and indexes; the value and gradients are the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import check_choices
from ..graph import directed_propagate, lightgcn_propagate, to_torch_sparse
from ..graph.knn import KnnNorm, fused_item_knn_graph
from .base import (
    ModelInputs,
    Recommender,
    bpr_loss,
    check_modality_names,
    register_model,
)


@dataclass
class FREEDOMConfig:
    embedding_dim: int = 64
    knn_k: int = 10  # neighbours per item in each modality's kNN graph (self included)
    image_weight: float = 0.1  # MMRec's mm_image_weight
    knn_norm: KnnNorm = "sym_directed"  # MMRec: directed kNN graph, out-degree normalisation | sym
    n_mm_layers: int = 1  # propagation steps over the item-item graph
    n_ui_layers: int = 2  # LightGCN layers over the (pruned) user-item graph
    dropout: float = 0.8  # share of training edges pruned each epoch (paper: {0.8, 0.9}); 0: no pruning
    reg_weight: float = 1e-4  # weight of the feature-projection BPR losses (paper grid {0, 1e-5, 1e-4, 1e-3})
    finetune_features: bool = False  # MMRec: true (the raw feature tables are trainable parameters)

    def __post_init__(self):
        check_choices(self, "FREEDOM")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"FREEDOM option dropout={self.dropout}: expected 0 <= dropout < 1")
        if not 0.0 <= self.image_weight <= 1.0:
            raise ValueError(f"FREEDOM option image_weight={self.image_weight}: expected a value in [0, 1]")
        for name in ("embedding_dim", "knn_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"FREEDOM option {name}={getattr(self, name)}: expected >= 1")
        for name in ("n_mm_layers", "n_ui_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"FREEDOM option {name}={getattr(self, name)}: expected >= 0")


@register_model
class FREEDOM(Recommender):
    name = "freedom"
    config_class = FREEDOMConfig

    def __init__(self, inputs: ModelInputs, config: FREEDOMConfig):
        super().__init__(inputs, config)
        d = config.embedding_dim
        self.modalities = list(inputs.features)
        check_modality_names(self.modalities, "FREEDOM")
        self.user_embedding = nn.Embedding(self.n_users, d)
        self.item_embedding = nn.Embedding(self.n_items, d)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)
        # No bias: it cancels in every BPR difference u.(W f_pos + b) - u.(W f_neg + b), so it never trains.
        self.project = nn.ModuleDict({m: nn.Linear(inputs.features[m].shape[1], d, bias=False)
                                      for m in self.modalities})
        feats = {m: torch.as_tensor(np.asarray(inputs.features[m]), dtype=torch.float32) for m in self.modalities}
        if config.finetune_features:
            self.features = nn.ParameterDict({m: nn.Parameter(f.clone()) for m, f in feats.items()})
        else:
            for i, m in enumerate(self.modalities):
                self.register_buffer(f"_feat{i}", feats[m], persistent=False)

        # Data, not state: moves with .to() but is not saved in checkpoints.
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        if self.modalities:
            graph = fused_item_knn_graph(dict(inputs.features), config.knn_k, config.image_weight,
                                         how=config.knn_norm)
            self.register_buffer("item_graph", to_torch_sparse(graph), persistent=False)
            # The transpose for the backward pass; None when the graph is symmetric.
            graph_t = None if config.knn_norm == "sym" else to_torch_sparse(graph.T.tocsr())
            self.register_buffer("item_graph_t", graph_t, persistent=False)

        # Training edges (each user-item pair once) and their sampling log-weights -log sqrt(d_u d_i).
        coo = inputs.train_csr.tocoo()
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        deg_u = np.bincount(users, minlength=self.n_users).astype(np.float64)
        deg_i = np.bincount(items, minlength=self.n_items).astype(np.float64)
        log_w = -0.5 * (np.log(deg_u[users]) + np.log(deg_i[items]))
        self.register_buffer("edge_users", torch.from_numpy(users), persistent=False)
        self.register_buffer("edge_items", torch.from_numpy(items), persistent=False)
        self.register_buffer("edge_log_weight", torch.from_numpy(log_w).float(), persistent=False)
        # The current epoch's pruned graph: per-epoch training data (like a sampler's state), never
        # used in eval mode and not part of the state dict.
        self.pruned_adjacency: torch.Tensor | None = None

    # --- graphs ------------------------------------------------------------------------------
    def feature(self, m: str) -> torch.Tensor:
        if self.config.finetune_features:
            return self.features[m]
        return getattr(self, f"_feat{self.modalities.index(m)}")

    def n_kept_edges(self) -> int:
        n = self.edge_users.numel()
        return max(1, int(n * (1.0 - self.config.dropout))) if n else 0

    def sample_kept_edges(self) -> torch.Tensor:
        """Indices of the kept training edges: ``n_kept_edges()`` drawn without replacement, P ~ 1/sqrt(d_u d_i).

        Exponential-key (Gumbel top-k) sampling: the edges with the largest log w - log E, E ~ Exp(1).
        """
        keys = self.edge_log_weight - torch.empty_like(self.edge_log_weight).exponential_().log()
        return torch.topk(keys, self.n_kept_edges(), sorted=False).indices

    def pruned_graph(self, keep: torch.Tensor) -> torch.Tensor:
        """Symmetric-normalised (n_users + n_items) adjacency of the kept edges only."""
        u, i = self.edge_users[keep], self.edge_items[keep]
        deg_u = torch.bincount(u, minlength=self.n_users).float()
        deg_i = torch.bincount(i, minlength=self.n_items).float()
        values = (deg_u[u] * deg_i[i]).rsqrt()
        rows = torch.cat([u, i + self.n_users])
        cols = torch.cat([i + self.n_users, u])
        n = self.n_users + self.n_items
        adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.cat([values, values]), (n, n))
        return adj.coalesce().to_sparse_csr()

    def on_epoch_start(self, epoch: int) -> None:
        """Degree-sensitive edge pruning: a fresh pruned training graph for this epoch."""
        if self.config.dropout <= 0.0:
            self.pruned_adjacency = None
            return
        self.pruned_adjacency = self.pruned_graph(self.sample_kept_edges())

    def ui_graph(self) -> torch.Tensor:
        """The full graph in eval mode (and without pruning); the epoch's pruned graph in training."""
        if not self.training or self.config.dropout <= 0.0:
            return self.adjacency
        if self.pruned_adjacency is None or self.pruned_adjacency.device != self.adjacency.device:
            self.on_epoch_start(0)  # loss before any on_epoch_start, or the model moved since
        return self.pruned_adjacency

    # --- model -------------------------------------------------------------------------------
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        item_id = self.item_embedding.weight
        ego = torch.cat([self.user_embedding.weight, item_id], dim=0)
        out = lightgcn_propagate(self.ui_graph(), ego, self.config.n_ui_layers)
        users, items = out[: self.n_users], out[self.n_users:]
        if self.modalities and self.config.n_mm_layers > 0:
            h = item_id
            for _ in range(self.config.n_mm_layers):
                h = directed_propagate(self.item_graph, self.item_graph_t, h)
            items = items + h
        return users, items

    def loss(self, users, pos, neg):
        user_reps, item_reps = self.forward()
        u = user_reps.index_select(0, users)
        bpr = bpr_loss((u * item_reps.index_select(0, pos)).sum(-1), (u * item_reps.index_select(0, neg)).sum(-1))
        modal = bpr.new_zeros(())
        for m in self.modalities:
            feats, proj = self.feature(m), self.project[m]
            modal = modal + bpr_loss((u * proj(feats.index_select(0, pos))).sum(-1), (u * proj(feats.index_select(0, neg))).sum(-1))
        modal = self.config.reg_weight * modal
        return {"loss": bpr + modal, "bpr": bpr, "modal": modal}
