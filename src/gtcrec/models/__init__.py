"""Models on one shared interface (:class:`Recommender`); importing registers them."""

from .base import MODELS, ModelInputs, Recommender, build_model, register_model
from .bm3 import BM3, BM3Config
from .bprmf import BPRMF, BPRMFConfig
from .dragon import DRAGON, DRAGONConfig
from .freedom import FREEDOM, FREEDOMConfig
from .gtc import GTC, GTCConfig
from .lightgcn import LightGCN, LightGCNConfig
from .vbpr import VBPR, VBPRConfig

__all__ = [
           "BM3",
           "BPRMF",
           "DRAGON",
           "FREEDOM",
           "GTC",
           "MODELS",
           "VBPR",
           "BM3Config",
           "BPRMFConfig",
           "DRAGONConfig",
           "FREEDOMConfig",
           "GTCConfig",
           "LightGCN",
           "LightGCNConfig",
           "ModelInputs",
           "Recommender",
           "VBPRConfig",
           "build_model",
           "register_model",
]
