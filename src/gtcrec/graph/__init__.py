"""Graph construction (sparse adjacency, kNN graphs) and propagation."""

from .adjacency import (
    directed_propagate,
    lightgcn_propagate,
    normalized_bipartite_adjacency,
    propagate,
    to_torch_sparse,
)
from .knn import (
    fused_item_knn_graph,
    item_knn_graph,
    modality_graph_weights,
    normalize_graph,
    user_cooccurrence_graph,
)

__all__ = [
    "directed_propagate",
    "fused_item_knn_graph",
    "item_knn_graph",
    "lightgcn_propagate",
    "modality_graph_weights",
    "normalize_graph",
    "normalized_bipartite_adjacency",
    "propagate",
    "to_torch_sparse",
    "user_cooccurrence_graph",
]
