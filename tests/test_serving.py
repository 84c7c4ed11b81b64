"""Using a trained run: gtcrec.load, recommend, score, similar items, export, and the CLI commands."""

import numpy as np
import pandas as pd
import pytest
import torch

import gtcrec
from gtcrec.cli import main
from gtcrec.config import build_config
from gtcrec.data import (
    SyntheticConfig,
    import_interactions,
    item_cold_split,
    make_synthetic,
    write_mmrec,
)
from gtcrec.evaluation import Evaluator
from gtcrec.evaluation.evaluator import model_scorer
from gtcrec.evaluation.ranking import CSRRows
from gtcrec.serving import UnknownIdError, exact_top_k
from gtcrec.train import train


@pytest.fixture(scope="module")
def imported_run(tmp_path_factory):
    """LightGCN trained briefly on an imported log whose ids are strings ("u17", "item-3")."""
    root = tmp_path_factory.mktemp("serving")
    data = make_synthetic(SyntheticConfig(n_users=120, n_items=80, seed=2))
    pairs = np.concatenate([data.train, data.valid, data.test])
    pd.DataFrame({"user": [f"u{u}" for u in pairs[:, 0]], "item": [f"item-{i}" for i in pairs[:, 1]]}).to_csv(
        root / "log.csv", index=False)
    folder = root / "dataset"
    import_interactions(root / "log.csv", folder, user_col="user", item_col="item", kcore=1)
    config = build_config({"model": "lightgcn", "data": {"dataset": str(folder)}, "seeds": [0],
                           "output_dir": str(root / "runs"), "name": "lg",
                           "train": {"epochs": 3, "batch_size": 256, "lr": 0.01, "progress": False}})
    result = train(config)
    return root, folder, result.run_dir


@pytest.fixture(scope="module")
def gtc_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving-gtc")
    folder = write_mmrec(make_synthetic(SyntheticConfig(n_users=100, n_items=70, seed=4)), root / "syn")
    params = {"diffusion_steps": 20, "generation_steps": 2, "denoiser_hidden": [16], "partial_t": 5}
    config = build_config({"model": "gtc", "model_params": params, "data": {"dataset": str(folder)}, "seeds": [0],
                           "output_dir": str(root / "runs"), "name": "gtc",
                           "train": {"epochs": 2, "batch_size": 256, "lr": 0.01, "progress": False}})
    return train(config).run_dir


def test_recommend_equals_the_evaluators_top_k(imported_run, gtc_run):
    for run in (imported_run[2], gtc_run):
        recommender = gtcrec.load(run)
        from gtcrec.train.run import load_trained_run

        _, _, data, model = load_trained_run(run, device="cpu")
        evaluator = Evaluator(data, "valid", ks=[10])
        for batch in evaluator.top_k_batches(model_scorer(model), 10):
            users = recommender.users.to_original(batch.users.numpy())
            top = recommender.recommend(users, 10)
            assert np.array_equal(top.users, users)
            assert np.array_equal(top.items, recommender.items.to_original(batch.items.numpy()))


def test_original_ids_round_trip_and_seen_items_are_removed(imported_run):
    root, folder, run = imported_run
    recommender = gtcrec.load(run)
    log = pd.read_csv(root / "log.csv", dtype=str)
    top = recommender.recommend(["u5", "u17"], k=15)
    assert list(top.users) == ["u5", "u17"]
    assert set(top.items.reshape(-1)) <= set(log["item"])
    inter = pd.read_csv(folder / "dataset.inter", sep="\t")
    for user in ("u5", "u17"):
        internal = recommender.users.to_internal([user])[0]
        train_items = inter[(inter.userID == internal) & (inter.x_label == 0)].itemID.to_numpy()
        seen = set(recommender.items.to_original(train_items))
        assert seen and not seen & {item for item, _ in top.for_user(user)}
    with_seen = recommender.recommend("u5", k=recommender.n_items, exclude_seen=False)
    assert len(with_seen.for_user("u5")) == recommender.n_items
    with pytest.raises(UnknownIdError, match="unknown user id 'nobody'"):
        recommender.recommend(["u5", "nobody"])


