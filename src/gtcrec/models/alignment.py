"""Contrastive alignment losses over several views of the same items.

* :class:`TotalCorrelationLoss`: Symile's lower bound on total correlation (Saporta et al., NeurIPS 2024).
  The score of a tuple is the multilinear inner product MIP(a, b, c, ...) = sum_k a_k b_k c_k.
  Each view in turn is the anchor and must pick its own tuple of the other views among negatives
  built from independent in-batch shuffles. The loss is averaged over all anchors.
* :class:`PairwiseInfoNCELoss`: symmetric InfoNCE over every pair of views. It is the "w/o TC"
  ablation and captures only pairwise dependence.

Both return the mean cross-entropy over anchors; at chance it equals log(number of candidates), which
is log n for ``negatives="n"`` and for the pairwise loss.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import nn
from torch.nn import functional as F

TCNegatives = Literal["n", "n_squared"]
# none: the raw multilinear inner product. dim: times d^((M-2)/2), so that M L2-normalised, dense views
# that agree give a product of about 1 (a cosine's range) instead of d^(1-M/2); M = 2 is unchanged.
MIPScaling = Literal["none", "dim"]
# Logits per anchor that the n_squared candidates may take (n^M in all): 2^24 floats = 64 MiB.
MAX_N_SQUARED_LOGITS = 2 ** 24


def max_n_squared_rows(n_views: int) -> int:
    """The largest n for which ``negatives="n_squared"`` over ``n_views`` views stays within the logit budget."""
    n = round(MAX_N_SQUARED_LOGITS ** (1.0 / n_views))
    while n ** n_views > MAX_N_SQUARED_LOGITS:
        n -= 1
    return n


class LogitScale(nn.Module):
    """Learnable inverse temperature, stored as a log and capped at ``max_scale`` (CLIP's recipe).

    The cap is applied to the parameter itself, in place, before each use (as CLIP clamps it after each
    step), not through ``clamp`` in the graph: a clamped output has zero gradient above the cap, which
    would leave the scale stuck there.
    """

    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0):
        super().__init__()
        if not init_temperature > 0 or not max_scale > 0:
            raise ValueError(f"init_temperature and max_scale must be > 0, got {init_temperature}, {max_scale}")
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_log = math.log(max_scale)

    def forward(self) -> torch.Tensor:
        with torch.no_grad():
            self.log_scale.clamp_(max=self.max_log)
        return self.log_scale.exp()


class TotalCorrelationLoss(nn.Module):
    """Symile InfoNCE with the multilinear inner product over M >= 2 views (M = 2 is CLIP's loss).

    ``negatives="n"``: for anchor i, candidate j pairs the anchor with row j of independently
    shuffled copies of every other view (the true tuple on the diagonal); O(n^2 d).
    ``negatives="n_squared"``: every combination of rows of the other views is a candidate,
    n^(M-1) of them; n^M logits in all, refused above ``MAX_N_SQUARED_LOGITS``.
    """

    def __init__(self, negatives: TCNegatives = "n", init_temperature: float = 0.07, max_scale: float = 100.0,
                 normalize: bool = True, mip_scaling: MIPScaling = "none"):
        super().__init__()
        if negatives not in get_args(TCNegatives):
            raise ValueError(f"negatives must be one of {get_args(TCNegatives)}, got {negatives!r}")
        if mip_scaling not in get_args(MIPScaling):
            raise ValueError(f"mip_scaling must be one of {get_args(MIPScaling)}, got {mip_scaling!r}")
        self.negatives = negatives
        self.normalize = normalize
        self.mip_scaling = mip_scaling
        self.logit_scale = LogitScale(init_temperature, max_scale)

    def forward(self, views: list[torch.Tensor], generator: torch.Generator | None = None) -> torch.Tensor:
        if len(views) < 2:
            raise ValueError("total correlation needs at least 2 views")
        n, d = views[0].shape
        if self.negatives == "n_squared" and n ** len(views) > MAX_N_SQUARED_LOGITS:
            raise ValueError(f"negatives='n_squared' over {len(views)} views of {n} rows needs {n ** len(views):,} "
                             f"logits; expected at most {max_n_squared_rows(len(views))} rows")
        if self.normalize:
            views = [F.normalize(v, dim=-1) for v in views]
        scale = self.logit_scale()
        if self.mip_scaling == "dim":
            scale = scale * d ** ((len(views) - 2) / 2)
        losses = []
        for a, anchor in enumerate(views):
            others = [v for o, v in enumerate(views) if o != a]
            if self.negatives == "n":
                logits = _logits_n(anchor, others, generator)
                target = torch.arange(n, device=anchor.device)
            else:
                logits = _logits_n_squared(anchor, others)
                target = _diagonal_index(n, len(others), anchor.device)
            losses.append(F.cross_entropy(scale * logits, target))
        return torch.stack(losses).mean()


def _logits_n(anchor: torch.Tensor, others: list[torch.Tensor], generator: torch.Generator | None) -> torch.Tensor:
    """logits[i, j] = MIP(anchor_i, shuffled others at j); the diagonal holds the true tuples."""
    n = anchor.shape[0]
    positive = others[0]
    shuffled = others[0].index_select(0, torch.randperm(n, device=anchor.device, generator=generator))
    for other in others[1:]:
        positive = positive * other
        shuffled = shuffled * other.index_select(0, torch.randperm(n, device=anchor.device, generator=generator))
    logits = anchor @ shuffled.T
    pos = (anchor * positive).sum(-1)
    return logits.masked_scatter(torch.eye(n, dtype=torch.bool, device=anchor.device), pos)


def _logits_n_squared(anchor: torch.Tensor, others: list[torch.Tensor]) -> torch.Tensor:
    """logits[i, (j, k, ...)] = MIP(anchor_i, others[0]_j, others[1]_k, ...), flattened."""
    _n, d = anchor.shape
    combo = others[0]
    for other in others[1:]:
        combo = (combo.unsqueeze(1) * other.unsqueeze(0)).reshape(-1, d)
    return anchor @ combo.T


def _diagonal_index(n: int, n_others: int, device) -> torch.Tensor:
    """Flat index of (i, i, ..., i) in an n^n_others grid, for each i."""
    stride = sum(n ** p for p in range(n_others))
    return torch.arange(n, device=device) * stride


class PairwiseInfoNCELoss(nn.Module):
    """Mean of the symmetric InfoNCE (CLIP) losses of every pair of views."""

    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0, normalize: bool = True):
        super().__init__()
        self.normalize = normalize
        self.logit_scale = LogitScale(init_temperature, max_scale)

    def forward(self, views: list[torch.Tensor], generator: torch.Generator | None = None) -> torch.Tensor:
        if len(views) < 2:
            raise ValueError("pairwise InfoNCE needs at least 2 views")
        if self.normalize:
            views = [F.normalize(v, dim=-1) for v in views]
        scale = self.logit_scale()
        target = torch.arange(views[0].shape[0], device=views[0].device)
        losses = []
        for a in range(len(views)):
            for b in range(a + 1, len(views)):
                logits = scale * views[a] @ views[b].T
                losses.append(0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)))
        return torch.stack(losses).mean()
