"""Noise predictor for vector data: an MLP U-Net conditioned on the timestep and a condition vector."""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalTimeEmbedding(nn.Module):
    """Transformer-style sin/cos features of integer timesteps (max period 10000)."""

    def __init__(self, dim: int, max_period: float = 10000.0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"time embedding dim must be even and >= 2, got {dim}")
        self.dim = dim
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        # Derived from dim, not learned: follows .to() but stays out of checkpoints.
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        args = t.to(self.freqs.dtype).reshape(-1, 1) * self.freqs
        return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class _EmbBlock(nn.Module):
    """Linear -> LayerNorm -> (+ projected embedding) -> SiLU -> Dropout.

    The embedding is added after the norm, right before the activation, so normalisation
    cannot wash the timestep/condition signal out.
    """

    def __init__(self, in_dim: int, out_dim: int, emb_dim: int, dropout: float):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim)
        self.emb_proj = nn.Linear(emb_dim, out_dim)
        self.act = nn.SiLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.act(self.norm(self.linear(x)) + self.emb_proj(emb)))


class ConditionalMLPUNet(nn.Module):
    """eps_theta(x_t, t, cond): down blocks, a bottleneck, and up blocks fed with skip connections.

    Down path ``data_dim -> hidden_dims[0] -> ... -> hidden_dims[-1]``; up block ``i`` mirrors down
    block ``i``, taking ``[previous output, down_i output]`` back to ``hidden_dims[i-1]`` (or
    ``hidden_dims[0]`` for i = 0). ``e = time_mlp(t) + cond_mlp(cond)`` enters every block.
    """

    def __init__(self, data_dim: int, cond_dim: int, hidden_dims: tuple[int, ...] = (256, 128),
                 emb_dim: int = 64, dropout: float = 0.0):
        super().__init__()
        hidden_dims = tuple(hidden_dims)
        if data_dim < 1 or cond_dim < 1:
            raise ValueError(f"data_dim and cond_dim must be >= 1, got {data_dim}, {cond_dim}")
        if not hidden_dims or any(h < 1 for h in hidden_dims):
            raise ValueError(f"hidden_dims must be a non-empty tuple of positive ints, got {hidden_dims}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.data_dim = data_dim
        self.cond_dim = cond_dim
        self.hidden_dims = hidden_dims
        self.emb_dim = emb_dim

        self.time_mlp = nn.Sequential(SinusoidalTimeEmbedding(emb_dim), nn.Linear(emb_dim, emb_dim),
                                      nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.cond_mlp = nn.Sequential(nn.Linear(cond_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        widths = (data_dim,) + hidden_dims
        self.down = nn.ModuleList(_EmbBlock(widths[i], widths[i + 1], emb_dim, dropout)
                                  for i in range(len(hidden_dims)))
        self.mid = _EmbBlock(hidden_dims[-1], hidden_dims[-1], emb_dim, dropout)
        up = []
        prev = hidden_dims[-1]
        for i in reversed(range(len(hidden_dims))):
            out = hidden_dims[max(i - 1, 0)]
            up.append(_EmbBlock(prev + hidden_dims[i], out, emb_dim, dropout))
            prev = out
        self.up = nn.ModuleList(up)
        self.out = nn.Linear(prev, data_dim)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(t) + self.cond_mlp(cond)
        h = x_t
        skips = []
        for block in self.down:
            h = block(h, emb)
            skips.append(h)
        h = self.mid(h, emb)
        for block in self.up:
            h = block(torch.cat([h, skips.pop()], dim=-1), emb)
        return self.out(h)
