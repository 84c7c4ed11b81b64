"""A trained run, frozen for inference: recommend, score, similar items, export.

``gtcrec.load(run_dir)`` rebuilds the run's model from its config and best-validation weights, computes
the user and item representations once, and answers every call from them. Ids are the dataset's original
ids (its id maps), or the internal ids as strings where the dataset has none.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd
import torch

from ..atomic import building_folder, publish
from ..data.dataset import InteractionData
from ..data.errors import DataError
from ..data.sources import dataset_folder
from ..evaluation.ranking import CSRRows
from ..models.base import Recommender
from .ann import AnnIndex
from .exported import EXPORT_FORMAT
from .idmap import IdMap
from .retrieval import exact_top_k
from .topk import TopK

IdInit = Literal["zero", "neighbours"]
Retrieval = Literal["exact", "ann"]


class TrainedRecommender:
    """Inference over one trained model: representations computed once, at construction."""

    def __init__(self, model: Recommender, data: InteractionData, *, users: IdMap, items: IdMap,
                 device: torch.device | str = "cpu", run_dir: Path | None = None, model_name: str | None = None,
                 model_params: dict | None = None, feature_scaling: str = "none",
                 raw_features: dict[str, np.ndarray] | None = None, dataset_folder: Path | None = None):
        if len(users) != data.n_users or len(items) != data.n_items:
            raise DataError(f"id maps cover {len(users)} users and {len(items)} items; the run has "
                            f"{data.n_users} and {data.n_items}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        with torch.no_grad():
            user_reps, item_reps = self.model.representations()
        self.user_reps, self.item_reps = user_reps.contiguous(), item_reps.contiguous()
        self._ann: AnnIndex | None = None  # built on first use, from these item representations
        self.users, self.items = users, items
        self.data = data
        self.model_params = dict(model_params or {})
        self.feature_scaling = feature_scaling
        # The trained catalogue's unscaled features, never grown: added items are scaled with its statistics
        # and filled with its mean row, whatever was added before them (so a restart gives the same rows).
        self.raw_features = raw_features if raw_features is not None else dict(data.features)
        self.added_ids: list[str] = []  # items added after training, in order
        self.added_features: dict[str, np.ndarray] = {}  # their raw features, per modality
        self.id_init: IdInit = "zero"  # how their rows of the item ID tables were set (see with_items)
        self._train_csr = data.csr("train")
        self.seen = CSRRows(self._train_csr, self.device)  # what exclude_seen removes: the training items
        self._train_counts = np.asarray(self._train_csr.sum(axis=0)).ravel()
        self.run_dir = run_dir
        self.dataset_folder = dataset_folder  # where the data was read from (None: in memory)
        self.model_name = model_name or getattr(model, "name", type(model).__name__)
        self.dataset_name = data.name

    @property
    def n_users(self) -> int:
        return self.user_reps.shape[0]

    @property
    def n_items(self) -> int:
        return self.item_reps.shape[0]

    def _score(self, user_reps: torch.Tensor, item_reps: torch.Tensor) -> torch.Tensor:
        return self.model.score(user_reps, item_reps)

    # --- recommendations -----------------------------------------------------------------------
    def ann_index(self) -> AnnIndex:
        """The faiss HNSW index over the item representations, built on first use."""
        if type(self.model).score is not Recommender.score:
            raise NotImplementedError(f"{self.model_name} does not score by dot product; no inner-product index")
        if self._ann is None:
            self._ann = AnnIndex(self.item_reps.float().cpu().numpy())
        return self._ann

    def iter_recommend(self, users: Iterable | None = None, k: int = 20, *, exclude_seen: bool = True,
                       batch_size: int = 1024, item_batch: int = 1 << 16,
                       method: Retrieval = "exact") -> Iterator[TopK]:
        """:meth:`recommend` in batches of ``batch_size`` users, for streaming many users in bounded memory."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if method not in get_args(Retrieval):
            raise ValueError(f"method must be one of {get_args(Retrieval)}, got {method!r}")
        index = (torch.arange(self.n_users) if users is None
                 else torch.from_numpy(self.users.to_internal(users)))
        if method == "ann":
            ann = self.ann_index()
            seen = CSRRows(self._train_csr) if exclude_seen else None
            for start in range(0, len(index), batch_size):
                rows = index[start:start + batch_size].numpy()
                queries = self.user_reps[torch.from_numpy(rows).to(self.device)].float().cpu().numpy()
                items, scores = ann.top_k(queries, rows, int(k), seen)
                yield TopK(self.users.to_original(rows), self.items.to_original(np.maximum(items, 0)), scores)
            return
        index = index.to(self.device)
        for rows, top_items, top_scores in exact_top_k(
                self.user_reps, self.item_reps, index, int(k), exclude=self.seen if exclude_seen else None,
                score=self._score, user_batch=batch_size, item_batch=item_batch):
            yield TopK(self.users.to_original(rows.cpu().numpy()), self.items.to_original(top_items.cpu().numpy()),
                       top_scores.cpu().numpy().astype(np.float32))

    def recommend(self, users: Iterable | str | int | None = None, k: int = 20, *, exclude_seen: bool = True,
                  method: Retrieval = "exact") -> TopK:
        """Top-``k`` items for each of ``users`` (original ids; None: every user), best first.

        ``exclude_seen`` removes each user's training items, as the evaluator does. ``method="ann"``
        searches a faiss HNSW index instead of scoring every item (``gtcrec[ann]``).
        """
        if isinstance(users, (str, int, np.integer)):
            users = [users]
        parts = list(self.iter_recommend(users, k, exclude_seen=exclude_seen, method=method))
        if not parts:
            width = min(int(k), self.n_items)
            return TopK(np.empty(0, dtype=object), np.empty((0, width), dtype=object), np.empty((0, width), np.float32))
        return TopK(np.concatenate([p.users for p in parts]), np.concatenate([p.items for p in parts]),
                    np.concatenate([p.scores for p in parts]))

    def score(self, user, items: Iterable) -> np.ndarray:
        """The model's scores of ``items`` (original ids) for one ``user``."""
        u = torch.from_numpy(self.users.to_internal([user])).to(self.device)
        i = torch.from_numpy(self.items.to_internal(items)).to(self.device)
        with torch.no_grad():
            return self._score(self.user_reps[u], self.item_reps[i])[0].cpu().numpy().astype(np.float32)

    def similar_items(self, item, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` items whose representations are closest in cosine to ``item``'s (itself excluded)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        index = int(self.items.to_internal([item])[0])
        unit = torch.nn.functional.normalize(self.item_reps, dim=1)
        with torch.no_grad():
            sims = unit @ unit[index]
        sims[index] = float("-inf")
        top = torch.topk(sims, min(int(k), self.n_items - 1))
        return [(str(self.items.originals[i]), float(s)) for i, s in zip(top.indices.tolist(), top.values.tolist())]

    def history(self, user) -> list[str]:
        """The user's training items (original ids), in catalogue order."""
        index = int(self.users.to_internal([user])[0])
        return [str(x) for x in self.items.to_original(self._train_csr[index].indices)]

    def popular_items(self, k: int = 20) -> list[tuple[str, int]]:
        """The ``k`` items with the most training interactions (a fallback for users the run does not know)."""
        order = np.argsort(-self._train_counts, kind="stable")[:k]
        return [(str(self.items.originals[i]), int(self._train_counts[i])) for i in order]

    # --- new items -----------------------------------------------------------------------------
    def add_items(self, ids: Iterable, features: dict[str, np.ndarray] | None = None, *,
                  content: dict[str, Sequence[str | None]] | None = None, id_init: IdInit | None = None) -> None:
        """Add items in place; see :meth:`with_items`."""
        self.__dict__.update(self.with_items(ids, features, content=content, id_init=id_init).__dict__)

    def encode_content(self, content: dict[str, Sequence[str | None]]) -> dict[str, np.ndarray]:
        """Raw content (per modality: texts, or image file paths) -> raw feature rows, through the encoder that
        built the dataset's features (named in its feature reports; needs ``gtcrec[features]``)."""
        from .content import ContentEncoder

        out = {}
        for m, values in content.items():
            if m not in self.model.modalities:
                raise DataError(f"content: unknown modality {m!r}; expected one of {list(self.model.modalities)}")
            catalogue = self.raw_features[m]
            out[m] = ContentEncoder(self.dataset_folder, m).encode(list(values), catalogue)
        return out

    def with_items(self, ids: Iterable, features: dict[str, np.ndarray] | None = None, *,
                   content: dict[str, Sequence[str | None]] | None = None,
                   id_init: IdInit | None = None) -> TrainedRecommender:
        """A copy whose catalogue also holds items without interactions, recommendable from their content.

        ``self`` is left as it is, so a server can keep answering from it and swap in the copy at once.

        Each of the run's modalities comes either in ``features`` (one row per id, on the raw scale of the
        dataset's feature files; the run's feature scaling is applied as in training) or in ``content``
        (one text or image path per id, or None for none, encoded by :meth:`encode_content`). The model is rebuilt
        on the grown catalogue with the trained weights: the new items have no interactions, their ID
        embeddings are 0, and their representations come from each model's own content path (GTC: the
        content views and the content generated for them; FREEDOM, DRAGON, MGCN: their content kNN graphs,
        rebuilt over the whole catalogue, so existing items may gain new neighbours). Models without a
        content path (LightGCN, BPR-MF) refuse.

        ``id_init`` sets the new items' rows of the model's item ID tables: ``zero`` (default: what the trained
        model computes for an item without interactions) or ``neighbours`` (the mean of the trained rows of
        the 10 catalogue items closest in content, cosine over L2-normalised concatenated raw features: a
        collaborative guess from content). One choice holds for all items added to a run (it is kept with them).
        """
        from ..data.dataset import InteractionData, scale_like
        from ..models import ModelInputs, build_model

        ids = [str(x) for x in ids]
        id_init = id_init or self.id_init
        if id_init not in get_args(IdInit):
            raise DataError(f"id_init {id_init!r}: expected one of {list(get_args(IdInit))}")
        if self.added_ids and id_init != self.id_init:
            raise DataError(f"id_init {id_init!r}: the items added to this run so far use {self.id_init!r}; "
                            "one choice holds for all of them")
        modalities = list(self.model.modalities)
        if not modalities:
            raise DataError(f"{self.model_name} has no content path (no content modality): items without "
                            "interactions cannot be scored")
        if not ids:
            raise DataError("no item ids to add")
        if len(set(ids)) != len(ids):
            raise DataError("item ids to add are repeated")
        known = [x for x in ids if self.items.contains(x)]
        if known:
            raise DataError(f"item id {known[0]!r} is already in the catalogue")
        features, content = dict(features or {}), dict(content or {})
        both = sorted(set(features) & set(content))
        if both:
            raise DataError(f"modality {both[0]!r} is given both as feature rows and as raw content; give one")
        for m, values in content.items():
            if len(values) != len(ids):
                raise DataError(f"content {m!r}: expected {len(ids)} values (one per item id), got {len(values)}")
        features.update(self.encode_content(content))
        if set(features) != set(modalities):
            raise DataError(f"features: expected the modalities {modalities}, got {sorted(features)}")
        scaled = {}
        for m in modalities:
            rows = np.asarray(features[m], dtype=np.float64)
            dim = self.data.features[m].shape[1]
            if rows.shape != (len(ids), dim):
                raise DataError(f"features {m!r}: expected shape ({len(ids)}, {dim}), got {rows.shape}")
            if not np.isfinite(rows).all():
                raise DataError(f"features {m!r}: expected finite numbers")
            reference = self.raw_features[m]
            scaled[m] = scale_like(rows, reference, self.feature_scaling)
        old_n = self.data.n_items
        grown = InteractionData(self.data.name, self.data.n_users, old_n + len(ids), self.data.train,
                                self.data.valid, self.data.test,
                                {m: np.concatenate([self.data.features[m], scaled[m]]) for m in modalities},
                                self.data.source)
        model = build_model(self.model.name, ModelInputs.from_data(grown), self.model_params).to(self.device)
        state = model.state_dict()
        neighbours = self._content_neighbours(features) if id_init == "neighbours" else None
        id_tables = {f"{name}.weight" for name, module in model.named_modules()
                     if isinstance(module, torch.nn.Embedding) and module.num_embeddings == grown.n_items}
        for key, trained in self.model.state_dict().items():
            fresh = state[key]
            if fresh.shape == trained.shape:
                state[key] = trained
            elif fresh.shape[1:] == trained.shape[1:] and fresh.shape[0] == grown.n_items and trained.shape[0] == old_n:
                # Grown with the catalogue: trained rows kept; new rows 0 in ID tables, else as the rebuilt
                # model made them from the new items' content (e.g. fine-tuned feature tables).
                fresh = fresh.clone()
                fresh[:old_n] = trained
                if key in id_tables:
                    fresh[old_n:] = 0 if neighbours is None else trained[neighbours].mean(1)
                state[key] = fresh
            else:
                raise DataError(f"cannot grow {key}: {tuple(trained.shape)} -> {tuple(fresh.shape)}")
        model.load_state_dict(state)
        out = TrainedRecommender(model, grown, users=self.users,
                                 items=IdMap(self.items.kind, list(self.items.originals) + ids), device=self.device,
                                 run_dir=self.run_dir, model_name=self.model_name, model_params=self.model_params,
                                 feature_scaling=self.feature_scaling, raw_features=self.raw_features,
                                 dataset_folder=self.dataset_folder)
        out.added_ids = self.added_ids + ids
        out.id_init = id_init
        out.added_features = {m: np.concatenate([self.added_features.get(m, np.empty((0, self.data.features[m].shape[1]),
                                                                                     np.float32)),
                                                 np.asarray(features[m], np.float32)]) for m in modalities}
        return out

    def _content_neighbours(self, raw_rows: dict[str, np.ndarray], k: int = 10) -> torch.Tensor:
        """(n_new, k) indices of the trained catalogue's items closest in content to each new item."""
        def unit(x: np.ndarray) -> torch.Tensor:
            return torch.nn.functional.normalize(torch.tensor(np.asarray(x, np.float32)), dim=1)

        catalogue = unit(torch.cat([unit(self.raw_features[m]) for m in self.model.modalities], 1).numpy())
        new = unit(torch.cat([unit(raw_rows[m]) for m in self.model.modalities], 1).numpy())
        sims = new @ catalogue.T
        # only items whose ID rows were trained (with at least one training interaction) are neighbours
        untrained = torch.from_numpy(self._train_counts[: len(catalogue)] == 0)
        if bool(untrained.all()):
            raise DataError("id_init 'neighbours': no catalogue item has a training interaction")
        sims[:, untrained] = float("-inf")
        return sims.topk(min(k, int((~untrained).sum())), dim=1).indices.to(self.device)

    # --- export --------------------------------------------------------------------------------
    def export(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write user and item matrices, id maps, training items and a manifest, readable without gtcrec.

        * ``embeddings.safetensors``: ``user`` (n_users, d) and ``item`` (n_items, d), float32;
          ``seen_indptr`` / ``seen_indices``: the training items per user, as CSR arrays (int64);
        * ``user_ids.tsv`` / ``item_ids.tsv``: row ``i`` holds the original id of internal id ``i``;
        * ``manifest.json``: format, model, dataset, sizes, and how to score (``dot``: user · item).

        ``safetensors.numpy.load_file`` reads the matrices with numpy alone. The folder is built beside
        its destination and renamed into place, so a failed export leaves nothing half-written.
        """
        from safetensors.numpy import save_file

        if type(self.model).score is not Recommender.score:
            raise NotImplementedError(f"{self.model_name} does not score by dot product; its export is not defined")
        folder = Path(folder)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not overwrite:
            raise DataError("exists and is not empty; choose a new folder or pass overwrite", path=str(folder))
        with building_folder(folder) as tmp:
            save_file({"user": self.user_reps.float().cpu().numpy(), "item": self.item_reps.float().cpu().numpy(),
                       "seen_indptr": self.seen.indptr.cpu().numpy(), "seen_indices": self.seen.indices.cpu().numpy()},
                      str(tmp / "embeddings.safetensors"))
            for name, ids in (("user_ids.tsv", self.users), ("item_ids.tsv", self.items)):
                pd.DataFrame({"index": np.arange(len(ids)), "id": ids.originals}).to_csv(tmp / name, sep="\t",
                                                                                       index=False)
            manifest = {"format": EXPORT_FORMAT, "model": self.model_name, "dataset": self.dataset_name,
                        "run": str(self.run_dir) if self.run_dir else None, "n_users": self.n_users,
                        "n_items": self.n_items, "dim": int(self.item_reps.shape[1]), "score": "dot",
                        "seen": "training items (CSR seen_indptr/seen_indices)",
                        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        return folder


ADDED_ITEMS_FILE = "added_items.safetensors"


def read_added_items(seed_dir: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Items added to a run after training (ids and raw features), from its ``added_items.safetensors``."""
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    path = Path(seed_dir) / ADDED_ITEMS_FILE
    if not path.is_file():
        return [], {}
    try:
        with safe_open(str(path), framework="np") as handle:
            ids = json.loads((handle.metadata() or {})["ids"])
        features = load_file(str(path))
    except (OSError, ValueError, KeyError, SafetensorError) as exc:  # a damaged file: name it, never guess
        raise DataError(f"unreadable added-items file ({exc})", path=str(path)) from None
    return [str(x) for x in ids], features


def added_items_id_init(seed_dir: Path) -> IdInit:
    """How the kept added items' ID rows were set (``zero`` for files written before the choice existed)."""
    from safetensors import safe_open

    with safe_open(str(Path(seed_dir) / ADDED_ITEMS_FILE), framework="np") as handle:
        value = (handle.metadata() or {}).get("id_init", "zero")
    if value not in get_args(IdInit):
        raise DataError(f"id_init {value!r}: expected one of {list(get_args(IdInit))}",
                        path=str(Path(seed_dir) / ADDED_ITEMS_FILE))
    return value


def write_added_items(recommender: TrainedRecommender) -> Path:
    """Keep every added item of ``recommender`` (ids and raw features) beside its run, atomically.

    Under a file lock, items that another process (``gtcrec add-items`` beside a running server) kept there
    meanwhile are read back and kept too, so that no writer drops another's items.
    """
    import fcntl

    from safetensors.numpy import save_file

    if recommender.run_dir is None:
        raise DataError("this recommender has no run folder to keep added items in")
    path = Path(recommender.run_dir) / ADDED_ITEMS_FILE
    with open(path.parent / f".{ADDED_ITEMS_FILE}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ids, features = list(recommender.added_ids), dict(recommender.added_features)
        on_disk, disk_features = read_added_items(path.parent)
        others = [i for i, x in enumerate(on_disk) if x not in set(ids) and not recommender.items.contains(x)]
        if others and added_items_id_init(path.parent) != recommender.id_init:
            raise DataError(f"items kept here by another process use id_init {added_items_id_init(path.parent)!r}, "
                            f"these {recommender.id_init!r}; one choice holds for all items added to a run",
                            path=str(path))
        if others:
            ids = ids + [on_disk[i] for i in others]
            features = {m: np.concatenate([features[m], disk_features[m][others]]) for m in features}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(fd)
        try:
            save_file({m: np.ascontiguousarray(f, dtype=np.float32) for m, f in features.items()}, tmp,
                      metadata={"ids": json.dumps(ids), "id_init": recommender.id_init})
            publish(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


class ExportedEmbeddings(Recommender):
    """The representations of an export, as a model: no weights to train, scored by dot product."""

    name = "embeddings"
    config_class = dict

    def __init__(self, user_reps: torch.Tensor, item_reps: torch.Tensor):
        from ..models.base import ModelInputs

        super().__init__(ModelInputs(len(user_reps), len(item_reps), np.empty((0, 2), np.int64)), {})
        self.register_buffer("user_reps", user_reps)
        self.register_buffer("item_reps", item_reps)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_reps, self.item_reps

    def loss(self, users, pos, neg):
        raise NotImplementedError("an export is for inference only")


def load_export(folder: str | Path, *, device: str = "cpu") -> TrainedRecommender:
    """A :class:`TrainedRecommender` over an export folder (``gtcrec export``): no model or dataset needed.

    It recommends, scores and finds similar items as the run did; it cannot add items (no content path).
    """
    from safetensors.numpy import load_file

    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        tensors = load_file(str(folder / "embeddings.safetensors"))
        users = pd.read_csv(folder / "user_ids.tsv", sep="\t", dtype=str, keep_default_na=False)["id"]
        items = pd.read_csv(folder / "item_ids.tsv", sep="\t", dtype=str, keep_default_na=False)["id"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"not a readable export ({exc})", path=str(folder)) from None
    if manifest.get("format") != EXPORT_FORMAT:
        raise DataError(f"manifest.json: format {manifest.get('format')!r}; expected {EXPORT_FORMAT!r}", path=str(folder))
    user_reps, item_reps = torch.from_numpy(tensors["user"]), torch.from_numpy(tensors["item"])
    indptr, indices = tensors["seen_indptr"], tensors["seen_indices"]
    if len(users) != len(user_reps) or len(items) != len(item_reps) or len(indptr) != len(user_reps) + 1:
        raise DataError("the id files and matrices disagree in size", path=str(folder))
    train = np.column_stack([np.repeat(np.arange(len(user_reps)), np.diff(indptr)), indices]).astype(np.int64)
    data = InteractionData(manifest.get("dataset", folder.name), len(user_reps), len(item_reps), train,
                           np.empty((0, 2), np.int64), np.empty((0, 2), np.int64))
    return TrainedRecommender(ExportedEmbeddings(user_reps, item_reps), data, users=IdMap("user", users),
                              items=IdMap("item", items), device=device, run_dir=None,
                              model_name=f"{manifest.get('model', '?')} (export)")


def load(run_dir: str | Path, *, device: str | None = "cpu", dataset: str | None = None,
         added_items: bool = True) -> TrainedRecommender:
    """A saved run's best-validation model, frozen for inference (representations computed once).

    ``run_dir`` is a run folder (its lowest-numbered seed is used), a seed folder, or an export folder
    (:func:`load_export`). ``dataset`` overrides
    where the data is read from (for a run trained on another machine). With ``added_items``, items added
    earlier and kept beside the run (``gtcrec serve``'s ``POST /items``) are added again.
    """
    from ..train.run import find_seed_dir, load_trained_run
    from ..train.seeding import resolve_device

    if (Path(run_dir) / "manifest.json").is_file():  # an export folder
        return load_export(run_dir, device=resolve_device(device or "cpu"))
    from ..config import RunConfig, from_dict, load_yaml_config
    from ..data.sources import load_dataset

    seed_dir = find_seed_dir(run_dir)
    config = from_dict(RunConfig, load_yaml_config(str(seed_dir / "config.yaml")), "config")
    unscaled = load_dataset(dataset or config.data.dataset, config.data.modalities)  # read once
    seed_dir, config, data, model = load_trained_run(seed_dir, device=device, dataset=dataset, data=unscaled)
    folder = dataset_folder(dataset or config.data.dataset)
    users = IdMap.from_folder(folder, "user", data.n_users)
    items = IdMap.from_folder(folder, "item", data.n_items)
    # added items: scaled with the catalogue's statistics, filled with its mean
    raw = dict(unscaled.features) if config.data.feature_scaling != "none" else None
    recommender = TrainedRecommender(model, data, users=users, items=items,
                                     device=resolve_device(device or config.train.device), run_dir=seed_dir,
                                     model_name=config.model, model_params=config.model_params,
                                     feature_scaling=config.data.feature_scaling, raw_features=raw,
                                     dataset_folder=folder)
    if added_items:
        ids, features = read_added_items(seed_dir)
        if ids:
            recommender.add_items(ids, features, id_init=added_items_id_init(seed_dir))
    return recommender
