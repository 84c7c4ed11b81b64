"""The paper's modality analyses, measured on a model's representations (off by default; ``train.modality_analysis``).

Models that have modality-specific representations expose them through ``modality_views()`` as
:class:`ModalityViews`: the final user representations and, per part (the interaction view and each
content modality), user and item parts *in the space of the final representation*. A model whose final
representation concatenates its views puts each part in its own block, zeros elsewhere. For DRAGON (blocks
only) ``final_user . item_part`` summed over the parts is exactly the score; for MGCN (attention, gates and a
mean over the views) and GTC with its gate (the interaction block is the gate-refined one) the parts are the
views before fusion, so their products with the final user show how each view lines up with it, not an exact
split of the score.

* **Modality balance (RQ4).** For each evaluated user, the cosine between the final user representation and
  each content modality's user part; the user's balance is ``1 - (max - min) / 2`` over the modalities, in
  [0, 1], 1 when every modality is equally close to the final representation. The paper's own formula is
  lost in our copy of its text; this disparity measure is our choice. One modality: balance 1.
* **Preference consistency (RQ5).** For each part, the mean over training interactions of
  ``final_user . item_part``: how strongly each view's item side agrees with the final user representation
  on the items users chose.

Both are means over at most ``max_rows`` users / interactions (a fixed, evenly spaced subset above that), so
the cost stays a few matrix-vector products per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

INTERACTION = "interaction"


@dataclass
class ModalityViews:
    users: torch.Tensor  # final user representations (n_users, D)
    user_parts: dict[str, torch.Tensor]  # per part (interaction, then modalities): (n_users, D)
    item_parts: dict[str, torch.Tensor]  # per part: (n_items, D)


def place_in_block(part: torch.Tensor, index: int, n_blocks: int) -> torch.Tensor:
    """``part`` in block ``index`` of ``n_blocks`` equal blocks, zeros elsewhere (for concatenated outputs)."""
    out = part.new_zeros(part.shape[0], part.shape[1] * n_blocks)
    out[:, index * part.shape[1]:(index + 1) * part.shape[1]] = part
    return out


def _spread(n: int, max_rows: int) -> torch.Tensor:
    return torch.from_numpy(np.unique(np.linspace(0, n - 1, min(n, max_rows)).astype(np.int64)))


def modality_balance(views: ModalityViews, users: torch.Tensor) -> dict[str, float]:
    final = views.users[users]
    cos = {m: F.cosine_similarity(final, part[users], dim=1) for m, part in views.user_parts.items()
           if m != INTERACTION}
    out = {f"cos_{m}": float(c.mean()) for m, c in cos.items()}
    stacked = torch.stack(list(cos.values()), dim=1)
    out["balance"] = float((1 - (stacked.max(1).values - stacked.min(1).values) / 2).mean())
    return out


def preference_consistency(views: ModalityViews, pairs: torch.Tensor) -> dict[str, float]:
    final = views.users[pairs[:, 0]]
    return {f"consistency_{m}": float((final * part[pairs[:, 1]]).sum(1).mean()) for m, part in views.item_parts.items()}


@torch.no_grad()
def views_of(model) -> ModalityViews | None:
    """``model.modality_views()`` in evaluation mode (deterministic, no training-time draws), without gradient."""
    from ..models.base import evaluating

    with evaluating(model):
        return model.modality_views()


@torch.no_grad()
def modality_analysis(model, users: torch.Tensor, train_pairs: np.ndarray, max_rows: int = 100_000
                      ) -> dict[str, float]:
    """Balance over ``users`` and consistency over ``train_pairs`` (evaluation mode, no gradient)."""
    views = views_of(model)
    users = users.to(views.users.device)
    users = users[_spread(len(users), max_rows).to(users.device)]
    pairs = torch.as_tensor(np.asarray(train_pairs)[_spread(len(train_pairs), max_rows).numpy()],
                            device=views.users.device)
    return {**modality_balance(views, users), **preference_consistency(views, pairs)}
