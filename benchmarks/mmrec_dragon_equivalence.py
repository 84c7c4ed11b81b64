"""Does our DRAGON compute what MMRec's DRAGON computes? Same weights and graphs in both, compare outputs.

Needs a local MMRec checkout (github.com/enoche/MMRec, not part of gtcrec) set up for the dataset as
its README says (a ``configs/dataset/<name>.yaml``, ``user_graph_dict.npy`` from its preprocessing
script), torch_geometric importable, and the data findable by gtcrec (``GTCREC_DATA_DIR``). Run it
from MMRec's ``src`` folder, which must be on ``PYTHONPATH``:

    cd MMRec/src && PYTHONPATH=.:$PYTHONPATH python /path/to/benchmarks/mmrec_dragon_equivalence.py tiktok

It builds MMRec's DRAGON (seed 999), copies its weights into ours (``user_weights=raw``, MMRec's form),
gives ours MMRec's drawn user graph, and prints the largest difference of the final user and item
representations, and of the item-item graphs; then one training batch's loss and gradients in both
(MMRec's log2 BPR is ours divided by ln 2). It then compares our own user graph with MMRec's.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp
import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", help="MMRec dataset name, also found by gtcrec (e.g. tiktok)")
    parser.add_argument("--image", default="image", help="our name of MMRec's vision modality")
    parser.add_argument("--text", default="audio", help="our name of the modality MMRec reads as text")
    args = parser.parse_args()

    # MMRec's modules, from the working directory
    from models.dragon import DRAGON as MMRecDRAGON
    from utils.configurator import Config
    from utils.dataloader import TrainDataLoader
    from utils.dataset import RecDataset
    from utils.utils import init_seed

    from gtcrec.data.sources import load_dataset
    from gtcrec.graph import to_torch_sparse
    from gtcrec.graph.knn import fused_item_knn_graph, user_cooccurrence_graph
    from gtcrec.models import ModelInputs, build_model

    config = Config("DRAGON", args.dataset, {"gpu_id": 0})
    config["seed"], config["aggr_mode"] = 999, "add"
    config["learning_rate"], config["reg_weight"] = 1e-4, 1e-4
    init_seed(999)
    dataset = RecDataset(config)
    str(dataset)  # MMRec sets inter_num while printing
    train_set = dataset.split()[0]
    str(train_set)
    theirs = MMRecDRAGON(config, TrainDataLoader(config, train_set, batch_size=2048, shuffle=True)).eval()
    theirs.pre_epoch_processing()
    with torch.no_grad():
        theirs.forward([torch.tensor([0]), torch.tensor([0]), torch.tensor([1])])
    their_users, their_items = theirs.result_embed[:theirs.n_users], theirs.result_embed[theirs.n_users:]

    data = load_dataset(args.dataset)
    ours = build_model("dragon", ModelInputs.from_data(data), {"user_weights": "raw"}).eval()
    source = {args.image: ("v_gcn", 0), args.text: ("t_gcn", 1)}
    their_params = dict(theirs.named_parameters(remove_duplicate=False))  # keeps shared tensors' second names
    copy_mmrec_weights(ours, their_params, source, data.modalities)
    drawn = drawn_user_graph(np.asarray(theirs.epoch_user_graph), theirs.user_weight_matrix.numpy())
    ours.user_graph, ours.user_graph_t = to_torch_sparse(drawn), to_torch_sparse(drawn.T.tocsr())
    with torch.no_grad():
        users, items = ours.forward()
    d = ours.config.embedding_dim
    order = [source[m][1] for m in data.modalities]  # our blocks in MMRec's (image, text) order
    perm = torch.cat([torch.arange(d) + d * order.index(j) for j in range(len(order))])
    print(f"max |our - MMRec| item representation: {(items[:, perm] - their_items).abs().max():.2e} "
          f"(largest entry {their_items.abs().max():.2f})")
    print(f"max |our - MMRec| user representation: {(users[:, perm] - their_users).abs().max():.2e} "
          f"(largest entry {their_users.abs().max():.2f})")
    compare_gradients(theirs, ours, their_params, train_set, source, data.modalities)
    adj = theirs.mm_adj.coalesce()
    their_graph = sp.coo_matrix((adj.values().numpy(), adj.indices().numpy()), shape=adj.shape).tocsr()
    our_graph = fused_item_knn_graph(dict(data.features), ours.config.knn_k, ours.config.image_weight)
    print(f"max |our - MMRec| item-item graph entry: {abs(our_graph - their_graph).max():.2e}")

    counts = user_cooccurrence_graph(data.csr("train"), ours.config.user_topk)
    degree = np.diff(data.csr("train").indptr)
    same = sum(set(counts[u].indices) == set(drawn[u].indices) for u in range(data.n_users))
    print(f"users whose {ours.config.user_topk} neighbours are the same set in both: {same} of {data.n_users}")
    print(f"mean training degree of the chosen neighbours: ours {degree[counts.indices].mean():.1f}, "
          f"MMRec {degree[drawn.indices].mean():.1f}")


def matching_parameters(ours, theirs: dict[str, torch.Tensor], source, modalities
                        ) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, our parameter, MMRec's parameter) for every per-modality weight the two models share.

    ``theirs``: MMRec's parameters by name (``named_parameters()`` or a saved state dict);
    ``source[m]``: (MMRec's module name for our modality m, its index in MMRec's (image, text) order).
    """
    pairs = []
    for m in modalities:
        gcn, _ = source[m]
        pairs += [(f"preference[{m}]", ours.preference[m], theirs[f"{gcn}.preference"]),
                  (f"mlp[{m}].0.weight", ours.mlp[m][0].weight, theirs[f"{gcn}.MLP.weight"]),
                  (f"mlp[{m}].0.bias", ours.mlp[m][0].bias, theirs[f"{gcn}.MLP.bias"]),
                  (f"mlp[{m}].2.weight", ours.mlp[m][2].weight, theirs[f"{gcn}.MLP_1.weight"]),
                  (f"mlp[{m}].2.bias", ours.mlp[m][2].bias, theirs[f"{gcn}.MLP_1.bias"])]
    return pairs


