"""A full validation pass against its floor, the bare score product (issue 20: within 1.5x; 190 k x 63 k in under
a minute on 2 cores).

Usage:
  python benchmarks/eval_scale.py --size elec [--dim 64] [--threads 2] [--data-dir runs/scale-data]

On benchmarks/scale.py's power-law dataset of that size, with random user and item representations (the
cost does not depend on what they hold): seconds for (a) the bare score product, users x items x d in
batches of the evaluator's size, nothing kept; (b) gtcrec's validation pass (scores, training items masked,
top-k by block maxima, metrics); (c) the same pass with a plain torch.topk. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import SIZES, power_law_dataset


class _Fixed(torch.nn.Module):
    def __init__(self, users: torch.Tensor, items: torch.Tensor):
        super().__init__()
        self.reps = (users, items)

    def representations(self):
        return self.reps

    def score(self, u, i):
        return u @ i.T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="elec", choices=list(SIZES))
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default="runs/scale-data")
    parser.add_argument("--no-plain", action="store_true", help="skip (c), the plain-topk pass (saves its minutes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from gtcrec.data import load_dataset
    from gtcrec.evaluation import Evaluator
    from gtcrec.evaluation import evaluator as evaluator_module

    data = load_dataset(str(power_law_dataset(args.size, *SIZES[args.size], Path(args.data_dir) / args.size)))
    g = torch.Generator().manual_seed(0)
    model = _Fixed(torch.randn(data.n_users, args.dim, generator=g), torch.randn(data.n_items, args.dim, generator=g))
    evaluator = Evaluator(data, "valid", ks=[5, 10, 20, 50])
    users, items = model.reps
    start = time.perf_counter()
    for s in range(0, len(evaluator.users), evaluator.batch_size):
        users[evaluator.users[s:s + evaluator.batch_size]] @ items.T
    bare = time.perf_counter() - start
    start = time.perf_counter()
    result = evaluator.evaluate(model)
    full = time.perf_counter() - start
    record = {"size": args.size, "evaluated_users": len(evaluator.users), "items": data.n_items, "dim": args.dim,
              "threads": args.threads, "bare_product_s": round(bare, 2), "validation_pass_s": round(full, 2),
              "ratio": round(full / bare, 2), "recall@20": round(result.metrics["recall@20"], 6)}
    if not args.no_plain:
        original = evaluator_module.block_topk
        evaluator_module.block_topk = lambda scores, k: torch.topk(scores, k, dim=1)
        start = time.perf_counter()
        plain = evaluator.evaluate(model)
        plain_s = time.perf_counter() - start
        evaluator_module.block_topk = original
        record |= {"with_plain_topk_s": round(plain_s, 2), "ratio_plain": round(plain_s / bare, 2),
                   "same_recall@20": abs(result.metrics["recall@20"] - plain.metrics["recall@20"]) < 1e-9}
    record["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
