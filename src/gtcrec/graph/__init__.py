"""Graph construction (sparse adjacency) and propagation."""

from .adjacency import lightgcn_propagate, normalized_bipartite_adjacency, propagate, to_torch_sparse

__all__ = ["lightgcn_propagate", "normalized_bipartite_adjacency", "propagate", "to_torch_sparse"]
