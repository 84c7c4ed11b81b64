"""Conditional DDPM over vectors (GTC's interaction-guided diffusion over item content embeddings)."""

from .denoiser import ConditionalMLPUNet, SinusoidalTimeEmbedding
from .sampling import diffusion_loss, generate
from .schedule import NoiseSchedule

__all__ = ["ConditionalMLPUNet", "NoiseSchedule", "SinusoidalTimeEmbedding", "diffusion_loss", "generate"]
