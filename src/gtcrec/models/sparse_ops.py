"""Frozen sparse graphs as module buffers, with their transposes, for :func:`gtcrec.graph.directed_propagate`."""

from __future__ import annotations

import scipy.sparse as sp
import torch
from torch import nn

from ..graph import directed_propagate, to_torch_sparse


def register_sparse(module: nn.Module, name: str, mat: sp.spmatrix) -> None:
    """Register ``mat`` and its transpose as non-persistent buffers ``name`` and ``name + '_t'``."""
    module.register_buffer(name, to_torch_sparse(mat.tocsr()), persistent=False)
    module.register_buffer(f"{name}_t", to_torch_sparse(mat.T.tocsr()), persistent=False)


def sparse_product(module: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    """``A @ x`` for the matrix registered under ``name`` by :func:`register_sparse`."""
    return directed_propagate(getattr(module, name), getattr(module, f"{name}_t"), x)
