"""A bounded load test of `gtcrec serve` on loopback: latency percentiles, requests per second, errors.

Usage:
  python benchmarks/load_test.py --run runs/<run>                    # a trained run (or an export folder)
  python benchmarks/load_test.py --synthetic-items 1000000           # a synthetic export, 10k users, d = 64
Options: --requests 2000 --concurrency 8 --k 20 --batch-users 100 --threads 2 --max-seconds 300

The server is started here, on 127.0.0.1 and a free port, and stopped at the end; nothing else is
contacted. Each scenario sends a fixed number of requests (and stops early after --max-seconds): single-user
recommendations (GET /users/{id}/recommendations) and batches (POST /recommendations with --batch-users
users). Prints a Markdown table and one JSON line per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def synthetic_export(folder: Path, n_users: int, n_items: int, dim: int, seen: int, seed: int = 0) -> Path:
    """An export folder (the format of `gtcrec export`) with clustered random vectors."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((256, dim), dtype=np.float32)
    items = centres[rng.integers(0, 256, n_items)] + 0.5 * rng.standard_normal((n_items, dim), dtype=np.float32)
    users = centres[rng.integers(0, 256, n_users)] + 0.5 * rng.standard_normal((n_users, dim), dtype=np.float32)
    indices = np.sort(rng.integers(0, n_items, (n_users, seen)), axis=1).reshape(-1).astype(np.int64)
    indptr = np.arange(0, n_users * seen + 1, seen, dtype=np.int64)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"user": users.astype(np.float32), "item": items.astype(np.float32), "seen_indptr": indptr,
               "seen_indices": indices}, str(folder / "embeddings.safetensors"))
    pd.DataFrame({"index": np.arange(n_users), "id": [f"u{i}" for i in range(n_users)]}).to_csv(
        folder / "user_ids.tsv", sep="\t", index=False)
    pd.DataFrame({"index": np.arange(n_items), "id": [f"i{i}" for i in range(n_items)]}).to_csv(
        folder / "item_ids.tsv", sep="\t", index=False)
    (folder / "manifest.json").write_text(json.dumps({
        "format": "gtcrec-embeddings/1", "model": "synthetic", "dataset": f"synthetic-{n_items}", "n_users": n_users,
        "n_items": n_items, "dim": dim, "score": "dot"}))
    return folder


async def scenario(client: httpx.AsyncClient, make_request, n: int, concurrency: int, max_seconds: float) -> dict:
    latencies, errors = [], 0
    semaphore = asyncio.Semaphore(concurrency)
    start = time.perf_counter()

    async def one(i: int) -> None:
        nonlocal errors
        async with semaphore:
            if time.perf_counter() - start > max_seconds:
                return
            t0 = time.perf_counter()
            try:
                response = await make_request(client, i)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "rps": round(len(latencies) / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", help="a run folder, seed folder or export folder")
    parser.add_argument("--synthetic-items", type=int, help="serve a synthetic export with this many items")
    parser.add_argument("--synthetic-users", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--batch-users", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    parser.add_argument("--max-seconds", type=float, default=300)
    args = parser.parse_args()
    if bool(args.run) == bool(args.synthetic_items):
        parser.error("give exactly one of --run and --synthetic-items")
    tmp = None
    target = args.run
    if args.synthetic_items:
        tmp = tempfile.TemporaryDirectory()
        target = str(synthetic_export(Path(tmp.name) / "export", args.synthetic_users, args.synthetic_items, args.dim,
                                      seen=20))
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    env.pop("GTCREC_API_KEY", None)
    server = subprocess.Popen([sys.executable, "-m", "gtcrec", "serve", target, "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server exited: {server.stdout.read()}")
            try:
                health = httpx.get(f"{base}/health", timeout=2).json()
                break
            except httpx.HTTPError:
                if time.perf_counter() - started > 600:
                    raise SystemExit("the server did not start within 600 s") from None
                time.sleep(0.5)
        startup = time.perf_counter() - started
        users = httpx.get(f"{base}/users", params={"limit": 10_000}, timeout=60).json()
        rng = np.random.default_rng(0)

        async def single(client, i):
            return await client.get(f"/users/{users[rng.integers(len(users))]}/recommendations", params={"k": args.k})

        async def batch(client, i):
            chosen = [users[j] for j in rng.integers(0, len(users), args.batch_users)]
            return await client.post("/recommendations", json={"users": chosen, "k": args.k})

        async def run_all():
            limits = httpx.Limits(max_connections=args.concurrency)
            async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
                await single(client, 0)  # warm-up
                one = await scenario(client, single, args.requests, args.concurrency, args.max_seconds)
                many = await scenario(client, batch, max(1, args.requests // 10), args.concurrency, args.max_seconds)
                return one, many

        one, many = asyncio.run(run_all())
    finally:
        server.terminate()
        server.wait(timeout=30)
        if tmp is not None:
            tmp.cleanup()
    from gtcrec.machine import cpu_model
    from gtcrec.train.run import _git_commit

    print(f"{health['model']} on {health['dataset']}: {health['users']} users, {health['items']} items; server start "
          f"{startup:.1f} s; {cpu_model()}, {args.threads} torch threads, concurrency {args.concurrency}")
    print("| scenario | requests | errors | req/s | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|---|")
    for name, row in ((f"one user, k={args.k}", one), (f"{args.batch_users} users per request, k={args.k}", many)):
        print(f"| {name} | {row['requests']} | {row['errors']} | {row['rps']} | {row['p50_ms']} | {row['p95_ms']} | "
              f"{row['p99_ms']} |")
    for name, row in (("single", one), ("batch", many)):
        print(json.dumps({"scenario": name, **row, "items": health["items"], "users": health["users"],
                          "startup_s": round(startup, 1), "commit": _git_commit(), "machine": cpu_model(),
                          "threads": args.threads, "concurrency": args.concurrency, "k": args.k}))


if __name__ == "__main__":
    main()
