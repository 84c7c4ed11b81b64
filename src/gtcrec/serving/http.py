"""HTTP serving of a trained run (FastAPI; ``pip install 'gtcrec[serve]'``).

Endpoints (OpenAPI docs at ``/docs``):
* ``GET /health``: the run, model, dataset and sizes;
* ``GET /users/{user}/recommendations?k=``: top-k for one user. A user the run does not know gets the
  most popular training items instead, with ``"fallback": "popular"`` (known users: ``null``);
* ``POST /recommendations`` ``{"users": [...], "k": 20}``: many users at once (at most ``max_batch``);
* ``POST /score`` ``{"user": ..., "items": [...]}``: the model's scores;
* ``GET /items/{item}/similar?k=``: the items closest in representation (cosine);
* ``POST /items`` ``{"items": [{"id": ..., "features": {"<modality>": [...]}, "text": {"<modality>": "..."}}]}``:
  add items that have no interactions, recommendable at once from their content: each modality as a raw
  feature vector, or, for a text modality, as text encoded by the dataset's own text encoder (needs the
  ``X-API-Key`` given at start; kept beside the run in ``added_items.safetensors``, so a restart keeps them).

Every bad request gets a 4xx whose ``detail`` names the field and what was expected; ids are the
dataset's original ids, as strings.
"""

from __future__ import annotations

import hmac
import threading
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote

import numpy as np

from ..data.errors import DataError
from .content import ContentEncoder
from .display import ItemDisplay
from .idmap import UnknownIdError
from .recommender import TrainedRecommender, write_added_items

try:
    from fastapi import FastAPI, Header, HTTPException, Path, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
    from pydantic import BaseModel, ConfigDict, Field
except ImportError as exc:  # the serving stack is an optional extra
    raise DataError("serving over HTTP needs FastAPI and uvicorn: pip install 'gtcrec[serve]'") from exc

MAX_K = 1000
MAX_BATCH = 1000
PAGE = resources.files("gtcrec.serving").joinpath("static/index.html").read_text()

Id = Annotated[str, Field(min_length=1, max_length=256)]


class RecommendationsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[Id] = Field(min_length=1, description="original user ids")
    k: int = Field(20, ge=1, le=MAX_K, description="items per user")
    exclude_seen: bool = True


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Id
    items: list[Id] = Field(min_length=1, max_length=100_000)


class NewItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Id
    features: dict[str, list[float]] = Field(default_factory=dict,
                                             description="a raw feature vector per content modality")
    text: dict[str, str | None] = Field(default_factory=dict,
                                        description="for a text modality: the item's text instead of its vector")


class AddItemsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[NewItem] = Field(min_length=1)


class Item(BaseModel):
    item: str
    score: float
    title: str | None = None
    image: str | None = Field(None, description="URL path of the item's picture")


class History(BaseModel):
    user: str
    total: int = Field(description="training items of the user")
    items: list[Item] = Field(description="up to `limit` of them, scored by the model, best first")


class UserRecommendations(BaseModel):
    user: str
    items: list[Item]
    fallback: str | None = Field(None, description='"popular" when the user is unknown to the run')


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path"))
    return f"{where or 'request'}: {error.get('msg', 'invalid')}"


class _State:
    """The recommender being served; adding items swaps in a grown copy (reads never see a half-added item)."""

    def __init__(self, recommender: TrainedRecommender):
        self.recommender = recommender
        self.write_lock = threading.Lock()


