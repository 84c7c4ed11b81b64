"""Graph construction (sparse adjacency, kNN graphs) and propagation."""

from .adjacency import (
           lightgcn_propagate,
           normalized_bipartite_adjacency,
           propagate,
           to_torch_sparse,
)
from .knn import item_knn_graph, normalize_graph, user_cooccurrence_graph

__all__ = ["lightgcn_propagate", "normalized_bipartite_adjacency", "propagate", "to_torch_sparse",
           "item_knn_graph", "normalize_graph", "user_cooccurrence_graph"]
