"""Using a trained run: recommendations, scores, similar items and exports (``gtcrec.load``)."""

from .idmap import IdMap, UnknownIdError
from .recommender import TopK, TrainedRecommender, load
from .retrieval import exact_top_k

__all__ = ["IdMap", "TopK", "TrainedRecommender", "UnknownIdError", "exact_top_k", "load"]
