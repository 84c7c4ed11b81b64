"""The small interface every model implements, and the model registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..config import from_dict
from ..data.dataset import InteractionData, pairs_to_csr
from ..graph import normalized_bipartite_adjacency


@dataclass
class ModelInputs:
    """What a model may read from the data: sizes, training pairs and item features. Never valid/test."""

    n_users: int
    n_items: int
    train_pairs: np.ndarray
    features: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: InteractionData) -> ModelInputs:
        return cls(data.n_users, data.n_items, data.train, dict(data.features))

    @cached_property
    def train_csr(self) -> sp.csr_matrix:
        return pairs_to_csr(self.train_pairs, self.n_users, self.n_items)

    @cached_property
    def norm_adjacency(self) -> sp.csr_matrix:
        return normalized_bipartite_adjacency(self.n_users, self.n_items, self.train_pairs)


class Recommender(nn.Module, ABC):
    """A model scores (user, item) pairs from user and item representations.

    * ``forward()`` returns ``(user_reps, item_reps)`` for all users and items, with gradients.
    * ``loss(users, pos, neg)`` returns a dict of named loss terms; ``"loss"`` is the total.
    * ``representations()`` is the evaluation pass: eval mode, no gradient, deterministic.
      Nothing is cached on ``self``, so a stale cache can never leak into evaluation.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, inputs: ModelInputs, config: Any):
        super().__init__()
        self.n_users = inputs.n_users
        self.n_items = inputs.n_items
        self.config = config

    @abstractmethod
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]: ...

    @abstractmethod
    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]: ...

    def on_epoch_start(self, epoch: int) -> None:
        """Hook called by the trainer before each training epoch (1-based); no-op by default."""

    def score(self, user_reps: torch.Tensor, item_reps: torch.Tensor) -> torch.Tensor:
        return user_reps @ item_reps.T

    @torch.no_grad()
    def representations(self) -> tuple[torch.Tensor, torch.Tensor]:
        was_training = self.training
        self.eval()
        try:
            return self.forward()
        finally:
            self.train(was_training)

    @torch.no_grad()
    def recommend(self, users: torch.Tensor, k: int, exclude: sp.csr_matrix | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` (scores, item ids) for ``users``; items in ``exclude``'s rows are never returned."""
        user_reps, item_reps = self.representations()
        scores = self.score(user_reps[users], item_reps)
        if exclude is not None:
            from ..evaluation.ranking import mask_rows
            mask_rows(scores, users, exclude)
        return torch.topk(scores, k, dim=1)


def content_features(inputs: ModelInputs, model: str) -> list[np.ndarray]:
    """The item feature matrices (float32, in modality order) of a model that needs content; clear errors."""
    if not inputs.features:
        raise ValueError(f"{model} needs at least one item content modality (features), but the data has none")
    feats = [np.asarray(f, dtype=np.float32) for f in inputs.features.values()]
    for m, f in zip(inputs.features, feats):
        if f.ndim != 2 or f.shape[0] != inputs.n_items:
            raise ValueError(f"{model}: features {m!r} have shape {f.shape}; expected ({inputs.n_items}, dim)")
    return feats


def identifier_modalities(inputs: ModelInputs, model: str) -> list[str]:
    """The modality names, each checked to be a Python identifier (the model names attributes after them)."""
    for m in inputs.features:
        if not m.isidentifier():
            raise ValueError(f"{model}: modality name {m!r} must be a Python identifier")
    return list(inputs.features)


def check_modality_names(names: list[str], model: str) -> None:
    for m in names:
        if not m or "." in m:
            raise ValueError(f"{model}: modality name {m!r} must be non-empty and contain no '.'")


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    return -nn.functional.logsigmoid(pos_scores - neg_scores).mean()


def l2_penalty(*tensors: torch.Tensor) -> torch.Tensor:
    """Half the summed squared norm per batch row (LightGCN's regulariser on layer-0 embeddings)."""
    batch = tensors[0].shape[0]
    return sum(t.pow(2).sum() for t in tensors) / (2 * batch)


MODELS: dict[str, type[Recommender]] = {}


def register_model(cls: type[Recommender]) -> type[Recommender]:
    MODELS[cls.name] = cls
    return cls


def build_model(name: str, inputs: ModelInputs, params: dict[str, Any] | None = None) -> Recommender:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    cls = MODELS[name]
    config = from_dict(cls.config_class, params or {}, f"model_params ({name})")
    return cls(inputs, config)
