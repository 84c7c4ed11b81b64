"""VBPR: matrix factorisation with a content factor learned from item features, trained with BPR.

He & McAuley. "VBPR: Visual Bayesian Personalized Ranking from Implicit Feedback". AAAI 2016.
Reference code: MMRec's ``src/models/vbpr.py`` (github.com/enoche/MMRec).

Model
-----
The paper's preference predictor, without the global and user offsets (they do not change a user's
ranking)::

    x(u, i) = beta_i + gamma_u^T gamma_i + theta_u^T (E f_i) + beta'^T f_i

``f_i`` is the concatenation of all of the item's modality features (MMRec concatenates its text
and visual features the same way), ``E`` a learned bias-free linear map to ``content_dim``, and
``beta'`` the learned visual (content) bias. It is written as a dot product, so the shared
``score`` / ``recommend`` path of :class:`Recommender` applies unchanged::

    user_rep = [gamma_u ; theta_u ; 1]
    item_rep = [gamma_i ; E f_i   ; beta_i + beta'^T f_i]

With no modalities the theta, E and beta' parts disappear and VBPR is BPR-MF with an item bias:
``x(u, i) = beta_i + gamma_u^T gamma_i``.

Loss: BPR on the sampled triple plus ``reg_weight * l2_penalty(gamma_u, theta_u, gamma_i, gamma_j,
beta_i, beta_j)`` (half the summed squared norm per batch row, the convention of this package's
BPR-MF and LightGCN), i.e. the paper's lambda_Theta term on the batch's parameters.

Deviations from the paper / MMRec
---------------------------------
1. Dimensions follow MMRec, not the paper: ``embedding_dim`` 64 for gamma and ``content_dim`` 64
   for theta (MMRec: a 128-d user embedding against ``[i_embedding(64); linear(features)(64)]``).
   The paper splits a fixed budget between K and K' instead.
2. The paper's item bias beta_i and content bias beta' are kept (``use_bias=True``); MMRec's VBPR
   has neither (``use_bias=False`` gives MMRec's form). MMRec's ``item_linear`` also has a bias
   vector ``b``; ``theta_u^T b`` is the same for every item of a user, so it cannot change a
   ranking and gets no BPR gradient, and it is left out here (``E`` is bias-free, as in the paper).
3. Regulariser: the paper penalises Theta with lambda_Theta and E, beta' with a separate lambda_E;
   here only the batch's gamma_u, theta_u, gamma_i/j, beta_i/j are penalised (squared L2, halved,
   over the batch size); E and beta' are not. MMRec instead applies ``EmbLoss`` (non-squared
   Frobenius norms over the batch size) to the full user vector and the full item vectors,
   including ``E f_i``, and tunes reg_weight in {2, 1, 0.1, ..., 1e-5}: its values do not
   transfer to this regulariser one to one. ``penalise_content=True`` adds the batch items'
   ``E f_i`` to the penalty, which is how MMRec's regulariser restrains the content factor when
   the raw features are large.
4. Raw features are used as given (no normalisation), as in MMRec; any number of modalities with
   any names are concatenated in the dataset's modality order.
5. Initialisation: gamma, theta xavier-uniform (as MMRec's user/item parameters); E
   xavier-normal (as MMRec's ``item_linear``); beta_i and beta' start at zero (bias convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import ModelInputs, Recommender, bpr_loss, l2_penalty, register_model


@dataclass
class VBPRConfig:
    embedding_dim: int = 64  # gamma (ID factors), K
    content_dim: int = 64  # theta and E's output (content factors), K'
    reg_weight: float = 1e-4
    use_bias: bool = True  # the paper's beta_i and beta'; False: MMRec's bias-free form
    penalise_content: bool = False  # also penalise the batch items' E f_i (MMRec's regulariser does)

    def __post_init__(self):
        if self.embedding_dim < 1 or self.content_dim < 1:
            raise ValueError("embedding_dim and content_dim must be >= 1")


@register_model
class VBPR(Recommender):
    name = "vbpr"
    config_class = VBPRConfig

    def __init__(self, inputs: ModelInputs, config: VBPRConfig):
        super().__init__(inputs, config)
        self.modalities = list(inputs.features)
        self.user_embedding = nn.Embedding(self.n_users, config.embedding_dim)  # gamma_u
        self.item_embedding = nn.Embedding(self.n_items, config.embedding_dim)  # gamma_i
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)
        self.has_content = bool(self.modalities)
        if self.has_content:
            feats = [torch.as_tensor(inputs.features[m], dtype=torch.float32) for m in self.modalities]
            # Data, not state: moves with .to() but is not saved in checkpoints.
            self.register_buffer("item_features", torch.cat(feats, dim=1), persistent=False)
            n_feat = self.item_features.shape[1]
            self.user_content = nn.Embedding(self.n_users, config.content_dim)  # theta_u
            nn.init.xavier_uniform_(self.user_content.weight)
            self.content_proj = nn.Linear(n_feat, config.content_dim, bias=False)  # E
            nn.init.xavier_normal_(self.content_proj.weight)
        if config.use_bias:
            self.item_bias = nn.Embedding(self.n_items, 1)  # beta_i
            nn.init.zeros_(self.item_bias.weight)
            if self.has_content:
                self.content_bias = nn.Linear(n_feat, 1, bias=False)  # beta'
                nn.init.zeros_(self.content_bias.weight)

    def user_rows(self, users: torch.Tensor | None = None) -> torch.Tensor:
        """``[gamma_u ; theta_u ; 1]`` for ``users`` (all users when None)."""
        def rows(emb: nn.Embedding) -> torch.Tensor:
            return emb.weight if users is None else emb(users)

        parts = [rows(self.user_embedding)]
        if self.has_content:
            parts.append(rows(self.user_content))
        if self.config.use_bias:
            parts.append(parts[0].new_ones(parts[0].shape[0], 1))
        return torch.cat(parts, dim=1)

    def item_rows(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """``[gamma_i ; E f_i ; beta_i + beta'^T f_i]`` for ``items`` (all items when None)."""
        def rows(emb: nn.Embedding) -> torch.Tensor:
            return emb.weight if items is None else emb(items)

        parts = [rows(self.item_embedding)]
        if self.has_content:
            feats = self.item_features if items is None else self.item_features[items]
            parts.append(self.content_proj(feats))
        if self.config.use_bias:
            bias = rows(self.item_bias)
            if self.has_content:
                bias = bias + self.content_bias(feats)
            parts.append(bias)
        return torch.cat(parts, dim=1)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_rows(), self.item_rows()

    def loss(self, users, pos, neg):
        u = self.user_rows(users)
        # project each distinct item once: with dense catalogues a batch repeats items many times
        distinct, where = torch.unique(torch.cat([pos, neg]), return_inverse=True)
        i, j = self.item_rows(distinct).index_select(0, where).split(len(pos))
        bpr = bpr_loss((u * i).sum(-1), (u * j).sum(-1))
        penalised = [self.user_embedding(users), self.item_embedding(pos), self.item_embedding(neg)]
        if self.has_content:
            penalised.append(self.user_content(users))
            if self.config.penalise_content:
                content = slice(self.config.embedding_dim, self.config.embedding_dim + self.config.content_dim)
                penalised += [i[:, content], j[:, content]]
        if self.config.use_bias:
            penalised += [self.item_bias(pos), self.item_bias(neg)]
        reg = self.config.reg_weight * l2_penalty(*penalised)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}
