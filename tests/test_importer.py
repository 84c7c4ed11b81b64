import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gtcrec.data import (
    DataError,
    DataWarning,
    import_interactions,
    load_mmrec,
    mmrec_split_sizes,
)


def raw_log(seed=0, n_users=25, n_items=20, density=0.4):
    """Dense block (survives k-core) plus a few sparse users/items that a 3-core removes."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for i in range(n_items):
            if rng.random() < density:
                rows.append((f"u{u:03d}", f"item-{i}", float(rng.integers(1, 6)), int(rng.integers(1000, 2000))))
    rows.append(("lonely", "item-0", 5.0, 1500))
    rows.append(("u000", "rare-item", 4.0, 1600))
    rows.append(("u001", "rare-item", 4.0, 1601))
    return pd.DataFrame(rows, columns=["user", "item", "rating", "ts"])


def import_quiet(src, out, **kwargs):
    kwargs.setdefault("user_col", "user")
    kwargs.setdefault("item_col", "item")
    kwargs.setdefault("name", "imp")
    return import_interactions(src, out, **kwargs)


def load_quiet(root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load_mmrec(root)


def read_maps(out: Path):
    umap = pd.read_csv(out / "u_id_mapping.csv", sep="\t", dtype=str, keep_default_na=False)
    imap = pd.read_csv(out / "i_id_mapping.csv", sep="\t", dtype=str, keep_default_na=False)
    return (dict(zip(umap["userID"].astype(int), umap["user_id"])),
            dict(zip(imap["itemID"].astype(int), imap["item_id"])))


def all_pairs(data):
    return np.concatenate([data.train, data.valid, data.test])


def write_format(frame: pd.DataFrame, tmp_path: Path, fmt: str) -> Path:
    if fmt == "csv":
        path = tmp_path / "log.csv"
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        path = tmp_path / "log.tsv"
        frame.to_csv(path, sep="\t", index=False)
    else:
        path = tmp_path / "log.parquet"
        frame.to_parquet(path, index=False)
    return path


def expected_after_kcore(frame: pd.DataFrame, k: int) -> set[tuple[str, str]]:
    pairs = sorted(set(zip(frame["user"].astype(str), frame["item"].astype(str))))
    alive = set(pairs)
    while True:
        ud = Counter(u for u, _ in alive)
        idg = Counter(i for _, i in alive)
        drop = {(u, i) for u, i in alive if ud[u] < k or idg[i] < k}
        if not drop:
            return alive
        alive -= drop


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet"])
def test_import_formats_round_trip_through_loader(tmp_path, fmt):
    frame = raw_log()
    src = write_format(frame, tmp_path, fmt)
    out = tmp_path / "out"
    report = import_quiet(src, out, rating_col="rating", timestamp_col="ts", kcore=3)
    for fname in ("imp.inter", "u_id_mapping.csv", "i_id_mapping.csv", "dataset.yaml", "import_report.json"):
        assert (out / fname).exists(), fname
    data = load_quiet(out)
    assert data.n_users == report.n_users
    assert data.n_items == report.n_items
    assert len(data.train) == report.n_train
    assert len(data.valid) == report.n_valid
    assert len(data.test) == report.n_test
    assert report.n_interactions == report.n_train + report.n_valid + report.n_test

    users, items = read_maps(out)
    assert sorted(users) == list(range(data.n_users))
    assert sorted(items) == list(range(data.n_items))
    assert len(set(users.values())) == data.n_users
    raw_pairs = {(users[u], items[i]) for u, i in all_pairs(data).tolist()}
    assert raw_pairs == expected_after_kcore(frame, 3)
    assert ("lonely", "item-0") not in raw_pairs
    assert "rare-item" not in items.values()
    for u, i in list(raw_pairs)[:5]:
        assert u in set(frame["user"]) and i in set(frame["item"])


def test_import_keeps_rating_and_timestamp_of_surviving_rows(tmp_path):
    frame = raw_log()
    src = write_format(frame, tmp_path, "csv")
    out = tmp_path / "out"
    import_quiet(src, out, rating_col="rating", timestamp_col="ts", kcore=3)
    inter = pd.read_csv(out / "imp.inter", sep="\t")
    users, items = read_maps(out)
    lookup = {(r.user, r.item): (r.rating, r.ts) for r in frame.itertuples()}
    for row in inter.head(10).itertuples():
        raw = (users[row.userID], items[row.itemID])
        assert (row.rating, row.timestamp) == lookup[raw]


def test_import_numeric_raw_ids_map_back_exactly(tmp_path):
    rng = np.random.default_rng(4)
    pairs = np.argwhere(rng.random((15, 12)) < 0.6)
    frame = pd.DataFrame({"user": pairs[:, 0] * 7 + 1000, "item": pairs[:, 1] * 11 + 3})
    src = tmp_path / "log.parquet"
    frame.to_parquet(src, index=False)
    out = tmp_path / "out"
    import_quiet(src, out, kcore=2)
    data = load_quiet(out)
    users, items = read_maps(out)
    raw = {(int(users[u]), int(items[i])) for u, i in all_pairs(data).tolist()}
    expected = {(int(u), int(i)) for u, i in expected_after_kcore(frame.astype(str), 2)}
    assert raw == expected and len(raw) > 0
    assert raw <= set(zip(frame["user"].tolist(), frame["item"].tolist()))


def test_duplicates_merged_with_max_rating_and_latest_timestamp(tmp_path):
    rows = [
        ("a", "x", 2, 10), ("a", "y", 3, 11), ("a", "z", 4, 12),
        ("b", "x", 5, 13), ("b", "y", 1, 14), ("b", "z", 2, 15),
        ("a", "x", 5, 5), ("a", "x", 1, 20), ("b", "y", 4, 9),
    ]
    src = tmp_path / "log.tsv"
    pd.DataFrame(rows, columns=["user", "item", "rating", "ts"]).to_csv(src, sep="\t", index=False)
    out = tmp_path / "out"
    report = import_quiet(src, out, rating_col="rating", timestamp_col="ts", kcore=1)
    assert report.rows_read == 9
    assert report.duplicate_pairs_merged == 3
    assert report.n_interactions == 6
    inter = pd.read_csv(out / "imp.inter", sep="\t")
    users, items = read_maps(out)
    got = {(users[r.userID], items[r.itemID]): (r.rating, r.timestamp) for r in inter.itertuples()}
    assert got[("a", "x")] == (5, 20)
    assert got[("b", "y")] == (4, 14)
    assert got[("a", "z")] == (4, 12)
    saved = json.loads((out / "import_report.json").read_text())
    assert saved["duplicate_pairs_merged"] == 3


def test_min_rating_filter_counted(tmp_path):
    frame = raw_log(seed=1)
    src = write_format(frame, tmp_path, "csv")
    out = tmp_path / "out"
    report = import_quiet(src, out, rating_col="rating", kcore=1, min_rating=3)
    assert report.below_min_rating == int((frame["rating"] < 3).sum())
    assert report.below_min_rating > 0
    kept = frame[frame["rating"] >= 3]
    assert report.n_interactions == len(set(zip(kept["user"], kept["item"])))
    inter = pd.read_csv(out / "imp.inter", sep="\t")
    assert (inter["rating"] >= 3).all()


def test_min_rating_without_rating_column_rejected(tmp_path):
    src = write_format(raw_log(), tmp_path, "csv")
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out", min_rating=3)
    assert "rating_col" in str(exc.value)


def test_kcore_counts_in_report(tmp_path):
    frame = raw_log(seed=2, density=0.3)
    src = write_format(frame, tmp_path, "csv")
    out = tmp_path / "out"
    k = 4
    report = import_quiet(src, out, kcore=k)
    n_unique = len(set(zip(frame["user"], frame["item"])))
    survivors = expected_after_kcore(frame, k)
    assert report.kcore == k
    assert report.rows_read == len(frame)
    assert report.duplicate_pairs_merged == len(frame) - n_unique
    assert report.removed_by_kcore == n_unique - len(survivors)
    assert report.removed_by_kcore > 0
    assert report.n_interactions == len(survivors)
    assert report.n_users == len({u for u, _ in survivors})
    assert report.n_items == len({i for _, i in survivors})
    data = load_quiet(out)
    pairs = all_pairs(data)
    assert np.bincount(pairs[:, 0]).min() >= k
    assert np.bincount(pairs[:, 1]).min() >= k


def test_split_sizes_follow_mmrec_rule(tmp_path):
    src = write_format(raw_log(seed=3), tmp_path, "csv")
    out = tmp_path / "out"
    import_quiet(src, out, kcore=3)
    inter = pd.read_csv(out / "imp.inter", sep="\t")
    for _, group in inter.groupby("userID"):
        v, t = mmrec_split_sizes(np.array([len(group)]))
        assert (group["x_label"] == 1).sum() == v[0]
        assert (group["x_label"] == 2).sum() == t[0]


def test_dataset_yaml_written_by_importer(tmp_path):
    src = write_format(raw_log(), tmp_path, "csv")
    out = tmp_path / "out"
    report = import_quiet(src, out, kcore=3, seed=11)
    spec = yaml.safe_load((out / "dataset.yaml").read_text())
    assert spec["name"] == "imp"
    assert spec["n_users"] == report.n_users and spec["n_items"] == report.n_items
    assert "seed=11" in spec["source"]


def test_missing_column_names_it(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("user,product\na,x\n")
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out")
    msg = str(exc.value)
    assert "log.csv" in msg
    assert "'item'" in msg
    assert "missing column" in msg


def test_missing_rating_column_names_it(tmp_path):
    src = write_format(raw_log(), tmp_path, "csv")
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out", rating_col="stars")
    assert "'stars'" in str(exc.value)


def test_non_numeric_rating_names_line(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("user,item,rating\na,x,4\nb,y,3.5\nc,z,good\nd,w,1\n")
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out", rating_col="rating")
    msg = str(exc.value)
    assert "log.csv" in msg
    assert exc.value.line == 4
    assert "line 4" in msg
    assert "'rating'" in msg
    assert "'good'" in msg


def test_non_numeric_timestamp_names_line(tmp_path):
    src = tmp_path / "log.tsv"
    src.write_text("user\titem\tts\na\tx\t100\nb\ty\tyesterday\n")
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out", timestamp_col="ts")
    assert exc.value.line == 3
    assert "'ts'" in str(exc.value)


def test_empty_user_id_names_line(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("user,item\na,x\nb,y\n,z\nc,w\n")
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out", kcore=1)
    msg = str(exc.value)
    assert "log.csv" in msg
    assert exc.value.line == 4
    assert "line 4" in msg
    assert "empty user id" in msg


def test_empty_item_id_names_line(tmp_path):
    src = tmp_path / "log.tsv"
    src.write_text("user\titem\na\tx\nb\t\n")
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out", kcore=1)
    assert exc.value.line == 3
    assert "empty item id" in str(exc.value)


def test_null_user_in_parquet_rejected(tmp_path):
    src = tmp_path / "log.parquet"
    pd.DataFrame({"user": ["a", None, "c"], "item": ["x", "y", "z"]}).to_parquet(src, index=False)
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out", kcore=1)
    assert "empty user id" in str(exc.value)


def test_missing_input_file(tmp_path):
    with pytest.raises(DataError) as exc:
        import_quiet(tmp_path / "nope.csv", tmp_path / "out")
    assert "nope.csv" in str(exc.value)


def test_header_only_input_rejected(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("user,item\n")
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out")
    assert "no rows" in str(exc.value)


def test_kcore_removing_everything_rejected(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("user,item\na,x\nb,y\nc,z\n")
    with pytest.raises(DataError) as exc:
        import_quiet(src, tmp_path / "out", kcore=2)
    assert "2-core" in str(exc.value)


def test_min_rating_removing_everything_rejected(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("user,item,rating\na,x,1\nb,y,2\nc,z,1\n")
    with pytest.raises(DataError):
        import_quiet(src, tmp_path / "out", rating_col="rating", min_rating=4, kcore=5)


def output_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_same_seed_gives_identical_files(tmp_path):
    src = write_format(raw_log(), tmp_path, "csv")
    import_quiet(src, tmp_path / "a", kcore=3, seed=5)
    import_quiet(src, tmp_path / "b", kcore=3, seed=5)
    a, b = output_bytes(tmp_path / "a"), output_bytes(tmp_path / "b")
    assert set(a) == {"imp.inter", "u_id_mapping.csv", "i_id_mapping.csv", "dataset.yaml", "import_report.json"}
    assert a == b


def test_different_seed_gives_different_split(tmp_path):
    src = write_format(raw_log(), tmp_path, "csv")
    import_quiet(src, tmp_path / "a", kcore=3, seed=5)
    import_quiet(src, tmp_path / "b", kcore=3, seed=6)
    a = pd.read_csv(tmp_path / "a" / "imp.inter", sep="\t")
    b = pd.read_csv(tmp_path / "b" / "imp.inter", sep="\t")
    pd.testing.assert_frame_equal(a[["userID", "itemID"]], b[["userID", "itemID"]])
    assert not a["x_label"].equals(b["x_label"])
    a_maps, b_maps = read_maps(tmp_path / "a"), read_maps(tmp_path / "b")
    assert a_maps == b_maps


def test_name_defaults_to_output_folder(tmp_path):
    src = write_format(raw_log(), tmp_path, "csv")
    out = tmp_path / "mydata"
    import_interactions(src, out, user_col="user", item_col="item", kcore=3)
    assert (out / "mydata.inter").exists()
    assert load_quiet(out).name == "mydata"


def test_a_log_read_in_chunks_gives_the_files_one_read_gives(tmp_path, monkeypatch):
    from gtcrec.data import importer

    frame = raw_log(seed=4)
    frame = pd.concat([frame, frame.iloc[[3, 40, 7]].assign(rating=5.0, ts=2500)])  # repeats in later chunks
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    options = {"rating_col": "rating", "timestamp_col": "ts", "kcore": 3}
    whole = import_quiet(path, tmp_path / "whole", **options)
    monkeypatch.setattr(importer, "IMPORT_CHUNK_ROWS", 37)
    chunked = import_quiet(path, tmp_path / "chunked", **options)
    assert whole == chunked and chunked.duplicate_pairs_merged == 3
    for name in ("imp.inter", "u_id_mapping.csv", "i_id_mapping.csv"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "chunked" / name).read_bytes(), name


def test_errors_in_a_later_chunk_name_their_line(tmp_path, monkeypatch):
    from gtcrec.data import importer

    monkeypatch.setattr(importer, "IMPORT_CHUNK_ROWS", 10)
    rows = ["user,item,rating"] + [f"u{i % 7},i{i % 5},4" for i in range(30)]
    bad = list(rows)
    bad[24] = "u1,i2,lots"
    (tmp_path / "bad.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"bad\.csv.*\b25\b.*'lots'|'lots'.*\b25\b"):
        import_quiet(tmp_path / "bad.csv", tmp_path / "o1", rating_col="rating", kcore=1)
    broken = list(rows)
    broken[27] = "u1,i2,4,extra,fields"
    (tmp_path / "broken.csv").write_text("\n".join(broken) + "\n")
    with pytest.raises(DataError, match="cannot parse"):
        import_quiet(tmp_path / "broken.csv", tmp_path / "o2", rating_col="rating", kcore=1)
