"""SLMRec: self-supervised learning for multimedia recommendation.

Zhulin Tao, Xiaohao Liu, Yewei Xia, Xiang Wang, Lifang Yang, Xianglin Huang and Tat-Seng Chua.
"Self-supervised Learning for Multimedia Recommendation." IEEE Transactions on Multimedia 2022. Our own
implementation from the paper's description; MMRec's ``slmrec.py`` and ``SLMRec.yaml`` were read for defaults.

* **Views.** One user embedding table shared by every view. The ID view propagates [users; item IDs] with
  LightGCN (``n_layers``, mean of layers); each modality's view propagates [users; Linear(normalised
  features)] the same way. Users and items are the concatenation of their views, each mapped back to d by
  a linear layer (one for users, one for items).
* **Main loss.** In-batch InfoNCE between the batch's users and their positive items (cosine,
  ``temperature``); the sampled negatives are not used.
* **Self-supervised task** (``ssl_task``), weighted ``ssl_weight``:
  ``fac`` (fine and coarse, the paper's best): the batch's positive items' ID view is aligned with the
  first modality's view in a shared space, that joint space is mapped on and aligned with the next
  modality, and so on, the last space being d/2 (coarser), each by InfoNCE over raw inner products with
  ``ssl_temperature``; ``fd`` (feature dropout): two dropout copies of every view's propagation, users and
  items aligned across the copies; ``fm`` (feature masking): two copies with a different, randomly chosen
  view zeroed in each, aligned the same way.

Defaults: MMRec's SLMRec.yaml (d 64, 3 layers, fac, temperature 0.2, dropout 0.3, weight decay 1e-4 in the
preset) with middle values of its grids (ssl weight 0.1, ssl temperature 0.2, lr 1e-3).

Deviations from the paper / MMRec:

* **Any M >= 1 modalities, in the data's order** (MMRec: image and text, with the audio step of its
  chain commented out, which leaves one layer of the chain that receives no gradient).
* ``fd``/``fm`` views are built for the batch's users and positive items; MMRec's versions read dataset
  names from a config key its datasets do not set.
* Raw features are L2-normalised once and frozen, as in MMRec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ..config import check_choices
from ..graph import lightgcn_propagate, propagate, to_torch_sparse
from .base import (
    ModelInputs,
    Recommender,
    register_model,
)
from .mgcn import in_batch_info_nce, info_nce

SSLTask = Literal["fac", "fd", "fm"]


@dataclass
class SLMRecConfig:
    embedding_dim: int = 64
    n_layers: int = 3
    temperature: float = 0.2  # of the main user-item InfoNCE
    ssl_task: SSLTask = "fac"
    ssl_weight: float = 0.1  # MMRec "ssl_alpha", grid {0.01, 0.05, 0.1, 0.5, 1.0}
    ssl_temperature: float = 0.2  # MMRec grid {0.1, 0.2, 0.5, 1.0}
    dropout: float = 0.3  # feature dropout of the fd task

    def __post_init__(self):
        check_choices(self, "SLMRec")
        for name in ("embedding_dim", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"SLMRec option {name}={getattr(self, name)}: expected >= 1")
        for name in ("temperature", "ssl_temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SLMRec option {name}={getattr(self, name)}: expected > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SLMRec option dropout={self.dropout}: expected a value in [0, 1)")


def raw_info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of row i of ``a`` against row i of ``b`` over raw inner products (no normalisation)."""
    return in_batch_info_nce(a, b, lambda x, y: x @ y.T / temperature)


