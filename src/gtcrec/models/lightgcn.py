"""LightGCN (He et al., SIGIR 2020): linear propagation over the normalised user-item graph."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class LightGCNConfig:
    embedding_dim: int = 64
    n_layers: int = 3
    reg_weight: float = 1e-4


@register_model
class LightGCN(Recommender):
    name = "lightgcn"
    config_class = LightGCNConfig

    def __init__(self, inputs: ModelInputs, config: LightGCNConfig):
        super().__init__(inputs, config)
        self.user_embedding = nn.Embedding(self.n_users, config.embedding_dim)
        self.item_embedding = nn.Embedding(self.n_items, config.embedding_dim)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)
        # Data, not state: moves with .to() but is not saved in checkpoints.
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight], dim=0)
        out = lightgcn_propagate(self.adjacency, ego, self.config.n_layers)
        return out[: self.n_users], out[self.n_users:]

    def loss(self, users, pos, neg):
        user_reps, item_reps = self.forward()
        u, i, j = batch_rows(user_reps, item_reps, users, pos, neg)
        bpr = bpr_loss((u * i).sum(-1), (u * j).sum(-1))
        reg = self.config.reg_weight * l2_penalty(
            self.user_embedding(users), self.item_embedding(pos), self.item_embedding(neg))
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}
