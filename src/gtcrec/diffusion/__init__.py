"""Conditional DDPM over vectors (GTC's interaction-guided diffusion over item content embeddings)."""

from .denoiser import ConditionalMLPUNet, SinusoidalTimeEmbedding
from .sampling import GenerateMethod, diffusion_loss, generate, predict_clean
from .schedule import NoiseSchedule, ScheduleKind

__all__ = ["ConditionalMLPUNet", "GenerateMethod", "NoiseSchedule", "ScheduleKind", "SinusoidalTimeEmbedding",
           "diffusion_loss", "generate", "predict_clean"]
