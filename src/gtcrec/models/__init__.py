"""Models on one shared interface (:class:`Recommender`); importing registers them."""

from .base import MODELS, ModelInputs, Recommender, build_model, register_model
from .bm3 import BM3, BM3Config
from .bprmf import BPRMF, BPRMFConfig
from .dragon import DRAGON, DRAGONConfig
from .freedom import FREEDOM, FREEDOMConfig
from .grcn import GRCN, GRCNConfig
from .gtc import GTC, GTCConfig
from .lattice import LATTICE, LATTICEConfig
from .lgmrec import LGMRec, LGMRecConfig
from .lightgcn import LightGCN, LightGCNConfig
from .mgcn import MGCN, MGCNConfig
from .pgl import PGL, PGLConfig
from .slmrec import SLMRec, SLMRecConfig
from .smore import SMORE, SMOREConfig
from .vbpr import VBPR, VBPRConfig

__all__ = [  # noqa: RUF022 (interface first, then models alphabetically)
    "MODELS",
    "ModelInputs",
    "Recommender",
    "build_model",
    "register_model",
    "BM3",
    "BM3Config",
    "BPRMF",
    "BPRMFConfig",
    "DRAGON",
    "DRAGONConfig",
    "FREEDOM",
    "FREEDOMConfig",
    "GRCN",
    "GRCNConfig",
    "GTC",
    "GTCConfig",
    "LATTICE",
    "LATTICEConfig",
    "LGMRec",
    "LGMRecConfig",
    "LightGCN",
    "LightGCNConfig",
    "MGCN",
    "MGCNConfig",
    "PGL",
    "PGLConfig",
    "SLMRec",
    "SLMRecConfig",
    "SMORE",
    "SMOREConfig",
    "VBPR",
    "VBPRConfig",
]
