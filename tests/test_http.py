"""The HTTP server, through a real uvicorn process on a free loopback port."""

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import gtcrec
from gtcrec.config import build_config
from gtcrec.data import SyntheticConfig, import_interactions, make_synthetic
from gtcrec.train import train

httpx = pytest.importorskip("httpx", reason="the HTTP tests need gtcrec[dev] (httpx)")
pytest.importorskip("fastapi", reason="the HTTP tests need gtcrec[serve]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("http")
    data = make_synthetic(SyntheticConfig(n_users=80, n_items=60, seed=7))
    pairs = np.concatenate([data.train, data.valid, data.test])
    pd.DataFrame({"user": [f"u{u}" for u in pairs[:, 0]], "item": [f"i{i}" for i in pairs[:, 1]]}).to_csv(
        root / "log.csv", index=False)
    import_interactions(root / "log.csv", root / "ds", user_col="user", item_col="item", kcore=1)
    config = build_config({"model": "lightgcn", "data": {"dataset": str(root / "ds")}, "seeds": [0],
                           "output_dir": str(root / "runs"), "name": "lg",
                           "train": {"epochs": 2, "batch_size": 256, "lr": 0.01, "progress": False}})
    return train(config).run_dir


@pytest.fixture(scope="module")
def server(run_dir):
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gtcrec", "serve", run_dir, "--port", str(port), "--max-batch", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {proc.stdout.read()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("server did not answer /health within 120 s")
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client
    proc.terminate()
    proc.wait(timeout=30)


def test_health_and_docs(server, run_dir):
    health = server.get("/health").json()
    assert health["status"] == "ok" and health["model"] == "lightgcn" and health["users"] == 80
    assert server.get("/openapi.json").json()["paths"].keys() >= {"/health", "/recommendations", "/score"}


def test_recommendations_match_the_python_api(server, run_dir):
    expected = gtcrec.load(run_dir).recommend(["u3", "u4"], k=5)
    one = server.get("/users/u3/recommendations", params={"k": 5}).json()
    assert one["fallback"] is None and [x["item"] for x in one["items"]] == list(expected.items[0])
    many = server.post("/recommendations", json={"users": ["u3", "u4"], "k": 5}).json()
    assert [[x["item"] for x in r["items"]] for r in many] == [list(row) for row in expected.items]
    scores = server.post("/score", json={"user": "u3", "items": list(expected.items[0][:2])}).json()
    assert np.allclose([s["score"] for s in scores], expected.scores[0][:2], atol=1e-4)
    similar = server.get("/items/i5/similar", params={"k": 4}).json()
    assert len(similar) == 4 and all(s["item"] != "i5" for s in similar)


def test_unknown_users_get_popular_items_flagged(server):
    body = server.get("/users/stranger/recommendations", params={"k": 3}).json()
    assert body["fallback"] == "popular" and len(body["items"]) == 3
    mixed = server.post("/recommendations", json={"users": ["u1", "stranger"], "k": 3}).json()
    assert [r["fallback"] for r in mixed] == [None, "popular"]


BAD_REQUESTS = [
    ("get", "/users/u1/recommendations", {"params": {"k": 0}}, 422, "k"),
    ("get", "/users/u1/recommendations", {"params": {"k": -3}}, 422, "k"),
    ("get", "/users/u1/recommendations", {"params": {"k": 10**9}}, 422, "k"),
    ("get", "/users/u1/recommendations", {"params": {"k": "many"}}, 422, "k"),
    ("post", "/recommendations", {"json": {"users": [], "k": 5}}, 422, "users"),
    ("post", "/recommendations", {"json": {"users": "u1", "k": 5}}, 422, "users"),
    ("post", "/recommendations", {"json": {"users": ["u1"], "k": "five"}}, 422, "k"),
    ("post", "/recommendations", {"json": {"k": 5}}, 422, "users"),
    ("post", "/recommendations", {"json": {"users": ["u1"], "k": 5, "extra": 1}}, 422, "extra"),
    ("post", "/recommendations", {"json": {"users": [f"u{i}" for i in range(51)], "k": 5}}, 413, "at most 50"),
    ("post", "/recommendations", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422,
     "JSON"),
    ("post", "/score", {"json": {"user": "u1", "items": ["nope"]}}, 404, "unknown item id 'nope'"),
    ("post", "/score", {"json": {"user": "ghost", "items": ["i1"]}}, 404, "unknown user id 'ghost'"),
    ("post", "/score", {"json": {"user": "u1", "items": []}}, 422, "items"),
    ("post", "/score", {"json": {"user": "u1"}}, 422, "items"),
    ("get", "/items/nope/similar", {}, 404, "unknown item id 'nope'"),
    ("get", "/items/i1/similar", {"params": {"k": 0}}, 422, "k"),
    ("get", "/no/such/path", {}, 404, "Not Found"),
    ("put", "/recommendations", {}, 405, "Method Not Allowed"),
]


@pytest.mark.parametrize("method,path,kwargs,status,message", BAD_REQUESTS,
                         ids=[f"{m} {p} {i}" for i, (m, p, *_rest) in enumerate(BAD_REQUESTS)])
def test_bad_requests_get_a_4xx_naming_the_problem(method, path, kwargs, status, message, server):
    response = server.request(method.upper(), path, **kwargs)
    assert response.status_code == status
    assert message in response.json()["detail"]
