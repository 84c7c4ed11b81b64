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
from gtcrec.data import (
    SyntheticConfig,
    import_interactions,
    make_synthetic,
    write_mmrec,
)
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


class Server:
    """``python -m gtcrec serve RUN`` on a free loopback port, with an httpx client."""

    def __init__(self, run: str, api_key: str | None = None):
        port = free_port()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("GTCREC_API_KEY", None)
        if api_key:
            env["GTCREC_API_KEY"] = api_key
        self.proc = subprocess.Popen([sys.executable, "-m", "gtcrec", "serve", run, "--port", str(port),
                                      "--max-batch", "50"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited: {self.proc.stdout.read()}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            self.stop()
            pytest.fail("server did not answer /health within 120 s")
        self.client = httpx.Client(base_url=base, timeout=60)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(run_dir):
    started = Server(run_dir)
    yield started.client
    started.stop()


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


@pytest.fixture(scope="module")
def gtc_run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("http-gtc")
    folder = write_mmrec(make_synthetic(SyntheticConfig(n_users=60, n_items=40, seed=3)), root / "syn")
    params = {"diffusion_steps": 20, "generation_steps": 2, "denoiser_hidden": [16], "partial_t": 5}
    config = build_config({"model": "gtc", "model_params": params, "data": {"dataset": str(folder)}, "seeds": [0],
                           "output_dir": str(root / "runs"), "name": "gtc",
                           "train": {"epochs": 2, "batch_size": 256, "lr": 0.01, "progress": False}})
    return train(config).run_dir


def new_item(item_id: str, visual_dim=32, textual_dim=24, value=0.5) -> dict:
    return {"id": item_id, "features": {"visual": [value] * visual_dim, "textual": [value] * textual_dim}}


def test_added_items_are_recommended_and_survive_a_restart(gtc_run_dir):
    first = Server(gtc_run_dir, api_key="s3cret")
    try:
        headers = {"X-API-Key": "s3cret"}
        response = first.client.post("/items", json={"items": [new_item("fresh-1"), new_item("fresh-2", value=-1)]},
                                     headers=headers)
        assert response.status_code == 201 and response.json()["items"] == 42
        top = first.client.get("/users/3/recommendations", params={"k": 42}).json()
        assert {"fresh-1", "fresh-2"} <= {x["item"] for x in top["items"]}
        assert all(np.isfinite(x["score"]) for x in top["items"])
        assert first.client.get("/items/fresh-1/similar", params={"k": 3}).status_code == 200
    finally:
        first.stop()
    second = Server(gtc_run_dir)  # no key: read-only, but the added items are back
    try:
        assert second.client.get("/health").json()["added_items"] == 2
        assert second.client.post("/score", json={"user": "3", "items": ["fresh-2"]}).status_code == 200
        refused = second.client.post("/items", json={"items": [new_item("x")]}, headers={"X-API-Key": "s3cret"})
        assert refused.status_code == 403 and "API key" in refused.json()["detail"]
    finally:
        second.stop()


ADD_ITEMS_BAD = [
    ({}, {"items": [new_item("a")]}, 401, "X-API-Key"),
    ({"X-API-Key": "wrong"}, {"items": [new_item("a")]}, 401, "X-API-Key"),
    ({"X-API-Key": "k"}, {"items": []}, 422, "items"),
    ({"X-API-Key": "k"}, {"items": [{"id": "a", "features": {"visual": [0.1] * 32}}]}, 422,
     "modality 'textual': expected it in exactly one of features or text"),
    ({"X-API-Key": "k"}, {"items": [{**new_item("a"), "text": {"textual": "words"}}]}, 422, "exactly one of"),
    ({"X-API-Key": "k"}, {"items": [{"id": "a", "features": {"visual": [0.1] * 32}, "text": {"textual": "words"}}]},
     422, "no feature report"),
    ({"X-API-Key": "k"}, {"items": [new_item("a"), {"id": "b", "features": {"visual": [0.1] * 32},
                                                     "text": {"textual": "w"}}]}, 422, "same way for every item"),
    ({"X-API-Key": "k"}, {"items": [new_item("a", visual_dim=5)]}, 422, "expected shape (1, 32)"),
    ({"X-API-Key": "k"}, {"items": [new_item("0")]}, 422, "already in the catalogue"),
    ({"X-API-Key": "k"}, {"items": [new_item("a"), new_item("a")]}, 422, "repeated"),
    ({"X-API-Key": "k"}, {"items": [{"id": "a", "features": {"visual": ["x"] * 32, "textual": [0.0] * 24}}]}, 422,
     "visual"),
    ({"X-API-Key": "k"}, {"items": [{**new_item("a"), "features": {**new_item("a")["features"], "audio": [1.0]}}]},
     422, "unknown modalities ['audio']"),
    ({"X-API-Key": "k"}, {"items": [new_item(f"n{i}") for i in range(51)]}, 413, "at most 50"),
]


def test_bad_item_additions_get_a_4xx_and_change_nothing(gtc_run_dir):
    server = Server(gtc_run_dir, api_key="k")
    try:
        for headers, body, status, message in ADD_ITEMS_BAD:
            response = server.client.post("/items", json=body, headers=headers)
            assert response.status_code == status, (body, response.text)
            assert message in response.json()["detail"], response.text
        assert server.client.get("/health").json()["items"] == 40 + server.client.get("/health").json()["added_items"]
    finally:
        server.stop()


@pytest.fixture(scope="module")
def page_server(tmp_path_factory, gtc_run_dir):
    """The GTC run served with titles and pictures for its items."""
    from PIL import Image

    root = tmp_path_factory.mktemp("page")
    (root / "img").mkdir()
    rows = []
    for i in range(40):
        rows.append({"item_id": str(i), "title": f"Planted item {i}"})
        Image.new("RGB", (20, 30), ((i * 40) % 256, 120, 200)).save(root / "img" / f"{i}.png")
    pd.DataFrame(rows).to_csv(root / "items.csv", index=False)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GTCREC_API_KEY"}
    proc = subprocess.Popen([sys.executable, "-m", "gtcrec", "serve", gtc_run_dir, "--port", str(port),
                             "--items", str(root / "items.csv"), "--image-dir", str(root / "img")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**env, "OMP_NUM_THREADS": "1"},
                            text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_items_carry_titles_and_pictures(page_server):
    history = httpx.get(f"{page_server}/users/3/history", params={"limit": 5}).json()
    assert history["total"] >= len(history["items"]) > 0
    first = history["items"][0]
    assert first["title"] == f"Planted item {first['item']}" and first["image"] == f"/items/{first['item']}/image"
    picture = httpx.get(page_server + first["image"])
    assert picture.status_code == 200 and picture.content[:4] == b"\x89PNG"
    assert httpx.get(f"{page_server}/items/nope/image").status_code == 404
    page = httpx.get(page_server + "/")
    assert page.status_code == 200 and "<title>gtcrec</title>" in page.text


def chromium() -> str | None:
    import shutil

    return next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)


@pytest.mark.skipif(chromium() is None, reason="no headless browser here (Debian's 'chromium' package; .ci/run "
                                                 "installs it)")
def test_the_page_renders_history_and_recommendations_in_a_real_browser(page_server, tmp_path):
    url = f"{page_server}/?user=3&k=5"
    flags = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--virtual-time-budget=15000", "--window-size=1280,900"]
    dom = subprocess.run([*flags, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=120).stdout
    assert 'data-loaded="3"' in dom  # the script ran and both calls came back
    expected = httpx.get(f"{page_server}/users/3/recommendations", params={"k": 5}).json()["items"]
    assert all(f"Planted item {x['item']}" in dom for x in expected)
    history = httpx.get(f"{page_server}/users/3/history", params={"limit": 60}).json()
    assert dom.count('class="card"') == len(expected) + len(history["items"])
    shot = tmp_path / "page.png"
    subprocess.run([*flags, f"--screenshot={shot}", url], check=True, capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000


def test_items_added_as_text_go_through_the_datasets_encoder(text_run):
    run, titles = text_run
    server = Server(run, api_key="k")
    try:
        body = {"items": [{"id": "copy-of-7", "text": {"title": titles[7]}}]}
        response = server.client.post("/items", json=body, headers={"X-API-Key": "k"})
        assert response.status_code == 201, response.text
        similar = server.client.get("/items/copy-of-7/similar", params={"k": 30}).json()
        assert len(similar) == 30 and all(np.isfinite(x["score"]) for x in similar)
        scored = server.client.post("/score", json={"user": "2", "items": ["copy-of-7", "7"]}).json()
        assert [x["item"] for x in scored] == ["copy-of-7", "7"]
    finally:
        server.stop()
