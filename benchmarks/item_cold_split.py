"""Item-cold evaluation: recommend items that no model saw in training, added afterwards from their content.

    python benchmarks/item_cold_split.py prepare --dataset ml-100k-mm --fraction 0.1 --seed 0 --out DIR
    gtcrec train --dataset DIR/warm --model M ...             # any model, trained on the warm items only
    python benchmarks/item_cold_split.py evaluate DIR RUN [RUN ...] [--k 20]

``prepare`` holds out ``fraction`` of the items entirely (every interaction, every split) and writes the
rest as an MMRec dataset folder ``DIR/warm`` (original user and item ids kept in its id maps, feature reports
copied), and the held-out items' ids, interactions and raw feature rows into ``DIR/cold``.

``evaluate`` loads each run with ``gtcrec.load``, adds the cold items with ``add_items`` (their raw feature
rows, as a user of the library would), and ranks the cold items for every user who has an interaction with
one: Recall@k and NDCG@k among the cold items (each such user's cold interactions are the targets), and the
share of those targets that reach the top k of the whole catalogue (training items masked). Three references
need no training: a content-kNN ranker (a cold item's mean cosine similarity, over L2-normalised and
concatenated modalities, to the user's training items), content popularity (the mean training count of a
cold item's 10 most similar warm items: the same ranking for every user), and popularity, which cannot tell
cold items apart (none has an interaction), so it is a random ranker: its metrics are averaged over 200
draws.
Prints one markdown row per run (or per reference).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import gtcrec
from gtcrec.atomic import atomic_write_json
from gtcrec.data.dataset import array_digest
from gtcrec.data.mmrec import write_mmrec
from gtcrec.data.sources import dataset_folder, load_dataset
from gtcrec.data.split import item_cold_split
from gtcrec.serving.idmap import IdMap


def prepare(args: argparse.Namespace) -> None:
    data = load_dataset(args.dataset)
    source = dataset_folder(args.dataset)
    users = IdMap.from_folder(source, "user", data.n_users)
    items = IdMap.from_folder(source, "item", data.n_items)
    split = item_cold_split(data, args.fraction, args.seed)
    out = Path(args.out)
    warm_dir = write_mmrec(split.warm, out / "warm")
    pd.DataFrame({"user_id": users.originals, "userID": np.arange(data.n_users)}).to_csv(
        warm_dir / "u_id_mapping.csv", sep="\t", index=False)
    pd.DataFrame({"item_id": items.originals[split.warm_items], "itemID": np.arange(len(split.warm_items))}).to_csv(
        warm_dir / "i_id_mapping.csv", sep="\t", index=False)
    for report in sorted(source.glob("*_feat.report.json")) if source else []:
        modality = report.name.removesuffix("_feat.report.json")
        record = json.loads(report.read_text())
        if modality in split.warm.features and "sha256" in record:  # the warm matrix keeps only some rows
            record["sha256"] = array_digest(split.warm.features[modality])
        atomic_write_json(warm_dir / report.name, record)
    cold_dir = out / "cold"
    cold_dir.mkdir(parents=True, exist_ok=True)
    cold_ids = items.originals[split.cold_items]
    pd.DataFrame({"item_id": cold_ids}).to_csv(cold_dir / "items.tsv", sep="\t", index=False)
    pd.DataFrame({"user_id": users.originals[split.cold_pairs[:, 0]],
                  "item_id": cold_ids[split.cold_pairs[:, 1]]}).to_csv(cold_dir / "interactions.tsv", sep="\t",
                                                                       index=False)
    for m, feat in data.features.items():
        np.save(cold_dir / f"{m}_feat.npy", feat[split.cold_items])
    summary = {"dataset": args.dataset, "fraction": args.fraction, "seed": args.seed,
               "n_items": data.n_items, "n_cold_items": len(split.cold_items),
               "n_cold_interactions": len(split.cold_pairs),
               "n_users_with_cold": len(np.unique(split.cold_pairs[:, 0])),
               "warm_interactions": {s: len(split.warm.pairs(s)) for s in ("train", "valid", "test")}}
    (out / "split.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


class ColdTargets:
    """The cold items, their raw features, and each user's cold interactions as a binary matrix."""

    def __init__(self, folder: Path, modalities: list[str]):
        cold = folder / "cold"
        self.ids = pd.read_csv(cold / "items.tsv", sep="\t", dtype=str)["item_id"].tolist()
        self.features = {m: np.load(cold / f"{m}_feat.npy") for m in modalities}
        pairs = pd.read_csv(cold / "interactions.tsv", sep="\t", dtype=str)
        self.user_ids = sorted(pairs["user_id"].unique(), key=lambda x: (len(x), x))
        position = {x: i for i, x in enumerate(self.ids)}
        row = {x: i for i, x in enumerate(self.user_ids)}
        self.targets = torch.zeros(len(self.user_ids), len(self.ids), dtype=torch.bool)
        self.targets[pairs["user_id"].map(row).to_numpy().copy(), pairs["item_id"].map(position).to_numpy().copy()] = True


def cold_metrics(scores: torch.Tensor, targets: torch.Tensor, k: int) -> dict[str, float]:
    """Recall@k and NDCG@k of ranking the cold items (rows: users, columns: cold items)."""
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices
    hits = targets.gather(1, top).float()
    n_pos = targets.sum(1).float()
    discount = 1.0 / torch.log2(torch.arange(2, hits.shape[1] + 2, dtype=torch.float32))
    ideal = torch.cumsum(discount, 0)[(n_pos.clamp(max=hits.shape[1]) - 1).long()]
    return {"recall": float((hits.sum(1) / n_pos).mean()), "ndcg": float(((hits * discount).sum(1) / ideal).mean())}


