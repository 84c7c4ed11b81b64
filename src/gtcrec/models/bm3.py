"""BM3: bootstrapped latent representations for multimodal recommendation, without negatives.

Zhou, Zhou, Liu, Zeng, Miao, Wang, You, Jiang. "Bootstrap Latent Representations for Multi-modal
Recommendation". WWW 2023 (arXiv:2207.05969). Reference code: MMRec's ``src/models/bm3.py``
(github.com/enoche/MMRec), whose structure this module follows.

Model
-----
* Online ID encoder: LightGCN (``n_layers``, mean over layers 0..L) over ``[user ID; item ID]``;
  the item output gets the layer-0 item ID embedding added once more (MMRec: ``i_g + h``).
* Per modality ``m``: a projection ``Linear(dim_m, d)`` of the item features.
* One online predictor ``Linear(d, d)`` shared by users, items and every modality.
* Targets: the online representations, detached (stop-gradient), with ``F.dropout(p=dropout)`` as
  the only augmentation (no target network, no graph augmentation).
* Loss on a batch of observed ``(user, item)`` pairs; the sampled negatives are ignored::

      L_rec    = mean(1 - cos(pred(u)[users], i_tgt[pos])) + mean(1 - cos(pred(i)[pos], u_tgt[users]))
      L_align  = sum_m mean(1 - cos(pred(f_m)[pos], i_tgt[pos]))          (inter-modality)
      L_mask   = sum_m mean(1 - cos(pred(f_m)[pos], dropout(f_m)^sg[pos]))  (intra-modality)
      L        = L_rec + reg_weight * L_reg + cl_weight * (L_align + L_mask)

  ``L_reg`` is MMRec's ``EmbLoss`` of the online (pre-predictor) ID outputs ``U`` (all users) and
  ``I`` (all items): ``(||U||_F + ||I||_F) / n_items``, Frobenius norms *not squared*, over the
  full tables, divided by the number of rows of the last table (that is what MMRec's code does).
  ``reg_scope="batch"`` applies the same EmbLoss to the batch rows instead:
  ``(||U[users]||_F + ||I[pos]||_F) / batch``.
* Scores: ``pred(u)^T pred(i)`` (MMRec's ``full_sort_predict``), so :meth:`forward` returns the
  predicted representations and the shared dot-product ``score`` / ``recommend`` path applies.
  ``forward`` has no dropout, so evaluation is deterministic.

With no modalities (e.g. Baby ID-only) BM3 is the bootstrapped LightGCN with ``L_rec + reg`` only.

Deviations from the paper / MMRec
---------------------------------
1. Feature tables are frozen buffers by default (``finetune_features=False``) to save memory and
   optimiser state; MMRec fine-tunes them (``nn.Embedding.from_pretrained(freeze=False)``).
   ``finetune_features=True`` restores MMRec's behaviour.
2. Any number of modalities with any names (MMRec hard-codes ``v_feat`` and ``t_feat``); every
   modality contributes its own align and mask term, all weighted by the single ``cl_weight``.
3. The projection and dropout targets are computed on the batch's *unique* rows, not on the full
   tables as MMRec does; a repeated row still shares one dropout mask within a batch, as in MMRec,
   so the loss has the same distribution and gradient, for less compute on large feature tables.
4. The normalised adjacency leaves isolated nodes with zero rows; MMRec adds 1e-7 to the degrees.
   The outputs differ only for nodes without training edges.
5. The paper writes the regulariser as an L2 penalty on the online embeddings; MMRec's code
   (followed here by default) uses non-squared Frobenius norms of the full tables over
   ``n_items`` (see above). The paper tunes n_layers {1, 2}, dropout {0.3, 0.5} and reg_weight
   {0.1, 0.01}; cl_weight=2.0 is MMRec's fixed value. Defaults are the authors' best for Baby
   (n_layers 1, dropout 0.5, reg_weight 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check_choices
from ..graph import lightgcn_propagate, to_torch_sparse
from .base import ModelInputs, Recommender, identifier_modalities, register_model


@dataclass
class BM3Config:
    embedding_dim: int = 64
    n_layers: int = 1
    dropout: float = 0.5  # target-view dropout ratio
    reg_weight: float = 0.1
    cl_weight: float = 2.0  # weight of the align + mask terms of every modality
    finetune_features: bool = False  # MMRec: True (raw feature tables are trained)
    reg_scope: Literal["full", "batch"] = "full"  # "full": MMRec's EmbLoss on all rows; "batch": on the batch rows

    def __post_init__(self):
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        check_choices(self, "BM3")
        if self.n_layers < 0 or self.embedding_dim < 1:
            raise ValueError("n_layers must be >= 0 and embedding_dim >= 1")


def _cos_loss(online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - mean cosine`` between rows; ``target`` must already be detached."""
    return 1.0 - F.cosine_similarity(online, target, dim=-1).mean()


