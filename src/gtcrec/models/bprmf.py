"""BPR-MF (Rendle et al., UAI 2009): matrix factorisation trained with the BPR loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import ModelInputs, Recommender, bpr_loss, l2_penalty, register_model


@dataclass
class BPRMFConfig:
    embedding_dim: int = 64
    reg_weight: float = 1e-4


@register_model
class BPRMF(Recommender):
    name = "bprmf"
    config_class = BPRMFConfig

    def __init__(self, inputs: ModelInputs, config: BPRMFConfig):
        super().__init__(inputs, config)
        self.user_embedding = nn.Embedding(self.n_users, config.embedding_dim)
        self.item_embedding = nn.Embedding(self.n_items, config.embedding_dim)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_embedding.weight, self.item_embedding.weight

    def loss(self, users, pos, neg):
        u, i, j = self.user_embedding(users), self.item_embedding(pos), self.item_embedding(neg)
        bpr = bpr_loss((u * i).sum(-1), (u * j).sum(-1))
        reg = self.config.reg_weight * l2_penalty(u, i, j)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}
