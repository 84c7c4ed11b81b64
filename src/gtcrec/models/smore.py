"""SMORE: spectrum-based modality representation fusion on user-item and item-item graphs.

Rongqing Kenneth Ong and Andy W. H. Khong. "Spectrum-based Modality Representation Fusion Graph
Convolutional Network for Multimodal Recommendation." WSDM 2025 (arXiv 2412.14978). Our own implementation
from the paper's description; MMRec's ``smore.py`` and ``SMORE.yaml`` were read for the defaults.

* **Spectral denoising and fusion.** Each modality's features are projected to d (``f_m``) and taken to
  the frequency domain along the embedding axis (real FFT, orthonormal). A learned complex filter per
  modality denoises it (``irfft(F_m * W_m)``); the fusion view is ``irfft(W_f * prod_m F_m)``: a product of
  spectra is a convolution of the modalities, the cross-modal interaction SMORE is named for.
* **Behaviour-guided gates.** Each filtered signal gates the item ID embedding:
  ``item_m = item_ID * sigmoid(Linear(filtered_m))``, likewise for the fusion signal.
* **Views.** Behaviour: LightGCN (``n_ui_layers``, mean of layers) over [user IDs; item IDs]. Per modality:
  ``item_m`` propagated ``n_layers`` times over that modality's top-k cosine item graph, users as
  ``R item_m`` (R the normalised user-item block). Fusion: the same over the *fusion graph*, the edge-wise
  maximum of the modality graphs.
* **Modality-aware preferences.** Per modality, attention over the embedding axis from the fusion view
  (``softmax(query_m(fusion))``) weighs the modality view; gates from the behaviour view
  (``sigmoid(Linear(E))``, with dropout) scale every view; ``side`` is their mean; final = E + side.
* **Loss.** BPR + ``reg_weight`` x L2 of the batch's final representations + ``cl_weight`` x
  [InfoNCE(side, E) over the batch's positive items + over its users] (cosine, ``temperature``).

Defaults: MMRec's SMORE.yaml (d 64, 1 item-graph layer, cl 0.01, temperature 0.2) with the lower ends of
its grids (3 UI layers, k = 10 for every modality, reg 1e-4, dropout 0); lr 1e-3.

Deviations from the paper / MMRec:

* **Any M >= 1 modalities** (MMRec: exactly image and text); the fusion spectrum is the product over all of
  them. With M = 1 the fusion signal is a second filter of the same modality. One ``knn_k`` for all
  modalities (MMRec tunes image and text k apart).
* **Sparse, chunked item graphs** (MMRec computes an n x n similarity matrix); edges are cosine-weighted,
  normalised D^-1/2 A D^-1/2 with the out-degrees as MMRec's ``build_knn_normalized_graph``, negative
  similarities clipped at 0.
* **Frozen raw features**: MMRec fine-tunes the feature tables (``freeze=False``); here only the
  projections learn, as for LATTICE. No learning-rate decay (MMRec: x0.96 every 50 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..graph import lightgcn_propagate, to_torch_sparse
from .base import (
    ModelInputs,
    Recommender,
    batch_rows,
    bpr_loss,
    l2_penalty,
    register_model,
)
from .mgcn import info_nce, mgcn_knn_graph
from .sparse_ops import register_sparse, sparse_product


@dataclass
class SMOREConfig:
    embedding_dim: int = 64
    knn_k: int = 10  # neighbours per item in each modality's item graph (self included)
    n_ui_layers: int = 3  # LightGCN layers over the user-item graph (MMRec grid {3, 4})
    n_layers: int = 1  # propagation steps over the item graphs
    reg_weight: float = 1e-4  # L2 on the batch's final representations (MMRec grid {1e-5, 1e-4})
    cl_weight: float = 0.01
    temperature: float = 0.2
    dropout: float = 0.0  # on the preference gates (MMRec grid {0, 0.1})

    def __post_init__(self):
        for name in ("embedding_dim", "knn_k", "n_ui_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"SMORE option {name}={getattr(self, name)}: expected >= 1")
        if self.n_layers < 0:
            raise ValueError(f"SMORE option n_layers={self.n_layers}: expected >= 0")
        if self.temperature <= 0:
            raise ValueError(f"SMORE option temperature={self.temperature}: expected > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SMORE option dropout={self.dropout}: expected a value in [0, 1)")


def _gate(d: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d, d), nn.Sigmoid())


@register_model
class SMORE(Recommender):
    name = "smore"
    config_class = SMOREConfig

    def __init__(self, inputs: ModelInputs, config: SMOREConfig):
        super().__init__(inputs, config)
        feats = self.register_content(inputs, "SMORE")
        d = config.embedding_dim
        n_freq = d // 2 + 1
        self.user_embedding = nn.Embedding(self.n_users, d)
        self.item_embedding = nn.Embedding(self.n_items, d)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        register_sparse(self, "user_item", inputs.norm_adjacency[: self.n_users, self.n_users:])
        graphs = [mgcn_knn_graph(f, config.knn_k) for f in feats]
        fusion = graphs[0]
        for graph in graphs[1:]:
            fusion = fusion.maximum(graph)
        for idx, graph in enumerate([*graphs, fusion.astype(np.float32).tocsr()]):
            register_sparse(self, f"item_graph_{idx}", graph)  # index M is the fusion graph

        m = len(feats)
        self.project = nn.ModuleList([nn.Linear(f.shape[1], d) for f in feats])
        # Complex filters over the rfft bins, stored as (real, imaginary) pairs; index M filters the fusion.
        self.spectral_filter = nn.Parameter(torch.randn(m + 1, n_freq, 2))
        self.item_gate = nn.ModuleList([_gate(d) for _ in range(m + 1)])
        self.query = nn.ModuleList([nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, d, bias=False))
                                    for _ in range(m)])
        self.prefer = nn.ModuleList([_gate(d) for _ in range(m + 1)])
        self.dropout = nn.Dropout(config.dropout)

    def spectral_signals(self) -> list[torch.Tensor]:
        """Per modality the filtered projection, then the fusion signal (M + 1 tensors of (n_items, d))."""
        d = self.config.embedding_dim
        filters = torch.view_as_complex(self.spectral_filter)
        spectra = [torch.fft.rfft(project(self.feature(i)), dim=1, norm="ortho")
                   for i, project in enumerate(self.project)]
        fused = spectra[0]
        for spectrum in spectra[1:]:
            fused = fused * spectrum
        return [torch.fft.irfft(s * filters[i], n=d, dim=1, norm="ortho") for i, s in enumerate([*spectra, fused])]

    def encode(self) -> dict[str, torch.Tensor]:
        """``content``: behaviour view E over all nodes; ``side``: the fused modality views."""
        cfg = self.config
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        content = lightgcn_propagate(self.adjacency, ego, cfg.n_ui_layers)
        views = []
        for idx, signal in enumerate(self.spectral_signals()):
            item_v = self.item_embedding.weight * self.item_gate[idx](signal)
            for _ in range(cfg.n_layers):
                item_v = sparse_product(self, f"item_graph_{idx}", item_v)
            views.append(torch.cat([sparse_product(self, "user_item", item_v), item_v]))
        fusion = views[-1]
        parts = [torch.softmax(self.query[i](fusion), dim=-1) * view for i, view in enumerate(views[:-1])]
        parts.append(fusion)
        side = torch.stack([part * self.dropout(self.prefer[i](content)) for i, part in enumerate(parts)]).mean(0)
        return {"content": content, "side": side}

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.encode()
        final = enc["content"] + enc["side"]
        return final[: self.n_users], final[self.n_users:]

    def loss(self, users, pos, neg):
        cfg = self.config
        enc = self.encode()
        content, side = enc["content"], enc["side"]
        final = content + side
        n_u = self.n_users
        u, i, j = batch_rows(final[:n_u], final[n_u:], users, pos, neg)
        bpr = bpr_loss((u * i).sum(-1), (u * j).sum(-1))
        reg = cfg.reg_weight * l2_penalty(u, i, j)
        cl = cfg.cl_weight * (info_nce(side[n_u:].index_select(0, pos), content[n_u:].index_select(0, pos), cfg.temperature)
                              + info_nce(side[:n_u].index_select(0, users), content[:n_u].index_select(0, users), cfg.temperature))
        return {"loss": bpr + reg + cl, "bpr": bpr, "reg": reg, "cl": cl}