def test_score_and_similar_items(imported_run):
    recommender = gtcrec.load(imported_run[2])
    top = recommender.recommend("u3", k=5, exclude_seen=False)
    scores = recommender.score("u3", top.items[0])
    assert np.allclose(scores, top.scores[0], atol=1e-5)
    similar = recommender.similar_items("item-4", k=5)
    assert len(similar) == 5 and "item-4" not in [i for i, _ in similar]
    assert [s for _, s in similar] == sorted((s for _, s in similar), reverse=True)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        recommender.recommend("u3", k=0)


def test_export_is_readable_with_numpy_alone(imported_run, tmp_path):
    from safetensors.numpy import load_file

    recommender = gtcrec.load(imported_run[2])
    folder = recommender.export(tmp_path / "export")
    tensors = load_file(str(folder / "embeddings.safetensors"))
    user_ids = pd.read_csv(folder / "user_ids.tsv", sep="\t", dtype=str)["id"].to_numpy()
    item_ids = pd.read_csv(folder / "item_ids.tsv", sep="\t", dtype=str)["id"].to_numpy()
    u = int(np.flatnonzero(user_ids == "u9")[0])
    scores = tensors["item"] @ tensors["user"][u]
    seen = tensors["seen_indices"][tensors["seen_indptr"][u]:tensors["seen_indptr"][u + 1]]
    scores[seen] = -np.inf
    expected = recommender.recommend("u9", k=10).items[0]
    assert list(item_ids[np.argsort(-scores, kind="stable")[:10]]) == list(expected)
    with pytest.raises(Exception, match="not empty"):
        recommender.export(folder)


def test_chunked_retrieval_equals_one_full_ranking():
    torch.manual_seed(0)
    users, items = torch.randn(50, 8), torch.randn(333, 8)
    exclude = CSRRows(__import__("scipy.sparse", fromlist=["random"]).random(50, 333, density=0.1, format="csr",
                                                                            random_state=0))
    whole = list(exact_top_k(users, items, torch.arange(50), 20, exclude=exclude, item_batch=10_000))
    chunked = list(exact_top_k(users, items, torch.arange(50), 20, exclude=exclude, user_batch=7, item_batch=31))
    assert torch.equal(whole[0][1], torch.cat([c[1] for c in chunked]))
    scores = users @ items.T
    pos, cols = exclude.gather(torch.arange(50))
    scores[pos, cols] = float("-inf")
    assert torch.equal(whole[0][1], torch.topk(scores, 20, dim=1).indices)


def test_cli_recommend_and_export(imported_run, tmp_path, capsys):
    run = imported_run[2]
    out = tmp_path / "recs.csv"
    assert main(["recommend", run, "--users", "u1", "u2", "--k", "7", "--out", str(out)]) == 0
    frame = pd.read_csv(out, dtype={"user": str, "item": str})
    assert list(frame.columns) == ["user", "rank", "item", "score"]
    assert len(frame) == 14 and set(frame.user) == {"u1", "u2"} and frame["rank"].max() == 7
    parquet = tmp_path / "all.parquet"
    assert main(["recommend", run, "--all", "--k", "3", "--batch-size", "16", "--out", str(parquet)]) == 0
    assert len(pd.read_parquet(parquet)) == 3 * gtcrec.load(run).n_users
    assert main(["export", run, "--out", str(tmp_path / "exp")]) == 0
    assert (tmp_path / "exp" / "manifest.json").exists()


