"""Import a large raw interaction log (issue 20: a 10 M-row log in bounded memory).

Usage:
  python benchmarks/import_scale.py [--rows 10000000] [--users 1000000] [--items 90000] [--dir runs/import-scale]

Writes a CSV log once (string ids like "user_000123", a rating, a timestamp; power-law item popularity), then
runs `gtcrec data import` on it in a fresh process with one thread and prints seconds, peak RSS and the
import report as one JSON line. The CSV's size is printed too: memory should stay far below what holding
the log as Python strings would take.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

CHILD = """
import json, resource, sys, time
from gtcrec.data import import_interactions
start = time.perf_counter()
report = import_interactions(sys.argv[1], sys.argv[2], user_col="user", item_col="item", rating_col="rating",
                             timestamp_col="ts", kcore=5)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "report": json.loads(report.to_json())}))
"""


def write_log(path: Path, rows: int, users: int, items: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    popularity = (np.arange(items) + 10.0) ** -0.8
    with open(path, "w") as fh:
        fh.write("user,item,rating,ts\n")
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            frame = pd.DataFrame({"user": np.char.add("user_", rng.integers(0, users, n).astype(str)),
                                  "item": np.char.add("item_", rng.choice(items, n, p=popularity / popularity.sum())
                                                      .astype(str)),
                                  "rating": rng.integers(1, 6, n), "ts": rng.integers(10**9, 2 * 10**9, n)})
            frame.to_csv(fh, header=False, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=90_000)
    parser.add_argument("--dir", default="runs/import-scale")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"log-{args.rows}.csv"
    if not log.exists():
        start = time.perf_counter()
        write_log(log, args.rows, args.users, args.items)
        print(f"wrote {log} ({log.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s",
              file=sys.stderr)
    out = folder / "imported"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    done = subprocess.run([sys.executable, "-c", CHILD, str(log), str(out)], capture_output=True, text=True,
                          check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    result = json.loads(done.stdout)
    print(json.dumps({"rows": args.rows, "log_mib": round(log.stat().st_size / 2**20), **result}))


if __name__ == "__main__":
    main()