def evaluate_run(run: Path, cold: ColdTargets, k: int, id_init: str) -> tuple[str, dict[str, float]]:
    rec = gtcrec.load(run, added_items=False)
    rec.add_items(cold.ids, cold.features, id_init=id_init)
    users = torch.from_numpy(rec.users.to_internal(cold.user_ids))
    items = torch.from_numpy(rec.items.to_internal(cold.ids))
    with torch.no_grad():
        scores = rec._score(rec.user_reps[users], rec.item_reps[items]).float().cpu()
    out = cold_metrics(scores, cold.targets, k)
    # Do cold items also reach the top of the whole catalogue?
    top = rec.recommend(cold.user_ids, k).to_frame()
    cold_set = set(cold.ids)
    known = {(u, i) for u, i in zip(top["user"], top["item"]) if i in cold_set}
    rows, cols = torch.nonzero(cold.targets, as_tuple=True)
    out["full_hit"] = sum((cold.user_ids[r], cold.ids[c]) in known for r, c in zip(rows.tolist(), cols.tolist())) / len(rows)
    out["cold_share"] = float(top["item"].isin(cold_set).mean())
    return f"{rec.model_name} (id_init {id_init}) | {run}", out


def content_references(folder: Path, cold: ColdTargets, k: int, neighbours: int = 10
                       ) -> dict[str, dict[str, float]]:
    """Two rankers without training: the user's taste in content, and the popularity content predicts."""
    warm = load_dataset(str(folder / "warm"))
    users = IdMap.from_folder(folder / "warm", "user", warm.n_users).to_internal(cold.user_ids)

    def unit(x: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(x, np.float32))
        return torch.nn.functional.normalize(x, dim=1)

    warm_feat = torch.nn.functional.normalize(torch.cat([unit(warm.features[m]) for m in cold.features], 1), dim=1)
    cold_feat = torch.nn.functional.normalize(torch.cat([unit(cold.features[m]) for m in cold.features], 1), dim=1)
    train = warm.csr("train")
    history = torch.from_numpy(train[users].toarray()).float()
    profile = history @ warm_feat / history.sum(1, keepdim=True).clamp(min=1)
    counts = torch.from_numpy(np.asarray(train.sum(axis=0)).ravel()).float()
    near = (cold_feat @ warm_feat.T).topk(neighbours, dim=1).indices
    predicted_popularity = counts[near].mean(1)
    return {
        "content-kNN (mean cosine to the user's training items)": cold_metrics(profile @ cold_feat.T, cold.targets, k),
        f"content popularity (mean training count of the {neighbours} most similar warm items; same for "
        "every user)": cold_metrics(predicted_popularity.expand(len(users), -1).clone(), cold.targets, k),
    }


def random_ranker(cold: ColdTargets, k: int, draws: int = 200) -> dict[str, float]:
    generator = torch.Generator().manual_seed(0)
    runs = [cold_metrics(torch.rand(cold.targets.shape, generator=generator), cold.targets, k) for _ in range(draws)]
    return {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}


def evaluate(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    modalities = json.loads((folder / "split.json").read_text())
    warm = load_dataset(str(folder / "warm"))
    cold = ColdTargets(folder, warm.modalities)
    print(f"{len(cold.ids)} cold items, {int(cold.targets.sum())} cold interactions of {len(cold.user_ids)} users "
          f"(split {modalities})")
    print(f"| model | run | recall@{args.k} | ndcg@{args.k} | cold targets in full top {args.k} | cold share of top {args.k} |")
    print("|---|---|---|---|---|---|")
    references = {"popularity (= random: no cold item has an interaction)": random_ranker(cold, args.k),
                  **content_references(folder, cold, args.k)}
    for name, metrics in references.items():
        print(f"| {name} | - | {metrics['recall']:.4f} | {metrics['ndcg']:.4f} | - | - |")
    per_model: dict[str, list[dict[str, float]]] = {}
    for run in args.runs:
        for id_init in args.id_init:
            label, m = evaluate_run(Path(run), cold, args.k, id_init)
            per_model.setdefault(label.split(" | ")[0], []).append(m)
            print(f"| {label} | {m['recall']:.4f} | {m['ndcg']:.4f} | {m['full_hit']:.4f} | "
                  f"{m['cold_share']:.4f} |", flush=True)
    if any(len(v) > 1 for v in per_model.values()):
        print(f"\nMean ± sample std over the runs given (one per training seed):\n\n| model | runs | recall@{args.k} | "
              f"ndcg@{args.k} | cold targets in full top {args.k} |\n|---|---|---|---|---|")
        for label, ms in per_model.items():
            cells = []
            for key in ("recall", "ndcg", "full_hit"):
                values = np.array([m[key] for m in ms])
                std = values.std(ddof=1) if len(values) > 1 else 0.0
                cells.append(f"{values.mean():.4f} ± {std:.4f}")
            print(f"| {label} | {len(ms)} | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--dataset", default="ml-100k-mm")
    p.add_argument("--fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    e = sub.add_parser("evaluate")
    e.add_argument("folder")
    e.add_argument("runs", nargs="*")
    e.add_argument("--k", type=int, default=20)
    e.add_argument("--id-init", nargs="+", default=["zero", "neighbours"], choices=["zero", "neighbours"],
                   help="how the new items' rows of the item ID tables are set (TrainedRecommender.with_items)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    prepare(args) if args.command == "prepare" else evaluate(args)


if __name__ == "__main__":
    main()
