"""Training objective and samplers for a conditional noise predictor ``denoiser(x_t, t, cond)``.

Random draws take an optional ``torch.Generator``, on the data's device or on the CPU (then a seed gives the same
draws on every device).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from .schedule import NoiseSchedule, draw_noise

GenerateMethod = Literal["ancestral", "ddim", "partial"]
GENERATE_METHODS: tuple[str, ...] = get_args(GenerateMethod)


def diffusion_loss(denoiser: nn.Module, schedule: NoiseSchedule, x0: torch.Tensor, cond: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Simplified DDPM loss (Ho et al. Eq. 14): MSE between the true and predicted noise at a random t."""
    t = schedule.sample_timesteps(x0.shape[0], x0.device, generator)
    noise = draw_noise(x0.shape, generator, x0.device, x0.dtype)
    return F.mse_loss(denoiser(schedule.add_noise(x0, noise, t), t, cond), noise)


def predict_clean(denoiser: nn.Module, schedule: NoiseSchedule, x0: torch.Tensor, cond: torch.Tensor, t: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The denoiser's one-step estimate of x_0 from ``x0`` noised to step ``t``, with gradients.

    A differentiable stand-in for generation in training: losses on it reach the denoiser, the condition
    and ``x0``. Small ``t`` keeps the estimate well conditioned (it divides by sqrt(alpha-bar_t)).
    """
    steps = _timesteps(t, x0.shape[0], x0.device)
    noise = draw_noise(x0.shape, generator, x0.device, x0.dtype)
    x_t = schedule.add_noise(x0, noise, steps)
    return schedule.predict_x0(x_t, steps, denoiser(x_t, steps, cond))


def _timesteps(t: int, batch: int, device: torch.device) -> torch.Tensor:
    return torch.full((batch,), t, dtype=torch.long, device=device)


@torch.no_grad()
def generate(denoiser: nn.Module, schedule: NoiseSchedule, cond: torch.Tensor, *, method: GenerateMethod = "ddim",
             steps: int = 50, t_start: int | None = None, x0: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample x_0 of shape ``[len(cond), denoiser.data_dim]`` given ``cond``.

    ``ancestral``: full DDPM chain from x_T ~ N(0, I) over all T steps.
    ``ddim``: deterministic DDIM (eta = 0) from x_T ~ N(0, I) in ``steps`` steps.
    ``partial``: noise the given ``x0`` to ``t_start`` in closed form, then ancestral steps t_start..0
    (an SDEdit-style refinement that keeps the sample near ``x0``).
    ``x0`` and ``t_start`` are ignored by the other methods, so callers can pass them unconditionally.
    With a CPU generator and data on a GPU, ancestral and partial steps copy each step's noise over (about
    5 ms per step for 17 k x 64 on one thread): fine for DDIM's single draw, slow for a 600-step chain.
    """
    if method not in GENERATE_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {GENERATE_METHODS}")
    batch, data_dim = cond.shape[0], denoiser.data_dim
    dtype = cond.dtype if cond.is_floating_point() else torch.float32
    shape = (batch, data_dim)
    if method == "partial":
        if x0 is None or t_start is None:
            raise ValueError("method='partial' needs both x0 and t_start")
        if tuple(x0.shape) != shape:
            raise ValueError(f"x0 must have shape {shape}, got {tuple(x0.shape)}")
        if not 0 <= t_start < schedule.num_steps:
            raise ValueError(f"t_start must be in [0, {schedule.num_steps}), got {t_start}")

    was_training = denoiser.training
    denoiser.eval()
    try:
        noise = draw_noise(shape, generator, cond.device, dtype)
        if method == "ddim":
            ts = schedule.ddim_timesteps(steps)
            x = noise
            for i, t in enumerate(ts):
                t_prev = ts[i + 1] if i + 1 < len(ts) else -1
                x = schedule.ddim_step(denoiser(x, _timesteps(t, batch, cond.device), cond), t, t_prev, x)
            return x
        if method == "partial":
            first = t_start
            x = schedule.add_noise(x0.to(device=cond.device, dtype=dtype), noise, first)
        else:
            first = schedule.num_steps - 1
            x = noise
        for t in range(first, -1, -1):
            x = schedule.step(denoiser(x, _timesteps(t, batch, cond.device), cond), t, x, generator)
        return x
    finally:
        denoiser.train(was_training)
