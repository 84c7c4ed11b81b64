"""Seconds from launch to exit of short gtcrec commands (median of N runs): what a user waits for `--help`,
an argument error, or `recommend` on a trained run or an export.

Usage: python benchmarks/startup.py [--repeats 5] [--run RUN_DIR] [--export EXPORT_DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def timed(argv: list[str], repeats: int) -> tuple[float, int]:
    seconds, code = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        code = subprocess.run(argv, capture_output=True, check=False).returncode
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run", help="a trained run for `gtcrec recommend --all`")
    parser.add_argument("--export", help="an export folder for `gtcrec recommend --all`")
    args = parser.parse_args()
    gtcrec = shutil.which("gtcrec") or f"{sys.executable} -m gtcrec"
    out = tempfile.mkdtemp()
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "gtcrec --help": [*gtcrec.split(), "--help"],
                "gtcrec train --help": [*gtcrec.split(), "train", "--help"],
                "gtcrec train --epochs x (argument error)": [*gtcrec.split(), "train", "--epochs", "x"],
                "gtcrec train --lr -1 (option error)": [*gtcrec.split(), "train", "--lr", "-1"]}
    for label, folder in (("run", args.run), ("export", args.export)):
        if folder:
            commands[f"gtcrec recommend {label} --all --k 20 (CSV)"] = [*gtcrec.split(), "recommend", folder, "--all",
                                                                      "--k", "20", "--out", f"{out}/r.csv"]
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, median of {args.repeats}")
    print("| command | seconds | exit code |")
    print("|---|---|---|")
    for label, argv in commands.items():
        seconds, code = timed(argv, args.repeats)
        print(f"| `{label}` | {seconds:.2f} | {code} |", flush=True)
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