@torch.no_grad()
def copy_mmrec_weights(ours, theirs: dict[str, torch.Tensor], source, modalities) -> None:
    """MMRec's DRAGON weights into ours (built with ``user_weights="raw"``, MMRec's form)."""
    for _, mine, their in matching_parameters(ours, theirs, source, modalities):
        mine.copy_(their)
    ours.weight_u.copy_(user_weights_in_our_layout(theirs["weight_u"], source, modalities))


def drawn_user_graph(index: np.ndarray, weights: np.ndarray) -> sp.csr_matrix:
    """MMRec's drawn user graph ((n_users, k) neighbour ids and weights; padding repeats summed) as a matrix."""
    rows = np.repeat(np.arange(len(index)), index.shape[1])
    drawn = sp.coo_matrix((weights.ravel(), (rows, index.ravel())), shape=(len(index), len(index))).tocsr()
    drawn.sum_duplicates()
    drawn.eliminate_zeros()
    return drawn.astype(np.float32)


def user_weights_in_our_layout(their_weights: torch.Tensor, source, modalities) -> torch.Tensor:
    """MMRec's (n_users, 2, 1) user weights (image, text) as our (n_users, n_modalities)."""
    return torch.stack([their_weights[:, source[m][1], 0] for m in modalities], dim=1)


def compare_gradients(theirs, ours, their_params, train_set, source, modalities) -> None:
    """One BPR batch through both models: same loss (MMRec's log2 BPR = ours / ln 2) and same gradients?"""
    pairs = train_set.df[["userID", "itemID"]].to_numpy()[:2048].copy()
    rng = np.random.default_rng(0)
    users, pos = torch.from_numpy(pairs[:, 0]), torch.from_numpy(pairs[:, 1])
    neg = torch.from_numpy(rng.integers(0, ours.n_items, len(pairs)))
    theirs.train()
    ours.train()
    theirs.zero_grad()
    ours.zero_grad()
    their_loss = theirs.calculate_loss(torch.stack([users, pos, neg]))
    their_loss.backward()
    terms = ours.loss(users, pos, neg)
    our_loss = terms["bpr"] / np.log(2.0) + terms["reg"]
    our_loss.backward()
    print(f"batch loss: ours {our_loss.item():.6f}, MMRec {their_loss.item():.6f}")
    grads = [(name, mine.grad, their.grad)
             for name, mine, their in matching_parameters(ours, their_params, source, modalities)]
    grads.append(("weight_u", ours.weight_u.grad, user_weights_in_our_layout(theirs.weight_u.grad, source, modalities)))
    worst = 0.0
    for name, our_grad, their_grad in grads:
        scale = their_grad.abs().max().item()
        diff = (our_grad - their_grad).abs().max().item()
        worst = max(worst, diff / max(scale, 1e-30))
        print(f"  grad {name}: max |diff| {diff:.2e} (largest entry {scale:.2e})")
    print(f"largest gradient difference relative to the largest entry: {worst:.2e}")
    theirs.eval()
    ours.eval()


if __name__ == "__main__":
    main()