@register_model
class SLMRec(Recommender):
    name = "slmrec"
    config_class = SLMRecConfig

    def __init__(self, inputs: ModelInputs, config: SLMRecConfig):
        super().__init__(inputs, config)
        feats = self.register_content(inputs, "SLMRec", lambda table: F.normalize(table, dim=1))
        d, m = config.embedding_dim, len(feats)
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        self.user_embedding = nn.Embedding(self.n_users, d)
        self.item_embedding = nn.Embedding(self.n_items, d)
        self.project = nn.ModuleList([nn.Linear(f.shape[1], d) for f in feats])
        self.user_out = nn.Linear(d * (m + 1), d)
        self.item_out = nn.Linear(d * (m + 1), d)
        if config.ssl_task == "fac":
            # Level k aligns the joint space of (ID, modalities < k) with modality k; the last level is coarser.
            dims = [d] * (m - 1) + [d // 2 if m > 1 else d]
            self.joint = nn.ModuleList([nn.Linear(d if k == 0 else dims[k - 1], dims[k]) for k in range(m)])
            self.aligned = nn.ModuleList([nn.Linear(d, dims[k]) for k in range(m)])
        self.dropout = nn.Dropout(config.dropout)
        linears = [self.user_out, self.item_out, *self.project,
                   *(getattr(self, "joint", [])), *(getattr(self, "aligned", []))]
        for weight in [self.user_embedding.weight, self.item_embedding.weight, *(lin.weight for lin in linears)]:
            nn.init.xavier_uniform_(weight)

    def item_inputs(self) -> list[torch.Tensor]:
        """Layer-0 item rows of each view: IDs, then each modality's projection."""
        return [self.item_embedding.weight,
                *(project(self.feature(i)) for i, project in enumerate(self.project))]

    def propagate_views(self, items: list[torch.Tensor], dropout: bool = False) -> list[torch.Tensor]:
        """Each view's LightGCN output over [users; items[v]] (dropout after every layer if asked)."""
        out = []
        for item_rows in items:
            x = torch.cat([self.user_embedding.weight, item_rows])
            if not dropout:
                out.append(lightgcn_propagate(self.adjacency, x, self.config.n_layers))
                continue
            layers = [x]
            for _ in range(self.config.n_layers):
                layers.append(self.dropout(propagate(self.adjacency, layers[-1])))
            out.append(torch.stack(layers).mean(0))
        return out

    def fuse(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        joined = torch.cat(views, dim=1)
        return self.user_out(joined[: self.n_users]), self.item_out(joined[self.n_users:])

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fuse(self.propagate_views(self.item_inputs()))

    def fac_loss(self, views: list[torch.Tensor], items: torch.Tensor) -> torch.Tensor:
        n_u, t = self.n_users, self.config.ssl_temperature
        joint = views[0][n_u:].index_select(0, items)
        total = 0
        for k, (to_joint, to_aligned) in enumerate(zip(self.joint, self.aligned)):
            joint = to_joint(joint)
            total = total + raw_info_nce(joint, to_aligned(views[k + 1][n_u:].index_select(0, items)), t)
        return total

    def two_copy_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """fd: two dropout copies; fm: two copies each with one (different) view zeroed. Align users and items."""
        inputs = self.item_inputs()
        if self.config.ssl_task == "fd":
            first, second = self.propagate_views(inputs, dropout=True), self.propagate_views(inputs, dropout=True)
        else:
            a, b = torch.randperm(len(inputs))[:2].tolist()
            first = self.propagate_views([torch.zeros_like(x) if v == a else x for v, x in enumerate(inputs)])
            second = self.propagate_views([torch.zeros_like(x) if v == b else x for v, x in enumerate(inputs)])
        (u1, i1), (u2, i2) = self.fuse(first), self.fuse(second)
        t = self.config.ssl_temperature
        return (info_nce(u1.index_select(0, users), u2.index_select(0, users), t)
                + info_nce(i1.index_select(0, items), i2.index_select(0, items), t))

    def loss(self, users, pos, neg):
        cfg = self.config
        views = self.propagate_views(self.item_inputs())
        user_reps, item_reps = self.fuse(views)
        main = info_nce(user_reps.index_select(0, users), item_reps.index_select(0, pos), cfg.temperature)
        ssl = self.fac_loss(views, pos) if cfg.ssl_task == "fac" else self.two_copy_loss(users, pos)
        ssl = cfg.ssl_weight * ssl
        return {"loss": main + ssl, "infonce": main, "ssl": ssl}
