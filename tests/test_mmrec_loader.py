import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from gtcrec.data import DataError, DataWarning, InteractionData, load_mmrec, write_mmrec

GOOD_ROWS = [
    (0, 0, 0), (0, 1, 0), (0, 2, 1), (0, 3, 2),
    (1, 1, 0), (1, 2, 0), (1, 3, 1), (1, 4, 2),
    (2, 0, 0), (2, 4, 0), (2, 1, 1), (2, 2, 2),
]
N_ITEMS = 5


def write_inter(path: Path, rows, header=("userID", "itemID", "x_label")) -> Path:
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_folder(tmp_path: Path, rows=GOOD_ROWS, *, name="ds", header=("userID", "itemID", "x_label"),
                features: dict | None = None, spec: dict | None = None) -> Path:
    root = tmp_path / name
    root.mkdir()
    write_inter(root / f"{name}.inter", rows, header)
    for fname, arr in (features or {}).items():
        np.save(root / fname, arr)
    if spec is not None:
        (root / "dataset.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def feats(n_rows=N_ITEMS, dim=3, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=(n_rows, dim)).astype(dtype)


def load_quiet(root, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load_mmrec(root, **kwargs)


def with_row(index: int, row):
    rows = list(GOOD_ROWS)
    rows.insert(index, row)
    return rows


def line_of_row(index: int) -> int:
    return index + 2


def test_missing_column_in_header_names_file_and_column(tmp_path):
    root = make_folder(tmp_path, header=("userID", "item", "x_label"))
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "ds.inter" in msg
    assert "'itemID'" in msg
    assert "missing column" in msg
    assert exc.value.line == 1


@pytest.mark.parametrize("bad_user", ["abc", "1.5"])
def test_non_integer_user_id_names_file_line_and_value(tmp_path, bad_user):
    rows = with_row(5, (bad_user, 0, 1))
    root = make_folder(tmp_path, rows)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "ds.inter" in msg
    assert f"line {line_of_row(5)}" in msg
    assert exc.value.line == line_of_row(5)
    assert "'userID'" in msg
    assert "integer" in msg
    assert repr(bad_user) in msg


def test_negative_item_id_names_line_and_expected_range(tmp_path):
    rows = with_row(7, (1, -1, 0))
    root = make_folder(tmp_path, rows)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "ds.inter" in msg
    assert exc.value.line == line_of_row(7)
    assert f"line {line_of_row(7)}" in msg
    assert "-1" in msg
    assert ">= 0" in msg


def test_negative_user_id_rejected_with_line(tmp_path):
    rows = with_row(2, (-3, 0, 0))
    root = make_folder(tmp_path, rows)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    assert exc.value.line == line_of_row(2)
    assert "'userID'" in str(exc.value)
    assert "-3" in str(exc.value)


def test_item_id_beyond_feature_rows_names_line_and_row_count(tmp_path):
    rows = with_row(4, (2, N_ITEMS, 0))
    root = make_folder(tmp_path, rows, features={"image_feat.npy": feats()})
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "ds.inter" in msg
    assert exc.value.line == line_of_row(4)
    assert f"line {line_of_row(4)}" in msg
    assert "'itemID'" in msg
    assert str(N_ITEMS) in msg
    assert f"[0, {N_ITEMS - 1}]" in msg
    assert "feature" in msg


def test_duplicated_pair_mentions_both_lines(tmp_path):
    rows = list(GOOD_ROWS) + [(1, 2, 1)]
    first = GOOD_ROWS.index((1, 2, 0))
    root = make_folder(tmp_path, rows)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "ds.inter" in msg
    assert "duplicated" in msg
    assert "(1, 2)" in msg
    assert exc.value.line == line_of_row(len(rows) - 1)
    assert f"line {line_of_row(len(rows) - 1)}" in msg
    assert f"line {line_of_row(first)}" in msg


@pytest.mark.parametrize("label", [3, -1, 7])
def test_split_label_outside_0_1_2_rejected(tmp_path, label):
    rows = with_row(6, (2, 3, label))
    root = make_folder(tmp_path, rows)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "ds.inter" in msg
    assert exc.value.line == line_of_row(6)
    assert "'x_label'" in msg
    assert "[0, 2]" in msg


def test_non_integer_split_label_rejected(tmp_path):
    rows = with_row(0, (2, 3, "train"))
    root = make_folder(tmp_path, rows)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    assert exc.value.line == 2
    assert "'x_label'" in str(exc.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_feature_names_file_and_row(tmp_path, bad):
    f = feats()
    f[3, 1] = bad
    root = make_folder(tmp_path, features={"image_feat.npy": f})
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "image_feat.npy" in msg
    assert "row 3" in msg
    assert "column 1" in msg
    assert "finite" in msg


def test_non_finite_feature_reports_first_row_and_count(tmp_path):
    f = feats()
    f[4, 0] = np.nan
    f[1, 2] = np.inf
    root = make_folder(tmp_path, features={"image_feat.npy": f})
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "row 1" in msg
    assert "2 row(s)" in msg


def test_feature_rows_differ_from_declared_n_items(tmp_path):
    root = make_folder(tmp_path, features={"image_feat.npy": feats(N_ITEMS - 1)},
                       spec={"name": "ds", "n_items": N_ITEMS, "modalities": {"visual": "image_feat.npy"}})
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "image_feat.npy" in msg
    assert f"{N_ITEMS - 1} feature rows" in msg
    assert f"{N_ITEMS} items" in msg


def test_modalities_with_different_row_counts_rejected(tmp_path):
    root = make_folder(
        tmp_path,
        features={"image_feat.npy": feats(N_ITEMS), "text_feat.npy": feats(N_ITEMS + 2, dim=4)},
        spec={"name": "ds", "modalities": {"visual": "image_feat.npy", "textual": "text_feat.npy"}},
    )
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "text_feat.npy" in msg
    assert f"{N_ITEMS + 2} feature rows" in msg
    assert f"{N_ITEMS} items" in msg


def test_header_only_inter_rejected(tmp_path):
    root = make_folder(tmp_path, rows=[])
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    assert "ds.inter" in str(exc.value)
    assert "no interactions" in str(exc.value)


@pytest.mark.parametrize("missing_label,split", [(1, "valid"), (2, "test"), (0, "train")])
def test_missing_split_rejected(tmp_path, missing_label, split):
    replacement = 1 if missing_label == 0 else 0
    rows = [(u, i, replacement if s == missing_label else s) for u, i, s in GOOD_ROWS]
    root = make_folder(tmp_path, rows)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "ds.inter" in msg
    assert f"no {split} interactions" in msg
    assert f"x_label = {missing_label}" in msg


def test_object_array_npy_is_refused_not_unpickled(tmp_path):
    obj = np.empty(N_ITEMS, dtype=object)
    for i in range(N_ITEMS):
        obj[i] = [float(i)] * 3
    root = make_folder(tmp_path)
    np.save(root / "image_feat.npy", obj, allow_pickle=True)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "image_feat.npy" in msg
    assert "pickle" in msg


def test_object_array_refused_without_running_pickle(tmp_path, monkeypatch):
    import pickle

    root = make_folder(tmp_path)
    obj = np.array([{"a": 1}] * N_ITEMS, dtype=object)
    np.save(root / "image_feat.npy", obj, allow_pickle=True)
    calls = []
    real_load = pickle.load
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(1) or real_load(*a, **k))
    with pytest.raises(DataError):
        load_mmrec(root)
    assert calls == []


def test_unknown_field_in_dataset_yaml_rejected(tmp_path):
    root = make_folder(tmp_path, spec={"name": "ds", "modalites": {"visual": "image_feat.npy"}})
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "dataset.yaml" in msg
    assert "modalites" in msg
    assert "unknown field" in msg


def test_unknown_column_role_in_dataset_yaml_rejected(tmp_path):
    root = make_folder(tmp_path, spec={"name": "ds", "columns": {"rating": "r"}})
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    assert "dataset.yaml" in str(exc.value)
    assert "'rating'" in str(exc.value)


def test_missing_feature_file_named(tmp_path):
    root = make_folder(tmp_path, spec={"name": "ds", "modalities": {"visual": "nowhere_feat.npy"}})
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert "nowhere_feat.npy" in msg
    assert "'visual'" in msg
    assert "not found" in msg


def test_missing_inter_file_named(tmp_path):
    root = make_folder(tmp_path, spec={"name": "ds", "inter": "other.inter"})
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    assert "other.inter" in str(exc.value)


def test_not_a_folder_rejected(tmp_path):
    with pytest.raises(DataError) as exc:
        load_mmrec(tmp_path / "absent")
    assert "absent" in str(exc.value)


def test_unknown_requested_modality_rejected(tmp_path):
    root = make_folder(tmp_path, features={"image_feat.npy": feats()})
    with pytest.raises(DataError) as exc:
        load_mmrec(root, modalities=["audio"])
    assert "audio" in str(exc.value)


def test_float16_features_become_float32_with_equal_values(tmp_path):
    f16 = feats(dtype=np.float16)
    root = make_folder(tmp_path, features={"image_feat.npy": f16})
    data = load_quiet(root)
    out = data.features["image"]
    assert out.dtype == np.float32
    assert out.shape == f16.shape
    np.testing.assert_array_equal(out, f16.astype(np.float32))


def test_auto_discovery_without_dataset_yaml(tmp_path):
    f = feats()
    root = make_folder(tmp_path, name="mydata", features={"image_feat.npy": f})
    assert not (root / "dataset.yaml").exists()
    data = load_quiet(root)
    assert data.name == "mydata"
    assert data.modalities == ["image"]
    assert data.n_items == N_ITEMS
    assert data.n_users == 3
    np.testing.assert_array_equal(data.features["image"], f)
    expected = {s: sorted((u, i) for u, i, lab in GOOD_ROWS if lab == code)
                for code, s in enumerate(("train", "valid", "test"))}
    for split, pairs in expected.items():
        assert sorted(map(tuple, data.pairs(split).tolist())) == pairs


def test_auto_discovery_prefers_folder_named_inter(tmp_path):
    root = make_folder(tmp_path, name="mydata")
    write_inter(root / "other.inter", [(0, 0, 0), (0, 1, 1), (0, 2, 2)])
    data = load_quiet(root)
    assert len(data.train) + len(data.valid) + len(data.test) == len(GOOD_ROWS)


def test_auto_discovery_ambiguous_inter_files_rejected(tmp_path):
    root = tmp_path / "mydata"
    root.mkdir()
    write_inter(root / "a.inter", GOOD_ROWS)
    write_inter(root / "b.inter", GOOD_ROWS)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    assert "a.inter" in str(exc.value) and "b.inter" in str(exc.value)


def test_modalities_argument_restricts_loaded_features(tmp_path):
    root = make_folder(tmp_path, features={"image_feat.npy": feats(), "text_feat.npy": feats(dim=7, seed=1)})
    assert sorted(load_quiet(root).modalities) == ["image", "text"]
    only_text = load_quiet(root, modalities=["text"])
    assert only_text.modalities == ["text"]
    assert only_text.features["text"].shape == (N_ITEMS, 7)


def test_modalities_argument_skips_unrequested_bad_file(tmp_path):
    bad = feats()
    bad[0, 0] = np.nan
    root = make_folder(tmp_path, features={"image_feat.npy": feats(), "text_feat.npy": bad})
    data = load_quiet(root, modalities=["image"])
    assert data.modalities == ["image"]


def test_dataset_yaml_custom_columns_and_modality_names(tmp_path):
    root = make_folder(
        tmp_path, header=("u", "i", "split"), features={"image_feat.npy": feats()},
        spec={"name": "ds", "columns": {"user": "u", "item": "i", "split": "split"},
              "modalities": {"visual": "image_feat.npy"}},
    )
    data = load_quiet(root)
    assert data.modalities == ["visual"]
    assert len(data.train) == sum(1 for r in GOOD_ROWS if r[2] == 0)


def test_users_without_train_warn_with_count_and_still_load(tmp_path):
    rows = list(GOOD_ROWS) + [(3, 0, 1), (4, 1, 2), (4, 2, 1)]
    root = make_folder(tmp_path, rows)
    with pytest.warns(DataWarning) as record:
        data = load_mmrec(root)
    texts = [str(w.message) for w in record if issubclass(w.category, DataWarning)]
    matching = [t for t in texts if "no training interaction" in t]
    assert len(matching) == 1
    assert re.search(r"\b2 user\(s\) have no training interaction", matching[0])
    assert "ds.inter" in matching[0]
    assert data.n_users == 5
    assert not data.users_with_train()[3] and not data.users_with_train()[4]
    n_eval_good = sum(1 for r in GOOD_ROWS if r[2] != 0)
    assert len(data.valid) + len(data.test) == n_eval_good + 3


def test_clean_data_loads_without_warnings(tmp_path):
    root = make_folder(tmp_path, features={"image_feat.npy": feats()})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        load_mmrec(root)


def test_write_then_load_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    n_users, n_items = 30, 25
    pairs = np.argwhere(rng.random((n_users, n_items)) < 0.3)
    labels = rng.choice(3, size=len(pairs), p=[0.6, 0.2, 0.2])
    for code in range(3):
        assert (labels == code).any()
    pairs_by = {s: pairs[labels == code] for code, s in enumerate(("train", "valid", "test"))}
    features = {"visual": feats(n_items, 6, seed=1), "textual": feats(n_items, 4, seed=2).astype(np.float64)}
    data = InteractionData("roundtrip", n_users + 2, n_items, pairs_by["train"], pairs_by["valid"],
                           pairs_by["test"], features)
    out = write_mmrec(data, tmp_path / "out")
    assert (out / "dataset.yaml").exists()
    loaded = load_quiet(out)
    assert loaded.name == "roundtrip"
    assert loaded.n_users == n_users + 2
    assert loaded.n_items == n_items
    for split in ("train", "valid", "test"):
        assert sorted(map(tuple, loaded.pairs(split).tolist())) == sorted(map(tuple, data.pairs(split).tolist()))
    assert sorted(loaded.modalities) == ["textual", "visual"]
    for m, written in features.items():
        assert loaded.features[m].dtype == np.float32
        np.testing.assert_array_equal(loaded.features[m], written.astype(np.float32))


def test_write_mmrec_extra_yaml_is_kept(tmp_path):
    data = InteractionData("x", 2, 3, [[0, 0], [1, 1]], [[0, 1]], [[1, 2]])
    out = write_mmrec(data, tmp_path / "x", extra_yaml={"description": "tiny"})
    spec = yaml.safe_load((out / "dataset.yaml").read_text())
    assert spec["description"] == "tiny"
    loaded = load_quiet(out)
    assert loaded.n_items == 3 and loaded.features == {}


@pytest.mark.parametrize("bad_user", ["inf", "1e30"])
def test_non_finite_or_huge_user_id_reported_as_given(tmp_path, bad_user):
    rows = with_row(3, (bad_user, 0, 1))
    root = make_folder(tmp_path, rows)
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    msg = str(exc.value)
    assert exc.value.line == line_of_row(3)
    assert repr(bad_user) in msg
    assert "-9223372036854775808" not in msg


def test_line_numbers_count_blank_lines(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "ds.inter").write_text("userID\titemID\tx_label\n0\t0\t0\n\n0\t1\t1\n0\tx\t2\n")
    with pytest.raises(DataError) as exc:
        load_mmrec(root)
    assert exc.value.line == 5
    assert "line 5" in str(exc.value)



def test_the_fast_reader_and_the_careful_reader_agree(tmp_path):
    from gtcrec.data.mmrec import _read_inter_checked, _read_valid_inter, read_spec

    spec = read_spec(make_folder(tmp_path))
    fast = _read_valid_inter(spec, None)
    assert fast is not None
    for a, b in zip(fast, _read_inter_checked(spec, None, False)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("row", [(0, 1, 0), (0, "1.5", 0), (0, "1e0", 0), (0, -1, 0), (0, 1, 3), (0, 1),
                                 (0, 1, 0, 3), (0, 1000000000000000000, 0)])
def test_files_the_fast_reader_declines_go_to_the_careful_one(tmp_path, row):
    # a duplicated pair, non-integers, a negative id, a bad split label, a short row, a long row (two lines run
    # together), a 19-digit id: each named with its line
    with pytest.raises(DataError) as exc:
        load_quiet(make_folder(tmp_path, with_row(2, row)))
    assert exc.value.line == 4 or ":4" in str(exc.value) or "line 4" in str(exc.value), str(exc.value)


def test_feature_files_are_memory_mapped_and_models_get_their_own_copy(tmp_path):
    from gtcrec.models import ModelInputs

    data = load_quiet(make_folder(tmp_path, features={"image_feat.npy": feats()}))
    mapped = data.features["image"]
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    copy = ModelInputs.from_data(data).features["image"]
    assert not isinstance(copy, np.memmap) and copy.flags.writeable
    np.testing.assert_array_equal(copy, mapped)


@pytest.mark.parametrize("rows", [[(0, 0, 0, "", 0)], [(0, 0, 0, 5), (1, 1, 1, 5)]])
def test_rows_longer_than_the_header_are_named_not_taken_as_an_index(tmp_path, rows):
    # pandas would otherwise read the extra leading fields as an index and shift every column (found by the fuzz test)
    with pytest.raises(DataError) as exc:
        load_quiet(make_folder(tmp_path, rows))
    assert exc.value.line == 2 and "expected 3" in str(exc.value)
