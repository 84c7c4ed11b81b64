"""gtcrec: multi-modal recommendation around GTC, with honest full-ranking evaluation.

Names are imported on first use, so that the command line starts at once.
"""

from ._lazy import lazy_exports

__version__ = "0.1.0"
_WHERE = {"DataConfig": ".config", "RunConfig": ".config", "TrainConfig": ".config", "RunResult": ".train"}
__all__ = ["DataConfig", "RunConfig", "RunResult", "TrainConfig", "__version__", "load", "train"]
_getattr, __dir__ = lazy_exports(__name__, _WHERE)


def __getattr__(name: str):
    if name == "train":  # the training package, callable: gtcrec.train(config) trains
        import importlib

        return importlib.import_module(".train", __name__)
    return _getattr(name)


def load(run_dir, *, device: str | None = "cpu", dataset: str | None = None, added_items: bool = True):
    """A trained run frozen for inference: see :func:`gtcrec.serving.load`."""
    from .serving import load as _load

    return _load(run_dir, device=device, dataset=dataset, added_items=added_items)