@pytest.mark.parametrize("argv,message", [
    (["--users", "ghost"], "unknown user id 'ghost'"),
    (["--users", "u1", "--k", "0"], "--k 0: expected a positive integer"),
    (["--all", "--users", "u1"], "exactly one of --users, --users-file, --all"),
    (["--users", "u1", "--out-suffix", ".xlsx"], "unknown output format '.xlsx'"),
])
def test_cli_recommend_errors_are_one_line(argv, message, imported_run, tmp_path, capsys):
    out = tmp_path / "r.csv"
    if "--out-suffix" in argv:
        out = tmp_path / f"r{argv[-1]}"
        argv = argv[:-2]
    assert main(["recommend", imported_run[2], *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_ann_retrieval_finds_the_exact_top_k_on_a_small_catalogue(imported_run):
    pytest.importorskip("faiss", reason="needs gtcrec[ann]")
    recommender = gtcrec.load(imported_run[2])
    exact = recommender.recommend(None, k=10)
    approx = recommender.recommend(None, k=10, method="ann")
    assert np.array_equal(exact.users, approx.users)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact.items, approx.items)])
    assert overlap > 0.95  # HNSW over 80 items is nearly exact
    for user, row, scores in zip(approx.users, approx.items, approx.scores):  # no training item comes back
        internal = recommender.users.to_internal([user])[0]
        train_items = set(recommender.items.to_original(recommender._train_csr[internal].indices))
        assert not train_items & set(row[np.isfinite(scores)])


@pytest.fixture(scope="module")
def item_cold(tmp_path_factory):
    """Planted data with 15 % of the items held out of training entirely; GTC trained on the rest."""
    root = tmp_path_factory.mktemp("cold")
    full = make_synthetic(SyntheticConfig(n_users=300, n_items=200, n_clusters=4, seed=11))
    split = item_cold_split(full, 0.15, seed=0)
    cold, warm_data = split.cold_items, split.warm
    folder = write_mmrec(warm_data, root / "warm")
    params = {"diffusion_steps": 20, "generation_steps": 2, "denoiser_hidden": [16], "partial_t": 5}
    config = build_config({"model": "gtc", "model_params": params, "data": {"dataset": str(folder)}, "seeds": [0],
                           "output_dir": str(root / "runs"), "name": "gtc",
                           "train": {"epochs": 15, "batch_size": 512, "lr": 0.01, "progress": False}})
    run = train(config).run_dir
    held_out = np.column_stack([split.cold_pairs[:, 0], cold[split.cold_pairs[:, 1]]])
    return run, full, cold, held_out


@pytest.fixture
def item_cold_copy(item_cold, tmp_path):
    """A private copy of the item-cold run (tests that keep added items beside it must not share one)."""
    import shutil

    run, full, cold, _ = item_cold
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run", full, cold


def test_item_cold_split_removes_the_items_everywhere_and_keeps_every_interaction():
    full = make_synthetic(SyntheticConfig(n_users=80, n_items=50, seed=5))
    split = item_cold_split(full, 0.1, seed=3)
    assert len(split.cold_items) == 5 and split.warm.n_items == 45
    assert not set(split.cold_items) & set(split.warm_items)
    every = {s: full.pairs(s) for s in ("train", "valid", "test")}
    n_warm = sum(len(split.warm.pairs(s)) for s in every)
    assert n_warm + len(split.cold_pairs) == sum(len(p) for p in every.values())
    for s, pairs in every.items():  # warm pairs map back to the original ones, in every split
        back = np.column_stack([split.warm.pairs(s)[:, 0], split.warm_items[split.warm.pairs(s)[:, 1]]])
        assert {tuple(p) for p in back} == {tuple(p) for p in pairs if p[1] not in set(split.cold_items)}
    for m, feat in full.features.items():
        assert np.array_equal(split.warm.features[m], feat[split.warm_items])
    assert split.cold_pairs[:, 1].max() < 5
    assert not np.array_equal(split.cold_items, item_cold_split(full, 0.1, seed=4).cold_items)


def test_added_items_get_finite_scores_that_beat_random(item_cold):
    run, full, cold, held_out = item_cold
    recommender = gtcrec.load(run)
    before = recommender.item_reps.clone()
    new_ids = [f"new{i}" for i in cold]
    recommender.add_items(new_ids, {m: f[cold] for m, f in full.features.items()})
    assert recommender.n_items == 200 and recommender.items.contains("new5" if 5 in cold else new_ids[0])
    assert torch.allclose(recommender.item_reps[:170], before)  # GTC's existing items are unchanged
    # For each user who interacted with held-out items: the AUC of those items among all held-out items.
    aucs = []
    for user in np.unique(held_out[:, 0]):
        scores = recommender.score(str(user), new_ids)
        assert np.isfinite(scores).all()
        liked = np.isin(cold, held_out[held_out[:, 0] == user, 1])
        if 0 < liked.sum() < len(cold):
            pos, neg = scores[liked], scores[~liked]
            aucs.append((pos[:, None] > neg[None, :]).mean())
    assert np.mean(aucs) > 0.6  # a random ranker gives 0.5
    top = recommender.recommend(str(held_out[0, 0]), k=200)
    assert set(new_ids) <= set(top.items[0])


