"""Which parts of a trained LGMRec carry its ranking? Validation Recall@20 of each part's scores.

Usage: python benchmarks/lgmrec_parts.py RUN_DIR/seedN [--split valid]
Loads the seed's config.yaml and best.safetensors, then scores users and items by the dot product of
one part of LGMRec's final embedding at a time: the collaborative LightGCN view (CGE), the local
modality views (MGE), the global hypergraph view (GHE), and their sums.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gtcrec.evaluation import Evaluator
from gtcrec.train.run import load_trained_run


class FixedEmbeddings(torch.nn.Module):
    """A ranker from fixed user and item embeddings (dot-product scores)."""

    def __init__(self, users: torch.Tensor, items: torch.Tensor):
        super().__init__()
        self.users, self.items = users, items

    def representations(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.users, self.items

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.users, self.items

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return users @ items.T


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("seed_dir", type=Path)
    parser.add_argument("--split", default="valid", choices=["valid", "test"])
    args = parser.parse_args()
    _, config, data, model = load_trained_run(args.seed_dir, device="cpu")
    if config.model != "lgmrec":
        raise SystemExit(f"{args.seed_dir} holds a {config.model} run, not lgmrec")
    evaluator = Evaluator(data, args.split, ks=[20])
    with torch.no_grad():
        parts = model.encode()
        cge, lge, final = parts["cge"], parts["lge"], parts["final"]
        mge, ghe = lge - cge, final - lge
        variants = {"final (CGE + MGE + GHE)": final, "CGE only": cge, "MGE only": mge,
                    "CGE + MGE (no GHE)": lge, "CGE + GHE (no MGE)": cge + ghe}
        n = model.n_users
        print(f"| part | {args.split} R@20 | mean user norm | mean item norm |\n|---|---|---|---|")
        for name, emb in variants.items():
            recall = evaluator.evaluate(FixedEmbeddings(emb[:n], emb[n:])).metrics["recall@20"]
            print(f"| {name} | {recall:.4f} | {emb[:n].norm(dim=1).mean():.3f} | {emb[n:].norm(dim=1).mean():.3f} |")


if __name__ == "__main__":
    main()
