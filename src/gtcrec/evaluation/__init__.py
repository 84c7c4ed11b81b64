"""Full-ranking evaluation with training items masked."""

from .evaluator import EvalResult, Evaluator
from .metrics import METRICS, topk_metrics
from .ranking import CSRRows, mask_rows

__all__ = ["METRICS", "CSRRows", "EvalResult", "Evaluator", "mask_rows", "topk_metrics"]