def test_add_items_refuses_bad_input(item_cold, imported_run):
    run, full, cold, _ = item_cold
    recommender = gtcrec.load(run)
    features = {m: f[cold[:2]] for m, f in full.features.items()}
    with pytest.raises(Exception, match="expected the modalities"):
        recommender.add_items(["a", "b"], {"visual": features["visual"]})
    with pytest.raises(Exception, match=r"expected shape \(3, 32\)"):
        recommender.add_items(["a", "b", "c"], features)
    with pytest.raises(Exception, match="already in the catalogue"):
        recommender.add_items(["0", "b"], features)
    with pytest.raises(Exception, match="finite"):
        recommender.add_items(["a", "b"], {**features, "visual": np.full_like(features["visual"], np.nan)})
    with pytest.raises(Exception, match="no content path"):
        gtcrec.load(imported_run[2]).add_items(["x"], {})


def test_an_export_serves_the_same_recommendations(imported_run, tmp_path):
    recommender = gtcrec.load(imported_run[2])
    folder = recommender.export(tmp_path / "exp")
    exported = gtcrec.load(folder)
    expected, got = recommender.recommend(["u1", "u7"], k=8), exported.recommend(["u1", "u7"], k=8)
    assert np.array_equal(expected.items, got.items) and np.allclose(expected.scores, got.scores, atol=1e-5)
    ours, theirs = exported.similar_items("item-3", 3), recommender.similar_items("item-3", 3)
    assert [i for i, _ in ours] == [i for i, _ in theirs]
    assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-5)
    with pytest.raises(Exception, match="no content path"):
        exported.add_items(["x"], {})


def test_add_items_from_raw_text_uses_the_datasets_encoder(text_run, tmp_path):
    run, titles = text_run
    recommender = gtcrec.load(run)
    catalogue = recommender.data.features["title"]
    recommender.add_items(["copy-of-4", "untitled"], content={"title": [titles[4], None]})
    # The same text gives the same feature row as the catalogue's own item; no text gives the fill row.
    np.testing.assert_allclose(recommender.added_features["title"][0], catalogue[4], atol=1e-5)
    np.testing.assert_allclose(recommender.added_features["title"][1], catalogue.mean(0), atol=1e-5)
    assert np.isfinite(recommender.score("3", ["copy-of-4", "untitled"])).all()
    with pytest.raises(Exception, match="both as feature rows and as raw content"):
        recommender.add_items(["x"], {"title": catalogue[:1]}, content={"title": ["x"]})
    with pytest.raises(Exception, match="expected 2 values"):
        recommender.add_items(["x", "y"], content={"title": ["only one"]})
    with pytest.raises(Exception, match="unknown modality 'image'"):
        recommender.add_items(["x"], content={"image": ["a.jpg"]})


def test_raw_content_without_a_feature_report_is_refused(gtc_run):
    recommender = gtcrec.load(gtc_run)
    with pytest.raises(Exception, match="no feature report"):
        recommender.add_items(["x"], content={"visual": ["a picture"], "textual": ["words"]})