def create_app(recommender: TrainedRecommender, *, max_batch: int = MAX_BATCH, api_key: str | None = None,
               persist: bool = True, display: ItemDisplay | None = None) -> FastAPI:
    """The FastAPI app; ``api_key`` enables ``POST /items`` (without one, writes are refused with 403).

    ``display`` gives items titles and pictures in every response and on the page at ``/``.
    """
    app = FastAPI(title="gtcrec", version="1", description=f"{recommender.model_name} on {recommender.dataset_name}")
    state = _State(recommender)
    display = display or ItemDisplay()

    def item(item_id: str, score: float) -> Item:
        image = f"/items/{quote(item_id, safe='')}/image" if display.image_path(item_id) else None
        return Item(item=item_id, score=score, title=display.title(item_id), image=image)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE

    @app.get("/users", response_model=list[str])
    def users(limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[str]:
        """Some user ids of the run (the first ``limit``), for pickers."""
        return [str(u) for u in state.recommender.users.originals[:limit]]

    @app.get("/users/{user}/history", response_model=History)
    def user_history(user: Annotated[str, Path(min_length=1, max_length=256)],
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> History:
        current = state.recommender
        try:
            items = current.history(user)
        except UnknownIdError as exc:
            raise HTTPException(404, str(exc)) from None
        scores = current.score(user, items) if items else []
        ranked = sorted(zip(items, scores), key=lambda pair: -pair[1])[:limit]
        return History(user=user, total=len(items), items=[item(i, float(s)) for i, s in ranked])

    @app.get("/items/{item_id}/image", include_in_schema=False)
    def image(item_id: Annotated[str, Path(min_length=1, max_length=256)]) -> FileResponse:
        path = display.image_path(item_id)
        if path is None:
            raise HTTPException(404, f"no image for item id {item_id!r}")
        return FileResponse(path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # one readable sentence per problem, each naming its field (FastAPI's own 422 body is nested)
        return JSONResponse(status_code=422, content={"detail": "; ".join(_describe(e) for e in exc.errors())})

    def recommendations_for(users: list[str], k: int, exclude_seen: bool) -> list[UserRecommendations]:
        recommender = state.recommender  # one snapshot for the whole request
        known = [u for u in users if recommender.users.contains(u)]
        top = recommender.recommend(known, k, exclude_seen=exclude_seen) if known else None
        popular = None
        out = []
        for user in users:
            if recommender.users.contains(user):
                items = [item(i, s) for i, s in top.for_user(user)]
                out.append(UserRecommendations(user=user, items=items))
            else:
                popular = popular or recommender.popular_items(k)
                out.append(UserRecommendations(user=user, items=[item(i, float(c)) for i, c in popular],
                                               fallback="popular"))
        return out

    @app.get("/health")
    def health() -> dict[str, Any]:
        current = state.recommender
        return {"status": "ok", "model": current.model_name, "dataset": current.dataset_name,
                "run": str(current.run_dir) if current.run_dir else None, "users": current.n_users,
                "items": current.n_items, "added_items": len(current.added_ids), "writes": api_key is not None}

    @app.get("/users/{user}/recommendations", response_model=UserRecommendations)
    def user_recommendations(user: Annotated[str, Path(min_length=1, max_length=256)],
                             k: Annotated[int, Query(ge=1, le=MAX_K)] = 20,
                             exclude_seen: bool = True) -> UserRecommendations:
        return recommendations_for([user], k, exclude_seen)[0]

    @app.post("/recommendations", response_model=list[UserRecommendations])
    def many_recommendations(request: RecommendationsRequest) -> list[UserRecommendations]:
        if len(request.users) > max_batch:
            raise HTTPException(413, f"users: {len(request.users)} ids; expected at most {max_batch} per request")
        return recommendations_for(request.users, request.k, request.exclude_seen)

    @app.post("/score", response_model=list[Item])
    def score(request: ScoreRequest) -> list[Item]:
        try:
            values = state.recommender.score(request.user, request.items)
        except UnknownIdError as exc:
            raise HTTPException(404, str(exc)) from None
        return [item(i, float(s)) for i, s in zip(request.items, values)]

    @app.get("/items/{item_id}/similar", response_model=list[Item])
    def similar(item_id: Annotated[str, Path(min_length=1, max_length=256)],
                k: Annotated[int, Query(ge=1, le=MAX_K)] = 10) -> list[Item]:
        try:
            return [item(i, s) for i, s in state.recommender.similar_items(item_id, k)]
        except UnknownIdError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.post("/items", status_code=201)
    def add_items(request: AddItemsRequest, x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        if api_key is None:
            raise HTTPException(403, "adding items is disabled: start the server with an API key (--api-key-env)")
        if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), api_key.encode()):
            raise HTTPException(401, "X-API-Key header: missing or wrong")
        if len(request.items) > max_batch:
            raise HTTPException(413, f"items: {len(request.items)}; expected at most {max_batch} per request")
        with state.write_lock:
            current = state.recommender
            modalities = list(current.model.modalities)
            ids = [item.id for item in request.items]
            features, content = {}, {}
            for m in modalities:
                as_text = [m in item.text for item in request.items]
                as_rows = [m in item.features for item in request.items]
                for n, item in enumerate(request.items):
                    if as_text[n] == as_rows[n] or as_text[n] != as_text[0]:
                        raise HTTPException(422, f"items.{n}: modality {m!r}: expected it in exactly one of "
                                                 "features or text, the same way for every item of the request")
                if as_text[0]:
                    try:
                        encoder = ContentEncoder(current.dataset_folder, m)
                    except DataError as exc:
                        raise HTTPException(422, f"items.text.{m}: {exc}") from None
                    if encoder.kind != "text":
                        raise HTTPException(422, f"items.text.{m}: {m!r} is not a text modality; send its "
                                                 "feature vector in features")
                    content[m] = [item.text[m] for item in request.items]
                    continue
                rows = [item.features[m] for item in request.items]
                if len({len(r) for r in rows}) != 1:
                    raise HTTPException(422, f"items.features.{m}: vectors of different lengths")
                features[m] = np.asarray(rows, dtype=np.float64)
            extra = sorted({k for item in request.items for k in [*item.features, *item.text]} - set(modalities))
            if extra:
                raise HTTPException(422, f"items: unknown modalities {extra}; expected {modalities}")
            try:
                grown = current.with_items(ids, features, content=content)
            except DataError as exc:
                raise HTTPException(422, f"items: {exc}") from None
            except ImportError as exc:  # the server lacks the text encoder: not the client's mistake
                raise HTTPException(501, f"items.text: this server cannot encode text ({exc})") from None
            if persist:
                write_added_items(grown)
            state.recommender = grown
        return {"added": ids, "items": grown.n_items}

    return app


def serve(recommender: TrainedRecommender, *, host: str = "127.0.0.1", port: int = 8000,
          max_batch: int = MAX_BATCH, api_key: str | None = None, display: ItemDisplay | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(recommender, max_batch=max_batch, api_key=api_key, display=display), host=host, port=port,
                log_level="warning")
