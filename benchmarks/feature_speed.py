"""Time the offline feature encoders on the whole ML-100K catalogue (issue targets: 1,664 posters
in under 5 minutes and 1,682 texts in under 1 minute on 2 CPU cores).

Usage:
  python benchmarks/feature_speed.py [--data-dir ../shared/data/ml-100k] [--threads 2] [--workers 0]

Encodes every poster in posters/ and every item text of ml-100k.item (the ML-100K-MM template),
writes nothing, and prints one JSON line (seconds include loading the model) for docs/results/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import torch

from gtcrec.data.features import (
    encode_images,
    encode_texts,
    images_in_folder,
    render_template,
)
from gtcrec.data.importer import read_table
from gtcrec.data.sources import ML100K_MM_TEXT_TEMPLATE, find_shared
from gtcrec.machine import cpu_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--skip-images", action="store_true")
    args = parser.parse_args()
    root = args.data_dir or find_shared("ml-100k")
    if root is None:
        raise SystemExit("ml-100k data folder not found: pass --data-dir")
    torch.set_num_threads(args.threads)
    result = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                       check=False).stdout.strip(),
              "cpu": cpu_model(), "threads": args.threads, "workers": args.workers, "torch": torch.__version__}

    items = read_table(root / "ml-100k.item")
    texts = render_template(items, ML100K_MM_TEXT_TEMPLATE)
    start = time.perf_counter()
    feats, report = encode_texts(texts, progress=False)
    result["text"] = {"items": len(texts), "dim": feats.shape[1], "seconds": round(time.perf_counter() - start, 1),
                      "missing": report.n_missing}
    if not args.skip_images:
        posters = sorted(images_in_folder(root / "posters").values())
        start = time.perf_counter()
        feats, report = encode_images(posters, batch_size=args.batch_size, workers=args.workers, progress=False)
        result["image"] = {"items": len(posters), "dim": feats.shape[1],
                           "seconds": round(time.perf_counter() - start, 1), "failed": report.n_failed}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
