"""Models on one shared interface (:class:`Recommender`); importing registers them."""

from .base import MODELS, ModelInputs, Recommender, build_model, register_model
from .bprmf import BPRMF, BPRMFConfig
from .gtc import GTC, GTCConfig
from .lightgcn import LightGCN, LightGCNConfig

__all__ = ["MODELS", "ModelInputs", "Recommender", "build_model", "register_model",
           "BPRMF", "BPRMFConfig", "GTC", "GTCConfig", "LightGCN", "LightGCNConfig"]
