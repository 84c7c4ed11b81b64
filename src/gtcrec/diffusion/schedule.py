"""DDPM noise schedule (Ho et al., 2020): forward noising, posterior, ancestral and DDIM steps.

Index convention: timestep ``t`` in ``0..T-1`` is noise level ``t + 1`` of the paper, so
``add_noise(x0, eps, 0)`` is already slightly noisy and ``step(eps, 0, x)`` returns the clean x_0.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import nn

# linear: beta_start..beta_end as given (the paper's 1e-4..0.02). linear_scaled: both ends times 1000 / T
# (Nichol & Dhariwal's rescaling), so that alpha-bar at the last step is about 4e-5 for every T; with the
# fixed ends, T = 100 keeps alpha-bar_T = 0.36 and sampling from pure noise starts far from training.
# cosine: Nichol & Dhariwal's cosine alpha-bar.
ScheduleKind = Literal["linear", "linear_scaled", "cosine"]
SCHEDULE_KINDS: tuple[str, ...] = get_args(ScheduleKind)
MAX_BETA = 0.999


def _linear_betas(num_steps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)


def _scaled_linear_betas(num_steps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    scale = 1000.0 / num_steps
    return _linear_betas(num_steps, beta_start * scale, beta_end * scale).clamp(max=MAX_BETA)


def _cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = MAX_BETA) -> torch.Tensor:
    """Nichol & Dhariwal (2021): abar(t) = f(t)/f(0), f(t) = cos^2((t/T + s)/(1 + s) * pi/2)."""
    steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


class NoiseSchedule(nn.Module):
    """Schedule tensors only, no network (like diffusers' DDPMScheduler).

    Everything is derived from the constructor arguments, so the tensors are non-persistent
    buffers: they follow ``.to(device)`` but never enter a checkpoint.
    """

    def __init__(self, num_steps: int = 600, beta_start: float = 1e-4, beta_end: float = 0.02,
                 kind: ScheduleKind = "linear"):
        super().__init__()
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"unknown schedule kind {kind!r}; choose one of {SCHEDULE_KINDS}")
        if kind != "cosine" and not 0.0 < beta_start <= beta_end < 1.0:
            raise ValueError(f"linear schedule needs 0 < beta_start <= beta_end < 1, "
                             f"got beta_start={beta_start}, beta_end={beta_end}")
        self.num_steps = num_steps
        self.kind = kind
        self.beta_start = beta_start
        self.beta_end = beta_end

        # float64 throughout, cast once at the end: cumprod over hundreds of steps drifts in float32.
        betas = {"linear": _linear_betas, "linear_scaled": _scaled_linear_betas,
                 "cosine": lambda n, *_: _cosine_betas(n)}[kind](num_steps, beta_start, beta_end)
        alphas = 1.0 - betas
        abar = torch.cumprod(alphas, dim=0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
        # post_var[0] == 0 (x_0 is known exactly); the log uses post_var[1] there (Ho et al.'s code).
        log_src = torch.cat([post_var[1:2], post_var[1:]]) if num_steps > 1 else betas
        buffers = {
            "betas": betas,
            "alphas": alphas,
            "alphas_cumprod": abar,
            "alphas_cumprod_prev": abar_prev,
            "sqrt_alphas_cumprod": abar.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - abar).sqrt(),
            "posterior_variance": post_var,
            "posterior_log_variance_clipped": log_src.log(),
            "posterior_mean_coef1": betas * abar_prev.sqrt() / (1.0 - abar),
            "posterior_mean_coef2": (1.0 - abar_prev) * alphas.sqrt() / (1.0 - abar),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.to(torch.float32), persistent=False)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, kind={self.kind!r}, beta_start={self.beta_start}, beta_end={self.beta_end}"

    # -- helpers ---------------------------------------------------------------------------------

    def _check_step(self, t: int, name: str = "t") -> None:
        if not 0 <= t < self.num_steps:
            raise ValueError(f"{name} must be in [0, {self.num_steps}), got {t}")

    @staticmethod
    def _extract(buf: torch.Tensor, t: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
        """``buf[t]`` shaped to broadcast against ``x`` (one value per row, or a scalar for int t)."""
        if isinstance(t, int):
            return buf[t].to(device=x.device, dtype=x.dtype)
        vals = buf.to(x.device)[t.to(x.device)].to(x.dtype)
        return vals.view(-1, *([1] * (x.dim() - 1)))

    # -- forward process -------------------------------------------------------------------------

    def sample_timesteps(self, batch: int, device: torch.device | str | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """One timestep per row, uniform in [0, T)."""
        return torch.randint(0, self.num_steps, (batch,), device=_draw_on(generator, device),
                             generator=generator).to(device)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """Closed-form q(x_t | x_0): sqrt(abar_t) x0 + sqrt(1 - abar_t) noise."""
        return (self._extract(self.sqrt_alphas_cumprod, t, x0) * x0
                + self._extract(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise)

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
        """Invert ``add_noise`` given a noise estimate."""
        return ((x_t - self._extract(self.sqrt_one_minus_alphas_cumprod, t, x_t) * eps)
                / self._extract(self.sqrt_alphas_cumprod, t, x_t))

    def posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0), broadcast to x's shape."""
        mean = (self._extract(self.posterior_mean_coef1, t, x_t) * x0
                + self._extract(self.posterior_mean_coef2, t, x_t) * x_t)
        var = self._extract(self.posterior_variance, t, x_t).expand_as(x_t)
        log_var = self._extract(self.posterior_log_variance_clipped, t, x_t).expand_as(x_t)
        return mean, var, log_var

    # -- reverse process -------------------------------------------------------------------------

    def step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, generator: torch.Generator | None = None,
             clip_x0: float | None = None) -> torch.Tensor:
        """One ancestral DDPM step x_t -> x_{t-1}: posterior mean at the predicted x_0, plus noise.

        No noise is added at ``t == 0``: its output is the final sample.
        """
        self._check_step(t)
        x0_hat = self.predict_x0(x_t, t, eps)
        if clip_x0 is not None:
            x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
        mean, var, _ = self.posterior(x0_hat, x_t, t)
        if t == 0:
            return mean
        z = draw_noise(x_t.shape, generator, x_t.device, x_t.dtype)
        return mean + var.sqrt() * z

    def ddim_timesteps(self, num_inference_steps: int) -> list[int]:
        """Evenly spaced, strictly descending timesteps from T-1 down to 0."""
        if not 1 <= num_inference_steps <= self.num_steps:
            raise ValueError(f"num_inference_steps must be in [1, {self.num_steps}], got {num_inference_steps}")
        # Spacing >= 1 whenever num_inference_steps <= T, so rounding never produces duplicates.
        ts = torch.linspace(self.num_steps - 1, 0, num_inference_steps, dtype=torch.float64).round().long()
        return ts.tolist()

    def ddim_step(self, eps: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor) -> torch.Tensor:
        """Deterministic DDIM step (eta = 0) from t to t_prev; ``t_prev = -1`` lands on x_0."""
        self._check_step(t)
        if not -1 <= t_prev < t:
            raise ValueError(f"t_prev must be in [-1, t={t}), got {t_prev}")
        x0_hat = self.predict_x0(x_t, t, eps)
        if t_prev < 0:
            return x0_hat
        abar_prev = self._extract(self.alphas_cumprod, t_prev, x_t)
        return abar_prev.sqrt() * x0_hat + (1.0 - abar_prev).sqrt() * eps


def draw_noise(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, device: torch.device | str,
               dtype: torch.dtype) -> torch.Tensor:
    """Standard normal noise on ``device``, drawn on the generator's own device.

    CPU and CUDA generators give different streams for the same seed, so a seeded CPU generator is how a
    sample comes out the same on every device (noise is then copied over, once per draw).
    """
    return torch.randn(tuple(shape), generator=generator, device=_draw_on(generator, device), dtype=dtype).to(device)


def _draw_on(generator: torch.Generator | None, device: torch.device | str | None) -> torch.device | str | None:
    """Where a random draw must happen: torch refuses a generator of another device."""
    return generator.device if generator is not None else device
