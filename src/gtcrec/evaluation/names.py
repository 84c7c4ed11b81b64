"""The metric names: one list, importable without torch (options are checked against it)."""

METRICS = ("recall", "ndcg", "precision", "map", "hit")