@register_model
class BM3(Recommender):
    name = "bm3"
    config_class = BM3Config

    def __init__(self, inputs: ModelInputs, config: BM3Config):
        super().__init__(inputs, config)
        d = config.embedding_dim
        self.modalities = identifier_modalities(inputs, "BM3")
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        self.user_embedding = nn.Embedding(self.n_users, d)
        self.item_embedding = nn.Embedding(self.n_items, d)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)
        self.predictor = nn.Linear(d, d)
        nn.init.xavier_normal_(self.predictor.weight)
        self.project = nn.ModuleDict({m: nn.Linear(inputs.features[m].shape[1], d) for m in self.modalities})
        for layer in self.project.values():
            nn.init.xavier_normal_(layer.weight)
        feats = {m: torch.as_tensor(inputs.features[m], dtype=torch.float32) for m in self.modalities}
        if config.finetune_features:
            self.features = nn.ParameterDict({m: nn.Parameter(f.clone()) for m, f in feats.items()})
        else:
            for m, f in feats.items():  # data, not state: not saved in checkpoints
                self.register_buffer(f"feat_{m}", f, persistent=False)

    def feature_table(self, m: str) -> torch.Tensor:
        return self.features[m] if self.config.finetune_features else getattr(self, f"feat_{m}")

    def online(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Online (pre-predictor) representations: LightGCN users, LightGCN items + item ID embedding."""
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight], dim=0)
        out = lightgcn_propagate(self.adjacency, ego, self.config.n_layers)
        return out[: self.n_users], out[self.n_users:] + self.item_embedding.weight

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items = self.online()
        return self.predictor(users), self.predictor(items)

    def loss(self, users, pos, neg):
        del neg  # BM3 needs no negative samples
        p = self.config.dropout
        u_all, i_all = self.online()
        uu, u_inv = torch.unique(users, return_inverse=True)
        ui, i_inv = torch.unique(pos, return_inverse=True)
        u_rows, i_rows = u_all.index_select(0, uu), i_all.index_select(0, ui)
        with torch.no_grad():  # stop-gradient targets; one dropout mask per distinct row
            u_target = F.dropout(u_rows.detach(), p, training=True).index_select(0, u_inv)
            i_target = F.dropout(i_rows.detach(), p, training=True).index_select(0, i_inv)
        u_pred = self.predictor(u_rows).index_select(0, u_inv)
        i_pred = self.predictor(i_rows).index_select(0, i_inv)
        rec = _cos_loss(u_pred, i_target) + _cos_loss(i_pred, u_target)

        align = u_all.new_zeros(())
        mask = u_all.new_zeros(())
        for m in self.modalities:
            f_online = self.project[m](self.feature_table(m).index_select(0, ui))
            with torch.no_grad():
                f_target = F.dropout(f_online.detach(), p, training=True).index_select(0, i_inv)
            f_pred = self.predictor(f_online).index_select(0, i_inv)
            align = align + _cos_loss(f_pred, i_target)
            mask = mask + _cos_loss(f_pred, f_target)

        if self.config.reg_scope == "full":
            reg = (torch.linalg.vector_norm(u_all) + torch.linalg.vector_norm(i_all)) / self.n_items
        else:
            reg = (torch.linalg.vector_norm(u_all.index_select(0, users))
                   + torch.linalg.vector_norm(i_all.index_select(0, pos))) / len(pos)
        reg = self.config.reg_weight * reg
        cl = self.config.cl_weight * (align + mask)
        return {"loss": rec + reg + cl, "rec": rec, "reg": reg, "align": align, "mask": mask}
