"""Full-ranking evaluation with training items masked (each name imported on first use)."""

from .._lazy import lazy_exports

_WHERE = {
    "EvalResult": ".evaluator", "Evaluator": ".evaluator", "TopKBatch": ".evaluator", "model_scorer": ".evaluator",
    "METRICS": ".names", "topk_metrics": ".metrics",
    "CSRRows": ".ranking", "mask_rows": ".ranking",
}
__all__ = [  # the names of _WHERE
    "METRICS",
    "CSRRows",
    "EvalResult",
    "Evaluator",
    "TopKBatch",
    "mask_rows",
    "model_scorer",
    "topk_metrics",
]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
