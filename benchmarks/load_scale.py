"""Seconds and peak memory to load an MMRec-format dataset folder (issue 20: a 9 M-row .inter in under 15 s).

Usage:
  python benchmarks/load_scale.py --size microlens [--data-dir runs/scale-data] [--repeat 3]

The dataset is benchmarks/scale.py's power-law one (generated once into --data-dir). Each load runs in a
fresh process with one thread, so that its peak RSS is its own; prints seconds and peak RSS per repeat.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import SIZES, power_law_dataset

CHILD = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
from gtcrec.data import load_dataset
start = time.perf_counter()
data = load_dataset(sys.argv[1])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": int(len(data.train) + len(data.valid) + len(data.test)), "users": data.n_users,
                  "items": data.n_items}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="microlens", choices=list(SIZES))
    parser.add_argument("--data-dir", default="runs/scale-data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = power_law_dataset(args.size, *SIZES[args.size], Path(args.data_dir) / args.size)
    env_threads = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    import os

    for _ in range(args.repeat):
        done = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, check=True,
                              env={**os.environ, **env_threads})
        print(json.dumps({"size": args.size, **json.loads(done.stdout)}))


if __name__ == "__main__":
    main()
