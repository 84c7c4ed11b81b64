"""gtcrec: multi-modal recommendation around GTC, with honest full-ranking evaluation."""

from .config import DataConfig, RunConfig, TrainConfig
from .train import RunResult, train

__version__ = "0.1.0"
__all__ = ["DataConfig", "RunConfig", "RunResult", "TrainConfig", "__version__", "load", "train"]


def load(run_dir, *, device: str | None = "cpu", dataset: str | None = None, added_items: bool = True):
    """A trained run frozen for inference: see :func:`gtcrec.serving.load`."""
    from .serving import load as _load

    return _load(run_dir, device=device, dataset=dataset, added_items=added_items)
