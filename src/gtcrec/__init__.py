"""gtcrec: multi-modal recommendation around GTC, with honest full-ranking evaluation."""

from .config import DataConfig, RunConfig, TrainConfig
from .train import RunResult, train

__version__ = "0.1.0"
__all__ = ["DataConfig", "RunConfig", "RunResult", "TrainConfig", "__version__", "train"]
