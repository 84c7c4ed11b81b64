"""Training: BPR loop, negative sampling, checkpoints, multi-seed runs (each name imported on first use).

``gtcrec.train(config)`` trains: the top-level name is this package, made callable (it calls
:func:`gtcrec.train.run.train`), so that it stays usable whichever of the two Python binds to it.
"""

import sys
import types

from .._lazy import lazy_exports

_WHERE = {
    "RunResult": ".results", "SeedResult": ".results",
    "train": ".run", "train_seed": ".run",
    "NegativeSampler": ".sampler",
    "FitResult": ".trainer", "Trainer": ".trainer",
}
__all__ = [  # the names of _WHERE
    "FitResult",
    "NegativeSampler",
    "RunResult",
    "SeedResult",
    "Trainer",
    "train",
    "train_seed",
]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from .run import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
