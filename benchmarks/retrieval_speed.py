"""Exact vs approximate (faiss HNSW) top-k on a synthetic catalogue: recall of the ANN and speed-up.

Usage: python benchmarks/retrieval_speed.py [--items 1000000] [--dim 64] [--queries 2000] [--k 20] [--threads 2]
       python benchmarks/retrieval_speed.py --device cuda --no-ann     # exact top-k on a GPU

Item and user vectors are drawn around shared cluster centres (so that the top-k is not trivial), as a
trained model's representations are. Exact top-k uses gtcrec's chunked score product (the same code as
`gtcrec recommend`); the ANN is gtcrec's AnnIndex. Prints one Markdown row and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from gtcrec.machine import cpu_model
from gtcrec.serving.ann import AnnIndex
from gtcrec.serving.retrieval import exact_top_k
from gtcrec.train.run import _git_commit


def clustered(n: int, dim: int, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    labels = rng.integers(0, len(centres), n)
    return (centres[labels] + 0.5 * rng.standard_normal((n, dim), dtype=np.float32)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="where the exact top-k runs (cpu, cuda)")
    parser.add_argument("--no-ann", action="store_true", help="exact only (no faiss index)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((256, args.dim), dtype=np.float32)
    items = clustered(args.items, args.dim, centres, rng)
    users = clustered(args.queries, args.dim, centres, rng)

    device = torch.device(args.device)
    user_t, item_t = torch.from_numpy(users).to(device), torch.from_numpy(items).to(device)
    start = time.perf_counter()
    exact = torch.cat([top for _, top, _ in exact_top_k(user_t, item_t, torch.arange(args.queries, device=device),
                                                        args.k, user_batch=256, item_batch=1 << 17)]).cpu().numpy()
    if device.type == "cuda":
        torch.cuda.synchronize()
    exact_s = time.perf_counter() - start
    if args.no_ann:
        print(json.dumps({"items": args.items, "dim": args.dim, "queries": args.queries, "k": args.k,
                          "device": args.device, "exact_ms_per_user": round(1000 * exact_s / args.queries, 4),
                          "machine": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
                          "commit": _git_commit(), "torch": torch.__version__}))
        return

    import faiss

    faiss.omp_set_num_threads(args.threads)
    start = time.perf_counter()
    index = AnnIndex(items, ef_search=args.ef_search)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    approx, _ = index.top_k(users, np.arange(args.queries), args.k, None)
    ann_s = time.perf_counter() - start

    recall = float(np.mean([len(set(a) & set(e)) / args.k for a, e in zip(approx, exact)]))
    row = {"items": args.items, "dim": args.dim, "queries": args.queries, "k": args.k, "threads": args.threads,
           "ef_search": args.ef_search, "recall_at_k": round(recall, 4),
           "exact_ms_per_user": round(1000 * exact_s / args.queries, 3),
           "ann_ms_per_user": round(1000 * ann_s / args.queries, 3), "speedup": round(exact_s / ann_s, 1),
           "ann_build_s": round(build_s, 1), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "machine": cpu_model(), "commit": _git_commit(), "torch": torch.__version__, "faiss": faiss.__version__}
    print("| items | dim | k | threads | efSearch | ANN recall@k | exact ms/user | ANN ms/user | speed-up | "
          "HNSW build s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.items:,} | {args.dim} | {args.k} | {args.threads} | {args.ef_search} | {recall:.4f} | "
          f"{row['exact_ms_per_user']} | {row['ann_ms_per_user']} | {row['speedup']} | {row['ann_build_s']} | "
          f"{row['peak_rss_mib']} |")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
