"""Probe: our DRAGON trained with MMRec's stored user-user graph instead of our own.

Both keep each user's 40 users with the most shared training items, but most users have ties at the
40th place (on TikTok about 72 %): we break them pseudo-randomly, MMRec's preprocessing keeps
``torch.topk``'s order. This runs ``gtcrec bench`` with MMRec's choice of neighbours (first ``k``
entries of each user's list in ``user_graph_dict.npy``, written by MMRec's
``preprocessing/dualgnn-gen-u-u-matrix.py``), everything else unchanged:

    python benchmarks/dragon_mmrec_user_graph.py /path/to/MMRec/data/tiktok/user_graph_dict.npy \\
        --models dragon --dataset tiktok --seeds 1..5 --no-progress --output-dir runs/probe-tiktok-dragon-mmrec-graph

The file is a pickled dict (MMRec's format), so it is loaded with ``allow_pickle=True``: only use a
file you generated yourself.
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.sparse as sp

import gtcrec.models.dragon
from gtcrec.cli import main as gtcrec_main


def mmrec_user_graph(stored: dict, n_users: int, k: int) -> sp.csr_matrix:
    """Each user's first ``k`` neighbours in MMRec's list (sorted by shared-item count), weighted by the count."""
    if len(stored) != n_users:
        raise SystemExit(f"MMRec's user graph has {len(stored)} users, the dataset has {n_users}")
    rows, cols, vals = [], [], []
    for user in range(n_users):
        neighbours, counts = stored[user]
        rows += [user] * min(k, len(neighbours))
        cols += neighbours[:k]
        vals += counts[:k]
    graph = sp.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)), shape=(n_users, n_users))
    graph.sort_indices()
    return graph


if __name__ == "__main__":
    graph_file, bench_args = sys.argv[1], sys.argv[2:]
    stored_graph = np.load(graph_file, allow_pickle=True).item()  # once, not per seed
    gtcrec.models.dragon.user_cooccurrence_graph = lambda train, k: mmrec_user_graph(stored_graph, train.shape[0], k)
    sys.exit(gtcrec_main(["bench", *bench_args]))
