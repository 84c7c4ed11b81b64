"""Using a trained run: recommendations, scores, similar items and exports (``gtcrec.load``).

Names are imported on first use (the torch-free export path must not load torch).
"""

from .._lazy import lazy_exports

_WHERE = {"IdMap": ".idmap", "UnknownIdError": ".idmap", "TopK": ".topk", "TrainedRecommender": ".recommender",
          "load": ".recommender", "exact_top_k": ".retrieval", "ExportedTable": ".exported"}
__all__ = ["ExportedTable", "IdMap", "TopK", "TrainedRecommender", "UnknownIdError", "exact_top_k", "load"]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
