"""Score a DRAGON trained by MMRec's own code with gtcrec's evaluator, three ways.

Separates "MMRec evaluates differently" from "MMRec trains to different weights". Needs the files a
locally patched MMRec trainer writes at each best-validation epoch (see docs/results/baselines.md):
``best_result_embed.npy`` (the representations MMRec evaluated: computed in the epoch's last training
batch, before its optimiser step), ``best_state.pt`` (the weights after that step),
``best_user_graph.npy`` / ``best_user_weights.npy`` (the epoch's randomly padded user graph).

    GTCREC_DATA_DIR=../shared/data python benchmarks/mmrec_cross_evaluate.py tiktok /tmp/mmrec/seed4/src

Prints Recall/NDCG@10/20/50 on valid and test for
  (a) MMRec's evaluated representations (should equal MMRec's log if the evaluators agree);
  (b) MMRec's final weights in our DRAGON with the epoch's padded user graph (the last step's effect);
  (c) the same weights with our fixed, unpadded user graph (how gtcrec evaluates).
No MMRec code is imported; the state dict is read with ``weights_only=True``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from mmrec_dragon_equivalence import copy_mmrec_weights, drawn_user_graph

from gtcrec.data.sources import load_dataset
from gtcrec.evaluation import Evaluator, model_scorer
from gtcrec.graph import to_torch_sparse
from gtcrec.models import ModelInputs, build_model

SHOWN = ("recall@10", "recall@20", "recall@50", "ndcg@10", "ndcg@20", "ndcg@50")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("run_dir", type=Path, help="folder with MMRec's best_* files")
    parser.add_argument("--image", default="image", help="our name of MMRec's vision modality")
    parser.add_argument("--text", default="audio", help="our name of the modality MMRec reads as text")
    args = parser.parse_args()

    data = load_dataset(args.dataset)
    evaluators = {split: Evaluator(data, split) for split in ("valid", "test")}
    source = {args.image: ("v_gcn", 0), args.text: ("t_gcn", 1)}

    embed = torch.from_numpy(np.load(args.run_dir / "best_result_embed.npy"))
    users, items = embed[: data.n_users], embed[data.n_users:]
    report("(a) MMRec's evaluated representations", evaluators, lambda u: users[u] @ items.T)

    model = build_model("dragon", ModelInputs.from_data(data), {"user_weights": "raw"}).eval()
    state = torch.load(args.run_dir / "best_state.pt", weights_only=True)
    copy_mmrec_weights(model, state, source, data.modalities)
    fixed = model.user_graph, model.user_graph_t
    drawn = drawn_user_graph(np.load(args.run_dir / "best_user_graph.npy"),
                             np.load(args.run_dir / "best_user_weights.npy"))
    model.user_graph, model.user_graph_t = to_torch_sparse(drawn), to_torch_sparse(drawn.T.tocsr())
    report("(b) MMRec's final weights, epoch's padded user graph", evaluators, model_scorer(model))
    model.user_graph, model.user_graph_t = fixed
    report("(c) MMRec's final weights, our unpadded user graph", evaluators, model_scorer(model))


def report(title: str, evaluators: dict[str, Evaluator], score_fn) -> None:
    print(title)
    for split, evaluator in evaluators.items():
        metrics = evaluator.evaluate_scores(score_fn).metrics
        print(f"  {split:5s} " + "  ".join(f"{name} {metrics[name]:.4f}" for name in SHOWN))


if __name__ == "__main__":
    main()
