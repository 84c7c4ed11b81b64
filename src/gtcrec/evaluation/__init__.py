"""Full-ranking evaluation with training items masked."""

from .evaluator import EvalResult, Evaluator, TopKBatch, model_scorer
from .metrics import METRICS, topk_metrics
from .ranking import CSRRows, mask_rows

__all__ = ["METRICS", "CSRRows", "EvalResult", "Evaluator", "TopKBatch", "mask_rows", "model_scorer", "topk_metrics"]