def test_cli_add_items_from_a_table_persists_them(text_run, tmp_path, capsys):
    import shutil

    run, titles = text_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    pd.DataFrame({"item_id": ["n1", "n2"], "name": [titles[2], ""]}).to_csv(tmp_path / "new.csv", index=False)
    assert main(["add-items", str(copy), "--items", str(tmp_path / "new.csv"), "--text", "title={name}"]) == 0
    assert "added 2 items (32 in the catalogue)" in capsys.readouterr().out
    again = gtcrec.load(copy)
    assert again.added_ids == ["n1", "n2"]
    np.testing.assert_allclose(again.added_features["title"][0], again.data.features["title"][2], atol=1e-5)
    assert set(again.recommend("5", k=32).items[0]) >= {"n1", "n2"}
    for argv, message in [(["--text", "title"], "expected MODALITY=VALUE"),
                          (["--text", "title={nope}"], "nope"),
                          (["--features", "title=missing.npy"], "missing.npy"),
                          (["--image-col", "title=nope"], "no such column")]:
        assert main(["add-items", str(copy), "--items", str(tmp_path / "new.csv"), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert gtcrec.load(copy).added_ids == ["n1", "n2"]  # failed commands added nothing


@pytest.fixture(scope="module")
def every_model_runs(tmp_path_factory):
    """Each registered model trained for one epoch on planted data with a held-out item."""
    from gtcrec.models import MODELS

    root = tmp_path_factory.mktemp("every-model")
    full = make_synthetic(SyntheticConfig(n_users=80, n_items=50, seed=9))
    split = item_cold_split(full, 0.04, seed=1)
    folder = write_mmrec(split.warm, root / "warm")
    runs = {}
    for name in sorted(MODELS):
        config = build_config({"model": name, "data": {"dataset": str(folder)}, "seeds": [0],
                               "output_dir": str(root / "runs"), "name": name,
                               "train": {"epochs": 1, "batch_size": 512, "progress": False}})
        runs[name] = train(config).run_dir
    return runs, full, split


def test_every_model_loads_recommends_exports_and_scores_new_items(every_model_runs, tmp_path):
    runs, full, split = every_model_runs
    new_ids = [f"new{i}" for i in split.cold_items]
    features = {m: f[split.cold_items] for m, f in full.features.items()}
    for name, run in runs.items():
        recommender = gtcrec.load(run)
        top = recommender.recommend(["0", "1"], k=5)
        assert top.items.shape == (2, 5) and np.isfinite(top.scores).all(), name
        assert len(recommender.similar_items(top.items[0, 0], 3)) == 3
        assert gtcrec.load(recommender.export(tmp_path / name)).recommend(["0"], k=5).items.tolist() == \
            top.items[:1].tolist(), name
        if not recommender.model.modalities:  # LightGCN, BPR-MF: no content path
            with pytest.raises(Exception, match="no content path"):
                recommender.add_items(new_ids, features)
            continue
        recommender.add_items(new_ids, features)
        scores = recommender.score("0", new_ids)
        assert recommender.n_items == 50 and np.isfinite(scores).all(), name


def test_items_added_in_batches_get_the_rows_one_batch_gives(tmp_path):
    data = make_synthetic(SyntheticConfig(n_users=60, n_items=40, seed=8))
    folder = write_mmrec(data, tmp_path / "syn")
    config = build_config({"model": "vbpr", "data": {"dataset": str(folder), "feature_scaling": "standardize"},
                           "seeds": [0], "output_dir": str(tmp_path / "runs"), "name": "vbpr",
                           "train": {"epochs": 1, "batch_size": 512, "progress": False}})
    run = train(config).run_dir
    rng = np.random.default_rng(0)
    new = {m: rng.normal(size=(2, f.shape[1])) * 3 + 1 for m, f in data.features.items()}
    one_by_one = gtcrec.load(run)
    one_by_one.add_items(["a"], {m: f[:1] for m, f in new.items()})
    one_by_one.add_items(["b"], {m: f[1:] for m, f in new.items()})
    together = gtcrec.load(run)
    together.add_items(["a", "b"], new)
    for m in new:
        np.testing.assert_allclose(one_by_one.data.features[m][-2:], together.data.features[m][-2:], atol=1e-5)
    np.testing.assert_allclose(one_by_one.score("3", ["a", "b"]), together.score("3", ["a", "b"]), atol=1e-5)


def test_two_writers_keep_each_others_added_items(item_cold_copy):
    from gtcrec.serving.recommender import read_added_items, write_added_items

    copy, full, cold = item_cold_copy
    features = {m: f[cold[:1]] for m, f in full.features.items()}
    first, second = gtcrec.load(copy), gtcrec.load(copy)  # e.g. a server and `gtcrec add-items`
    first.add_items(["x"], features)
    write_added_items(first)
    second.add_items(["y"], features)
    write_added_items(second)
    ids, _ = read_added_items(second.run_dir)
    assert ids == ["y", "x"]
    assert set(gtcrec.load(copy).added_ids) == {"x", "y"}


def test_id_init_neighbours_sets_id_rows_from_content_and_is_kept(item_cold_copy):
    from gtcrec.serving.recommender import write_added_items

    copy, full, cold = item_cold_copy
    features = {m: f[cold[:3]] for m, f in full.features.items()}
    zero, near = gtcrec.load(copy), gtcrec.load(copy)
    zero.add_items(["a", "b", "c"], features)
    near.add_items(["a", "b", "c"], features, id_init="neighbours")
    table = near.model.item_id.weight
    assert torch.all(zero.model.item_id.weight[-3:] == 0)
    assert table[-3:].abs().sum() > 0
    neighbours = near._content_neighbours(features)
    torch.testing.assert_close(table[-3:], table[:-3][neighbours].mean(1))
    assert not np.allclose(zero.score("3", ["a"]), near.score("3", ["a"]))
    with pytest.raises(Exception, match="one choice holds for all"):
        near.add_items(["d"], {m: f[cold[3:4]] for m, f in full.features.items()}, id_init="zero")
    write_added_items(near)
    again = gtcrec.load(copy)
    assert again.id_init == "neighbours"
    np.testing.assert_allclose(again.score("3", ["a", "b"]), near.score("3", ["a", "b"]), atol=1e-5)


def test_an_export_ranks_the_same_with_numpy_alone(imported_run, tmp_path, capsys):
    import subprocess
    import sys

    from gtcrec.serving.exported import ExportedTable

    recommender = gtcrec.load(imported_run[2])
    folder = recommender.export(tmp_path / "exp")
    users = list(recommender.users.originals[:40])
    for exclude_seen in (True, False):
        expected = recommender.recommend(users, k=12, exclude_seen=exclude_seen)
        got = next(ExportedTable(folder).iter_recommend(users, 12, exclude_seen=exclude_seen, item_batch=7))
        assert got.items.tolist() == expected.items.tolist()
        np.testing.assert_allclose(got.scores, expected.scores, atol=1e-5)
    # `gtcrec recommend EXPORT` takes this path, and never imports torch for it
    code = ("import sys; from gtcrec.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, "recommend", str(folder), "--all", "--k", "5", "--out",
                           str(tmp_path / "r.csv")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(tmp_path / "r.csv", dtype=str)
    full = recommender.recommend(None, k=5).to_frame()
    assert written["item"].tolist() == full["item"].tolist()


def test_a_damaged_export_is_a_user_error(imported_run, tmp_path):
    from safetensors.numpy import load_file, save_file

    from gtcrec.errors import UserError
    from gtcrec.serving.exported import ExportedTable

    folder = gtcrec.load(imported_run[2]).export(tmp_path / "exp")
    tensors = load_file(str(folder / "embeddings.safetensors"))
    (folder / "embeddings.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(UserError, match="not a readable export"):
        ExportedTable(folder)
    save_file({**tensors, "seen_indptr": tensors["seen_indptr"][:-2]}, str(folder / "embeddings.safetensors"))
    with pytest.raises(UserError, match="disagree in size"):
        ExportedTable(folder)


def test_writers_with_different_id_init_are_refused(item_cold_copy):
    from gtcrec.serving.recommender import write_added_items

    copy, full, cold = item_cold_copy
    features = {m: f[cold[:1]] for m, f in full.features.items()}
    first, second = gtcrec.load(copy), gtcrec.load(copy)
    first.add_items(["x"], features, id_init="neighbours")
    write_added_items(first)
    second.add_items(["y"], features)  # zero
    with pytest.raises(Exception, match="one choice holds for all"):
        write_added_items(second)
    assert gtcrec.load(copy).added_ids == ["x"]
